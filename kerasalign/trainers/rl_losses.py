"""PPO and GRPO objectives: small pure functions of per-token log-probs.

Every tensor is per token, shaped `(batch, length)`, aligned with the
sequence so that position `t` holds the log-probability of token `t + 1`
(see `kerasalign.trainers.logprobs.token_logprobs`), and `mask` is 1 on the
response tokens that count (0 on prompt and padding positions). Each loss
returns `(loss, metrics)`: a scalar and a dict of scalars named as
practitioners know them (`loss/policy_avg`, `policy/clipfrac_avg`, ...).

Notation: `logp` are the log-probs of the policy being trained, `old_logp`
those of the policy that sampled the responses (the same weights before
this rollout's updates), `ref_logp` those of the reference (the policy
with its LoRA update switched off). The probability ratio is
`r = exp(logp - old_logp)`.

Reductions: PPO averages over every response token of the minibatch (as in
TRL); GRPO averages over each response's tokens, then over responses (as in
the GRPO paper, Shao et al. 2024, eq. 3).

Examples:

>>> import numpy as np
>>> logp = np.log(np.array([[0.5, 0.5]]))
>>> loss, metrics = ppo_policy_loss(logp, logp, np.array([[1.0, -1.0]]),
...                                 np.array([[1.0, 1.0]]))
>>> float(loss), float(metrics["policy/clipfrac_avg"])
(0.0, 0.0)
"""

from keras import ops

KL_ESTIMATORS = ("k1", "k2", "k3")


def _float(*tensors):
    return [ops.cast(ops.convert_to_tensor(tensor), "float32") for tensor in tensors]


def _masked_log_ratio(logprobs, other_logprobs, mask):
    """`logprobs - other_logprobs`, 0 where `mask` is 0.

    Prompt and padding positions can hold log-probs far apart (a pad token
    100 nats less likely under one model than the other); `exp` of that
    overflows to inf, and `inf * 0` in a masked mean is NaN, in the loss and
    its gradient. Zeroing the difference before any `exp` keeps masked
    positions out entirely (their gradient is exactly 0).
    """
    log_ratio = logprobs - other_logprobs
    if mask is None:
        return log_ratio
    (mask,) = _float(mask)
    return ops.where(mask > 0, log_ratio, ops.zeros_like(log_ratio))


def masked_mean(values, mask, axis=None):
    """Mean of `values` where `mask` is 1 (0 when the mask is empty).

    Args:
        values: tensor.
        mask: tensor of the same shape, 0 or 1.
        axis: int or `None`. Defaults to `None` (all entries).

    Examples:

    >>> import numpy as np
    >>> float(masked_mean(np.array([1.0, 2.0, 9.0]), np.array([1.0, 1.0, 0.0])))
    1.5
    """
    values, mask = _float(values, mask)
    return ops.sum(values * mask, axis=axis) / ops.maximum(ops.sum(mask, axis=axis), 1.0)


def kl_estimate(logprobs, reference_logprobs, estimator="k1", mask=None):
    """Per-token estimate of `KL(policy || reference)` from sampled tokens.

    With `d = logp - ref_logp` at a token sampled from the policy (Schulman,
    "Approximating KL divergence", 2020):
    - `k1 = d`: unbiased, can be negative for a single token. PPO's reward
      penalty (Ziegler et al., 2019) and the reported `objective/kl`.
    - `k2 = d^2 / 2`: biased, low variance, always >= 0.
    - `k3 = exp(-d) - 1 + d`: unbiased and always >= 0; the KL term of
      GRPO's loss.

    Args:
        logprobs: tensor `(batch, length)`. Policy log-probs.
        reference_logprobs: tensor `(batch, length)`. Reference log-probs.
        estimator: str. `"k1"`, `"k2"` or `"k3"`. Defaults to `"k1"`.
        mask: tensor `(batch, length)` or `None`. Where 0, the estimate is 0
            whatever the log-probs (no overflow). Defaults to `None`.

    Returns:
        A float32 tensor `(batch, length)`.

    Examples:

    >>> import numpy as np
    >>> k3 = kl_estimate(np.array([np.log(0.5)]), np.array([np.log(0.25)]), "k3")
    >>> round(float(k3[0]), 4)  # exp(-log 2) - 1 + log 2
    0.1931
    """
    if estimator not in KL_ESTIMATORS:
        raise ValueError(
            f"estimator must be one of {list(KL_ESTIMATORS)}. Received: {estimator!r}"
        )
    logprobs, reference_logprobs = _float(logprobs, reference_logprobs)
    log_ratio = _masked_log_ratio(logprobs, reference_logprobs, mask)
    if estimator == "k1":
        return log_ratio
    if estimator == "k2":
        return 0.5 * ops.square(log_ratio)
    return ops.exp(-log_ratio) - 1.0 + log_ratio


def clipped_surrogate(logprobs, old_logprobs, advantages, clip_range, mask=None):
    """PPO's per-token clipped surrogate loss (Schulman et al., 2017, eq. 7).

    `loss_t = max(-A_t r_t, -A_t clip(r_t, 1 - eps, 1 + eps))`, the negative
    of the pessimistic (clipped) objective.

    Args:
        logprobs: tensor `(batch, length)`.
        old_logprobs: tensor `(batch, length)`.
        advantages: tensor `(batch, length)`, or `(batch, 1)` for one
            advantage per response.
        clip_range: float. `eps`.
        mask: tensor `(batch, length)` or `None`. Where 0, the ratio is 1
            whatever the log-probs (no overflow). Defaults to `None`.

    Returns:
        `(per_token_loss, is_clipped, ratio, log_ratio)`, each
        `(batch, length)`; `is_clipped` is 1 where the clipped term was the
        larger (its gradient is zero there).
    """
    logprobs, old_logprobs, advantages = _float(logprobs, old_logprobs, advantages)
    log_ratio = _masked_log_ratio(logprobs, old_logprobs, mask)
    ratio = ops.exp(log_ratio)
    unclipped = -advantages * ratio
    clipped = -advantages * ops.clip(ratio, 1.0 - clip_range, 1.0 + clip_range)
    per_token_loss = ops.maximum(unclipped, clipped)
    is_clipped = ops.cast(ops.greater(clipped, unclipped), "float32")
    return per_token_loss, is_clipped, ratio, log_ratio


