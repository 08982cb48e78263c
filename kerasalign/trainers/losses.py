"""Preference losses: small pure functions of log-probabilities or rewards.

Every function takes per-pair tensors of shape `(batch,)` and returns
`(loss, metrics)`: the scalar loss averaged over the batch, and a dict of
scalar metrics named as practitioners know them (`rewards/chosen`,
`rewards/rejected`, `rewards/margins`, `rewards/accuracies`).

Notation, per pair: `pi_c`, `pi_r` are the policy's log-probabilities of the
chosen and the rejected response; `ref_c`, `ref_r` the reference model's;
the implicit rewards are `beta * (pi_c - ref_c)` and `beta * (pi_r - ref_r)`
and `h = (pi_c - ref_c) - (pi_r - ref_r)` is their difference over `beta`.

Sum or mean over tokens: `sigmoid`, `robust` and `hinge` take log-probs
summed over the response tokens, as in the DPO paper and TRL. `ipo`, `simpo`
and `orpo` take log-probs averaged over the response tokens (IPO as in TRL;
SimPO and ORPO by definition). `LENGTH_NORMALISED_LOSSES` lists them;
`DPOTrainer` passes the right one.

`LOSSES` maps each DPO-family loss name to its function;
`REFERENCE_FREE_LOSSES` are those that need no reference model.

Examples:

>>> import numpy as np
>>> loss, metrics = sigmoid_loss(
...     np.array([-4.0]), np.array([-6.0]), np.array([-5.0]), np.array([-5.0]),
...     beta=0.5)
>>> round(float(loss), 4), float(metrics["rewards/margins"])
(0.3133, 1.0)
"""

import keras
from keras import ops


def _mean(value):
    return ops.mean(ops.cast(value, "float32"))


def _reward_metrics(chosen_rewards, rejected_rewards):
    return {
        "rewards/chosen": _mean(chosen_rewards),
        "rewards/rejected": _mean(rejected_rewards),
        "rewards/margins": _mean(chosen_rewards - rejected_rewards),
        "rewards/accuracies": _mean(ops.greater(chosen_rewards, rejected_rewards)),
    }


def _implicit_rewards(
    chosen_logps, rejected_logps, reference_chosen_logps, reference_rejected_logps, beta
):
    chosen_rewards = beta * (chosen_logps - reference_chosen_logps)
    rejected_rewards = beta * (rejected_logps - reference_rejected_logps)
    return chosen_rewards, rejected_rewards


def _as_float(*tensors):
    return [ops.cast(tensor, "float32") for tensor in tensors]


def sigmoid_loss(
    chosen_logps,
    rejected_logps,
    reference_chosen_logps,
    reference_rejected_logps,
    *,
    beta=0.1,
    label_smoothing=0.0,
):
    """DPO's loss (Rafailov et al., 2023, eq. 7), optionally label-smoothed.

    `L = -(1 - eps) log sigmoid(beta h) - eps log sigmoid(-beta h)` with
    `h = (pi_c - ref_c) - (pi_r - ref_r)`. With `eps = 0` this is DPO; with
    `eps > 0` it is conservative DPO (cDPO, Mitchell 2023), which assumes
    each label is flipped with probability `eps`.

    Args:
        chosen_logps: tensor `(batch,)`. Policy log-probs of the chosen
            responses, summed over their tokens.
        rejected_logps: tensor `(batch,)`. Same for the rejected responses.
        reference_chosen_logps: tensor `(batch,)`. Reference log-probs of
            the chosen responses.
        reference_rejected_logps: tensor `(batch,)`. Same, rejected.
        beta: float. Strength of the implicit KL constraint. Defaults to 0.1.
        label_smoothing: float in `[0, 0.5)`. Defaults to 0.

    Returns:
        `(loss, metrics)`: a scalar and a dict of scalars.
    """
    chosen_rewards, rejected_rewards = _implicit_rewards(
        *_as_float(
            chosen_logps, rejected_logps, reference_chosen_logps, reference_rejected_logps
        ),
        beta,
    )
    logits = chosen_rewards - rejected_rewards
    losses = -(1.0 - label_smoothing) * ops.log_sigmoid(logits) - (
        label_smoothing * ops.log_sigmoid(-logits)
    )
    return ops.mean(losses), _reward_metrics(chosen_rewards, rejected_rewards)


