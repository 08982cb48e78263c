"""Rewards to advantages: KL-shaped token rewards, GAE, whitening, groups.

These run in the Python rollout loop, between generation and the Keras
optimisation steps, on NumPy arrays of a rollout batch. Per-token arrays are
`(batch, length)` and aligned as in `rl_losses` (position `t` is the action
"emit token `t + 1`"); `mask` is 1 on response tokens.

Examples:

>>> import numpy as np
>>> advantages, returns = generalized_advantages(
...     rewards=np.array([[0.0, 1.0]]), values=np.array([[0.5, 0.5]]),
...     mask=np.array([[1.0, 1.0]]), gamma=1.0, lam=1.0)
>>> advantages.tolist(), returns.tolist()
([[0.5, 0.5]], [[1.0, 1.0]])
"""

import numpy as np


def _as_float(*arrays):
    return [np.asarray(array, dtype="float64") for array in arrays]


def masked_values(values, mask):
    """`values` where `mask` > 0, else 0.

    Not `values * mask`: at prompt and padding positions log-probs (and
    their differences) may be extreme or infinite, and `inf * 0` is NaN.

    >>> masked_values(np.array([[-np.inf, 2.0]]), np.array([[0.0, 1.0]])).tolist()
    [[0.0, 2.0]]
    """
    return np.where(np.asarray(mask) > 0, values, 0.0)


def masked_mean(values, mask, axis=None):
    """Mean of `values` where `mask` is 1 (0 when the mask is empty)."""
    values, mask = _as_float(values, mask)
    return (values * mask).sum(axis=axis) / np.maximum(mask.sum(axis=axis), 1.0)


def masked_whiten(values, mask, *, shift_mean=True, epsilon=1e-8):
    """Normalise masked values to unit variance (and zero mean).

    Uses the mean and the unbiased variance of the entries where `mask` is
    1 (as TRL does); masked-out entries become 0. With fewer than two
    entries the values are only centred (or returned as they are).

    Args:
        values: array `(batch, length)`.
        mask: array `(batch, length)`.
        shift_mean: bool. Subtract the mean. With `False` the mean is kept
            (used for rewards, whose sign matters). Defaults to `True`.
        epsilon: float. Added to the variance. Defaults to 1e-8.

    Returns:
        A float32 array `(batch, length)`.

    Examples:

    >>> masked_whiten(np.array([[1.0, 3.0, 7.0]]), np.array([[1, 1, 0]])).astype(float).round(4).tolist()
    [[-0.7071, 0.7071, 0.0]]
    """
    values, mask = _as_float(values, mask)
    count = mask.sum()
    mean = masked_mean(values, mask)
    if count < 2:
        whitened = values - mean if shift_mean else values
        return (whitened * mask).astype("float32")
    variance = (np.square(values - mean) * mask).sum() / (count - 1)
    whitened = (values - mean) / np.sqrt(variance + epsilon)
    if not shift_mean:
        whitened = whitened + mean
    return (whitened * mask).astype("float32")


def last_token_index(mask):
    """Index of the last 1 in each row of `mask` (rows must have one)."""
    mask = np.asarray(mask, dtype=bool)
    if not mask.any(axis=1).all():
        raise ValueError("every response must have at least one token")
    return mask.shape[1] - 1 - np.argmax(mask[:, ::-1], axis=1)