def ppo_policy_loss(logprobs, old_logprobs, advantages, mask, *, clip_range=0.2):
    """PPO's clipped policy loss, averaged over the response tokens.

    Args:
        logprobs: tensor `(batch, length)`. Log-probs under the policy being
            trained.
        old_logprobs: tensor `(batch, length)`. Log-probs under the policy
            that sampled the responses.
        advantages: tensor `(batch, length)`. Per-token advantages (GAE).
        mask: tensor `(batch, length)`. 1 on response tokens.
        clip_range: float. `eps` of the ratio clip. Defaults to 0.2.

    Returns:
        `(loss, metrics)` with `loss/policy_avg`, `policy/clipfrac_avg`
        (fraction of tokens whose ratio was clipped), `policy/approxkl_avg`
        (`mean((logp - old_logp)^2) / 2`) and `policy/ratio_avg`.
    """
    (mask,) = _float(mask)
    per_token_loss, is_clipped, ratio, log_ratio = clipped_surrogate(
        logprobs, old_logprobs, advantages, clip_range, mask=mask
    )
    loss = masked_mean(per_token_loss, mask)
    metrics = {
        "loss/policy_avg": loss,
        "policy/clipfrac_avg": masked_mean(is_clipped, mask),
        "policy/approxkl_avg": 0.5 * masked_mean(ops.square(log_ratio), mask),
        "policy/ratio_avg": masked_mean(ratio, mask),
    }
    return loss, metrics


def ppo_value_loss(values, old_values, returns, mask, *, clip_range=0.2):
    """PPO's clipped value loss, averaged over the response tokens.

    `loss = 0.5 mean(max((V - R)^2, (V_old + clip(V - V_old, -c, c) - R)^2))`:
    the value may move at most `c` from the value at sampling time before
    the error stops improving (as in OpenAI's baselines and TRL).

    Args:
        values: tensor `(batch, length)`. Values under the model being
            trained.
        old_values: tensor `(batch, length)`. Values at sampling time.
        returns: tensor `(batch, length)`. Targets (advantages + old values).
        mask: tensor `(batch, length)`. 1 on response tokens.
        clip_range: float. `c`. Defaults to 0.2.

    Returns:
        `(loss, metrics)` with `loss/value_avg` and `val/clipfrac_avg`.
    """
    values, old_values, returns, mask = _float(values, old_values, returns, mask)
    clipped_values = old_values + ops.clip(values - old_values, -clip_range, clip_range)
    unclipped_error = ops.square(values - returns)
    clipped_error = ops.square(clipped_values - returns)
    loss = 0.5 * masked_mean(ops.maximum(unclipped_error, clipped_error), mask)
    is_clipped = ops.cast(ops.greater(clipped_error, unclipped_error), "float32")
    metrics = {
        "loss/value_avg": loss,
        "val/clipfrac_avg": masked_mean(is_clipped, mask),
    }
    return loss, metrics


def grpo_loss(
    logprobs,
    old_logprobs,
    reference_logprobs,
    advantages,
    mask,
    *,
    clip_range=0.2,
    beta=0.04,
):
    """GRPO's loss (Shao et al., 2024, eq. 3): clipped surrogate plus k3 KL.

    Each response has one advantage (its group-normalised reward), shared
    by its tokens. Per token, `l_t = clipped_surrogate_t + beta k3_t`; the
    loss averages `l_t` over each response's tokens, then over responses.

    Args:
        logprobs: tensor `(batch, length)`. Policy log-probs.
        old_logprobs: tensor `(batch, length)`. Log-probs at sampling time.
        reference_logprobs: tensor `(batch, length)`. Reference log-probs
            (ignored when `beta` is 0).
        advantages: tensor `(batch,)`. One advantage per response.
        mask: tensor `(batch, length)`. 1 on response tokens.
        clip_range: float. `eps` of the ratio clip. Defaults to 0.2.
        beta: float. Weight of the KL term. Defaults to 0.04.

    Returns:
        `(loss, metrics)` with `loss/policy_avg` (the surrogate part),
        `loss/kl_avg` (mean per-token k3), `policy/clipfrac_avg` and
        `policy/approxkl_avg`.
    """
    (advantages, mask) = _float(advantages, mask)
    per_token_loss, is_clipped, _, log_ratio = clipped_surrogate(
        logprobs, old_logprobs, advantages[:, None], clip_range, mask=mask
    )
    token_kl = kl_estimate(logprobs, reference_logprobs, "k3", mask=mask)
    total_per_token = per_token_loss + beta * token_kl if beta else per_token_loss

    def per_response_mean(values):
        return ops.mean(masked_mean(values, mask, axis=1))

    loss = per_response_mean(total_per_token)
    metrics = {
        "loss/policy_avg": per_response_mean(per_token_loss),
        "loss/kl_avg": masked_mean(token_kl, mask),
        "policy/clipfrac_avg": masked_mean(is_clipped, mask),
        "policy/approxkl_avg": 0.5 * masked_mean(ops.square(log_ratio), mask),
    }
    return loss, metrics