def robust_loss(
    chosen_logps,
    rejected_logps,
    reference_chosen_logps,
    reference_rejected_logps,
    *,
    beta=0.1,
    label_smoothing=0.1,
):
    """Robust DPO (rDPO, Chowdhury et al., 2024, eq. 8) for noisy labels.

    `L = [-(1 - eps) log sigmoid(beta h) + eps log sigmoid(-beta h)] / (1 - 2 eps)`,
    an unbiased estimate of the DPO loss on clean labels when each label is
    flipped with probability `eps`. Log-probs are summed over tokens.

    Args:
        chosen_logps, rejected_logps, reference_chosen_logps,
            reference_rejected_logps: tensors `(batch,)`, as in
            `sigmoid_loss`.
        beta: float. Defaults to 0.1.
        label_smoothing: float in `[0, 0.5)`. The label-flip rate `eps`.
            Defaults to 0.1.

    Returns:
        `(loss, metrics)`.
    """
    chosen_rewards, rejected_rewards = _implicit_rewards(
        *_as_float(
            chosen_logps, rejected_logps, reference_chosen_logps, reference_rejected_logps
        ),
        beta,
    )
    logits = chosen_rewards - rejected_rewards
    losses = (
        -(1.0 - label_smoothing) * ops.log_sigmoid(logits)
        + label_smoothing * ops.log_sigmoid(-logits)
    ) / (1.0 - 2.0 * label_smoothing)
    return ops.mean(losses), _reward_metrics(chosen_rewards, rejected_rewards)


def hinge_loss(
    chosen_logps,
    rejected_logps,
    reference_chosen_logps,
    reference_rejected_logps,
    *,
    beta=0.1,
):
    """The hinge loss of SLiC-HF (Zhao et al., 2023), on DPO's log-ratios.

    `L = max(0, 1 - beta h)`. Log-probs are summed over tokens.

    Args:
        chosen_logps, rejected_logps, reference_chosen_logps,
            reference_rejected_logps: tensors `(batch,)`.
        beta: float. `1 / beta` is the margin on `h`. Defaults to 0.1.

    Returns:
        `(loss, metrics)`.
    """
    chosen_rewards, rejected_rewards = _implicit_rewards(
        *_as_float(
            chosen_logps, rejected_logps, reference_chosen_logps, reference_rejected_logps
        ),
        beta,
    )
    losses = ops.relu(1.0 - (chosen_rewards - rejected_rewards))
    return ops.mean(losses), _reward_metrics(chosen_rewards, rejected_rewards)


def ipo_loss(
    chosen_logps,
    rejected_logps,
    reference_chosen_logps,
    reference_rejected_logps,
    *,
    beta=0.1,
):
    """IPO (Azar et al., 2023, eq. 17): regress `h` onto `1 / (2 beta)`.

    `L = (h - 1 / (2 beta))^2`. Unlike DPO's loss it stops pushing once the
    margin is reached, so it does not over-fit deterministic preferences.
    Log-probs are averaged over tokens (as in TRL).

    Args:
        chosen_logps, rejected_logps, reference_chosen_logps,
            reference_rejected_logps: tensors `(batch,)` of mean log-probs.
        beta: float. Defaults to 0.1.

    Returns:
        `(loss, metrics)`.
    """
    chosen_rewards, rejected_rewards = _implicit_rewards(
        *_as_float(
            chosen_logps, rejected_logps, reference_chosen_logps, reference_rejected_logps
        ),
        beta,
    )
    log_ratio_difference = (chosen_rewards - rejected_rewards) / beta
    losses = ops.square(log_ratio_difference - 1.0 / (2.0 * beta))
    return ops.mean(losses), _reward_metrics(chosen_rewards, rejected_rewards)


def simpo_loss(
    chosen_logps,
    rejected_logps,
    reference_chosen_logps=None,
    reference_rejected_logps=None,
    *,
    beta=2.0,
    gamma=0.5,
):
    """SimPO (Meng et al., 2024, eq. 6): reference-free, length-normalised.

    `L = -log sigmoid(beta m_c - beta m_r - gamma)` where `m_c`, `m_r` are
    the policy's log-probs averaged over response tokens and `gamma` is a
    target reward margin. The reward is `beta m`.

    Args:
        chosen_logps: tensor `(batch,)`. Mean log-probs of the chosen responses.
        rejected_logps: tensor `(batch,)`. Mean log-probs of the rejected ones.
        reference_chosen_logps, reference_rejected_logps: ignored (SimPO
            has no reference); accepted so every loss has one signature.
        beta: float. Reward scale. Defaults to 2.0.
        gamma: float. Target margin. Defaults to 0.5.

    Returns:
        `(loss, metrics)`.
    """
    chosen_logps, rejected_logps = _as_float(chosen_logps, rejected_logps)
    chosen_rewards = beta * chosen_logps
    rejected_rewards = beta * rejected_logps
    losses = -ops.log_sigmoid(chosen_rewards - rejected_rewards - gamma)
    return ops.mean(losses), _reward_metrics(chosen_rewards, rejected_rewards)


def _log_odds(mean_logps):
    """`log(p / (1 - p))` of `p = exp(mean_logps)`, stable near `p = 1`."""
    mean_logps = ops.minimum(mean_logps, -1e-6)
    return mean_logps - ops.log(-ops.expm1(mean_logps))