def kl_penalized_rewards(scores, logprobs, reference_logprobs, mask, kl_coef):
    """Per-token rewards of RLHF's PPO (Ziegler et al., 2019; Ouyang et al., 2022).

    `reward_t = -kl_coef (logp_t - ref_logp_t)` on every response token,
    plus the sequence's score on its last token.

    Args:
        scores: array `(batch,)`. The reward model's (or function's) score
            of each response.
        logprobs: array `(batch, length)`. Log-probs of the sampled tokens
            under the sampling policy.
        reference_logprobs: array `(batch, length)`. Under the reference.
        mask: array `(batch, length)`. 1 on response tokens.
        kl_coef: float. The KL penalty coefficient.

    Returns:
        `(rewards, kl)`: float32 arrays `(batch, length)`, the shaped
        rewards and the per-token KL estimate `logp - ref_logp` (both 0
        outside the mask).

    Examples:

    >>> rewards, kl = kl_penalized_rewards(
    ...     np.array([2.0]), np.array([[-1.0, -1.0]]), np.array([[-2.0, -1.0]]),
    ...     np.array([[1.0, 1.0]]), kl_coef=0.1)
    >>> rewards.astype(float).round(4).tolist(), kl.tolist()
    ([[-0.1, 2.0]], [[1.0, 0.0]])
    """
    scores, logprobs, reference_logprobs, mask = _as_float(
        scores, logprobs, reference_logprobs, mask
    )
    kl = masked_values(logprobs - reference_logprobs, mask)
    rewards = -kl_coef * kl
    rows = np.arange(len(scores))
    rewards[rows, last_token_index(mask)] += scores
    return rewards.astype("float32"), kl.astype("float32")


def generalized_advantages(rewards, values, mask, *, gamma=1.0, lam=0.95):
    """Generalised advantage estimation (Schulman et al., 2016, eq. 16).

    `delta_t = r_t + gamma V_{t+1} - V_t`, `A_t = delta_t + gamma lam A_{t+1}`,
    with `V` and `r` taken as 0 outside the mask (after the last response
    token the episode has ended). Returns are `A_t + V_t`, the value
    targets.

    Args:
        rewards: array `(batch, length)`. Per-token rewards.
        values: array `(batch, length)`. Values at sampling time.
        mask: array `(batch, length)`. 1 on response tokens (contiguous).
        gamma: float. Discount. Defaults to 1.0.
        lam: float. GAE's lambda. Defaults to 0.95.

    Returns:
        `(advantages, returns)`: float32 arrays `(batch, length)`, 0
        outside the mask.
    """
    rewards, values, mask = _as_float(rewards, values, mask)
    rewards = rewards * mask
    values = values * mask
    advantages = np.zeros_like(rewards)
    running = np.zeros(rewards.shape[0])
    length = rewards.shape[1]
    for t in reversed(range(length)):
        next_values = values[:, t + 1] if t + 1 < length else 0.0
        delta = rewards[:, t] + gamma * next_values - values[:, t]
        running = delta + gamma * lam * running
        advantages[:, t] = running
    returns = advantages + values
    return (advantages * mask).astype("float32"), (returns * mask).astype("float32")


def group_advantages(scores, group_size, *, scale=True, epsilon=1e-4):
    """GRPO's advantages: each score relative to its group of samples.

    `A_i = (r_i - mean(group)) / (std(group) + epsilon)` (Shao et al., 2024,
    section 4.1.2), with the unbiased standard deviation as in TRL. The
    samples of one prompt are consecutive: `scores[k * G : (k + 1) * G]`.

    Args:
        scores: array `(prompts * group_size,)`.
        group_size: int. `G`, samples per prompt (>= 2).
        scale: bool. Divide by the group's standard deviation; `False`
            only centres (Dr. GRPO, Liu et al., 2025). Defaults to `True`.
        epsilon: float. Added to the standard deviation. Defaults to 1e-4.

    Returns:
        A float32 array `(prompts * group_size,)`.

    Examples:

    >>> group_advantages(np.array([1.0, 0.0, 2.0, 2.0]), 2).astype(float).round(3).tolist()
    [0.707, -0.707, 0.0, 0.0]
    """
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 2:
        raise ValueError(f"group_size must be an integer >= 2. Received: {group_size!r}")
    (scores,) = _as_float(scores)
    if scores.ndim != 1 or scores.shape[0] % group_size:
        raise ValueError(
            f"scores must be a 1-D array whose length is a multiple of "
            f"group_size={group_size}. Received shape {scores.shape}."
        )
    groups = scores.reshape(-1, group_size)
    centred = groups - groups.mean(axis=1, keepdims=True)
    if scale:
        centred = centred / (groups.std(axis=1, ddof=1, keepdims=True) + epsilon)
    return centred.reshape(-1).astype("float32")