def orpo_loss(
    chosen_logps,
    rejected_logps,
    reference_chosen_logps=None,
    reference_rejected_logps=None,
    *,
    beta=0.1,
):
    """ORPO (Hong et al., 2024, eq. 6-7): SFT plus an odds-ratio penalty.

    `L = -m_c - beta log sigmoid(log odds(m_c) - log odds(m_r))` where
    `m = mean log-prob` over response tokens, `odds(m) = e^m / (1 - e^m)`,
    and `beta` is the paper's `lambda`. The first term is the SFT loss on
    the chosen responses (each response's mean token NLL, averaged over the
    batch), so ORPO needs no SFT stage and no reference model. The reward
    is `beta m`, as in TRL.

    Args:
        chosen_logps: tensor `(batch,)`. Mean log-probs of the chosen responses.
        rejected_logps: tensor `(batch,)`. Mean log-probs of the rejected ones.
        reference_chosen_logps, reference_rejected_logps: ignored.
        beta: float. Weight `lambda` of the odds-ratio term. Defaults to 0.1.

    Returns:
        `(loss, metrics)`, the metrics with `nll_loss` and `log_odds_ratio`.
    """
    chosen_logps, rejected_logps = _as_float(chosen_logps, rejected_logps)
    log_odds_ratio = _log_odds(chosen_logps) - _log_odds(rejected_logps)
    nll_loss = -ops.mean(chosen_logps)
    odds_ratio_loss = -beta * ops.mean(ops.log_sigmoid(log_odds_ratio))
    metrics = _reward_metrics(beta * chosen_logps, beta * rejected_logps)
    metrics["nll_loss"] = nll_loss
    metrics["log_odds_ratio"] = ops.mean(log_odds_ratio)
    return nll_loss + odds_ratio_loss, metrics


def bradley_terry_loss(
    chosen_rewards, rejected_rewards, margin=None, *, center_rewards_coefficient=0.0
):
    """The reward model's loss: Bradley-Terry with optional margin and centring.

    `L = -log sigmoid(r_c - r_r - margin) + c * mean((r_c + r_r)^2)`: the
    negative log-likelihood that the chosen response wins under the
    Bradley-Terry model (Ouyang et al., 2022, eq. 1), with the per-pair
    margin of Llama 2 (Touvron et al., 2023, eq. 2) and the centring term of
    Eisenstein et al. (2023) that keeps rewards near zero.

    Args:
        chosen_rewards: tensor `(batch,)`. Scalar rewards of the chosen
            responses.
        rejected_rewards: tensor `(batch,)`. Rewards of the rejected ones.
        margin: tensor `(batch,)` or `None`. How much better each chosen
            response is. Defaults to `None` (0).
        center_rewards_coefficient: float. `c` above. Defaults to 0.

    Returns:
        `(loss, metrics)` with metrics `accuracy` (fraction of pairs with
        `r_c > r_r`), `margin` (mean `r_c - r_r`) and `mean_reward`.

    Examples:

    >>> import numpy as np
    >>> loss, metrics = bradley_terry_loss(np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    >>> float(metrics["accuracy"]), round(float(loss), 4)
    (0.5, 0.8133)
    """
    chosen_rewards, rejected_rewards = _as_float(chosen_rewards, rejected_rewards)
    difference = chosen_rewards - rejected_rewards
    logits = difference if margin is None else difference - ops.cast(margin, "float32")
    loss = -ops.mean(ops.log_sigmoid(logits))
    if center_rewards_coefficient:
        loss = loss + center_rewards_coefficient * ops.mean(
            ops.square(chosen_rewards + rejected_rewards)
        )
    metrics = {
        "accuracy": _mean(ops.greater(chosen_rewards, rejected_rewards)),
        "margin": _mean(difference),
        "mean_reward": _mean((chosen_rewards + rejected_rewards) / 2.0),
    }
    return loss, metrics


LOSSES = {
    "sigmoid": sigmoid_loss,
    "ipo": ipo_loss,
    "hinge": hinge_loss,
    "robust": robust_loss,
    "simpo": simpo_loss,
    "orpo": orpo_loss,
}
REFERENCE_FREE_LOSSES = ("simpo", "orpo")
LENGTH_NORMALISED_LOSSES = ("ipo", "simpo", "orpo")
DEFAULT_BETAS = {
    "sigmoid": 0.1,
    "ipo": 0.1,
    "hinge": 0.1,
    "robust": 0.1,
    "simpo": 2.0,
    "orpo": 0.1,
}


def metric_names(loss):
    """The metric names a DPO-family loss returns, in a fixed order.

    Examples:

    >>> metric_names("orpo")[:2]
    ['log_odds_ratio', 'nll_loss']
    """
    zeros = keras.ops.zeros((1,))
    _, metrics = LOSSES[loss](zeros - 1.0, zeros - 2.0, zeros - 1.0, zeros - 1.0)
    return sorted(metrics)
