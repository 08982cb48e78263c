"""Golden values of the PPO and GRPO losses and the KL estimators."""

import keras
import numpy as np
import pytest

from kerasalign.backend_ops import value_and_grad
from kerasalign.trainers.rl_losses import (
    grpo_loss,
    kl_estimate,
    masked_mean,
    ppo_policy_loss,
    ppo_value_loss,
)

pytestmark = pytest.mark.backend


def _numpy(metrics):
    return {name: float(keras.ops.convert_to_numpy(value)) for name, value in metrics.items()}


def test_kl_estimators_by_hand():
    logprobs, reference = np.log([[0.5]]), np.log([[0.25]])
    log_ratio = np.log(2.0)
    k1 = keras.ops.convert_to_numpy(kl_estimate(logprobs, reference, "k1"))
    k2 = keras.ops.convert_to_numpy(kl_estimate(logprobs, reference, "k2"))
    k3 = keras.ops.convert_to_numpy(kl_estimate(logprobs, reference, "k3"))
    np.testing.assert_allclose(k1, [[log_ratio]], rtol=1e-6)
    np.testing.assert_allclose(k2, [[log_ratio**2 / 2]], rtol=1e-6)
    np.testing.assert_allclose(k3, [[0.5 - 1 + log_ratio]], rtol=1e-6)


def test_k1_and_k3_are_unbiased_estimates_of_the_kl():
    policy = np.array([0.5, 0.3, 0.2])
    reference = np.array([0.2, 0.3, 0.5])
    exact = float(np.sum(policy * np.log(policy / reference)))
    for estimator in ("k1", "k3"):
        per_token = keras.ops.convert_to_numpy(
            kl_estimate(np.log(policy)[None], np.log(reference)[None], estimator)
        )[0]
        # The expectation over tokens sampled from the policy.
        assert float(np.sum(policy * per_token)) == pytest.approx(exact, rel=1e-5)
    k3 = keras.ops.convert_to_numpy(
        kl_estimate(np.log(policy)[None], np.log(reference)[None], "k3")
    )
    assert (k3 >= 0).all()


def test_kl_estimate_rejects_unknown_estimators():
    with pytest.raises(ValueError, match="estimator must be one of"):
        kl_estimate(np.zeros((1, 1)), np.zeros((1, 1)), "k4")


def test_ppo_policy_loss_by_hand():
    # Ratios 1.2 and 0.6 with eps 0.1; advantages +1 and -1.
    # Token 0: max(-1.2, -1.1) = -1.1 (clipped). Token 1: max(0.6, 0.9) = 0.9 (clipped).
    logprobs = np.log([[0.6, 0.3]])
    old_logprobs = np.log([[0.5, 0.5]])
    advantages = np.array([[1.0, -1.0]])
    loss, metrics = ppo_policy_loss(
        logprobs, old_logprobs, advantages, np.ones((1, 2)), clip_range=0.1
    )
    metrics = _numpy(metrics)
    assert float(keras.ops.convert_to_numpy(loss)) == pytest.approx(-0.1, abs=1e-6)
    assert metrics["loss/policy_avg"] == pytest.approx(-0.1, abs=1e-6)
    assert metrics["policy/clipfrac_avg"] == pytest.approx(1.0)
    assert metrics["policy/ratio_avg"] == pytest.approx(0.9, rel=1e-6)
    expected_approxkl = 0.5 * np.mean([np.log(1.2) ** 2, np.log(0.6) ** 2])
    assert metrics["policy/approxkl_avg"] == pytest.approx(expected_approxkl, rel=1e-5)
    # Masking the second token leaves the first one alone.
    masked, masked_metrics = ppo_policy_loss(
        logprobs, old_logprobs, advantages, np.array([[1.0, 0.0]]), clip_range=0.1
    )
    assert float(keras.ops.convert_to_numpy(masked)) == pytest.approx(-1.1, rel=1e-6)


def test_ppo_policy_loss_is_minus_the_mean_advantage_on_policy():
    logprobs = np.log([[0.5, 0.1, 0.7]])
    advantages = np.array([[2.0, -1.0, 0.5]])
    loss, metrics = ppo_policy_loss(logprobs, logprobs, advantages, np.ones((1, 3)))
    assert float(keras.ops.convert_to_numpy(loss)) == pytest.approx(-0.5, rel=1e-6)
    assert _numpy(metrics)["policy/clipfrac_avg"] == 0.0


def test_ppo_policy_gradient_vanishes_on_clipped_tokens():
    # Token 0 moved inside the clip range (gradient -A r / n); token 1 was
    # clipped (ratio 1.5 > 1.2 with a positive advantage): no gradient.
    old_logprobs = keras.ops.convert_to_tensor(np.log([[0.5, 0.2]]), "float32")
    advantages = np.array([[1.0, 1.0]], "float32")
    mask = np.ones((1, 2), "float32")
    logprobs = keras.ops.convert_to_tensor(np.log([[0.55, 0.3]]), "float32")
    _, gradient = value_and_grad(
        lambda lp: ppo_policy_loss(lp, old_logprobs, advantages, mask)[0], logprobs
    )
    gradient = keras.ops.convert_to_numpy(gradient)
    np.testing.assert_allclose(gradient, [[-1.1 / 2, 0.0]], rtol=1e-5, atol=1e-7)


def test_ppo_value_loss_by_hand():
    # Token 0: clipped value 0.7, errors 1 and 1.69 -> 1.69.
    # Token 1: clipped value 0.3, errors 0 and 0.09 -> 0.09.
    # Token 2: inside the clip range, error 0.16 either way (not clipped).
    loss, metrics = ppo_value_loss(
        np.array([[1.0, 0.0, 0.6]]),
        np.array([[0.5, 0.5, 0.5]]),
        np.array([[2.0, 0.0, 1.0]]),
        np.ones((1, 3)),
        clip_range=0.2,
    )
    expected = 0.5 * (1.69 + 0.09 + 0.16) / 3
    assert float(keras.ops.convert_to_numpy(loss)) == pytest.approx(expected, rel=1e-5)
    metrics = _numpy(metrics)
    assert metrics["loss/value_avg"] == pytest.approx(expected, rel=1e-5)
    assert metrics["val/clipfrac_avg"] == pytest.approx(2 / 3, rel=1e-5)


def _numpy_grpo(logprobs, old_logprobs, reference, advantages, mask, clip_range, beta):
    ratio = np.exp(logprobs - old_logprobs)
    surrogate = np.maximum(
        -advantages[:, None] * ratio,
        -advantages[:, None] * np.clip(ratio, 1 - clip_range, 1 + clip_range),
    )
    k3 = np.exp(reference - logprobs) - (reference - logprobs) - 1
    per_token = surrogate + beta * k3
    per_response = (per_token * mask).sum(1) / mask.sum(1)
    return per_response.mean(), (k3 * mask).sum() / mask.sum()


def test_grpo_loss_by_hand():
    # On-policy (ratio 1): response 0 (2 tokens, A = 1) and response 1
    # (1 token, A = -1) give surrogates -1 and +1 per token; the KL term is
    # 0 where the policy equals the reference.
    logprobs = np.log([[0.5, 0.5], [0.25, 0.9]])
    mask = np.array([[1.0, 1.0], [1.0, 0.0]])
    loss, metrics = grpo_loss(
        logprobs, logprobs, logprobs, np.array([1.0, -1.0]), mask, beta=0.1
    )
    assert float(keras.ops.convert_to_numpy(loss)) == pytest.approx(0.0, abs=1e-6)
    assert _numpy(metrics)["loss/kl_avg"] == pytest.approx(0.0, abs=1e-6)
    # A reference at half the policy's probability on one token: k3 = 0.1931.
    reference = np.log([[0.25, 0.5], [0.25, 0.9]])
    loss, metrics = grpo_loss(
        logprobs, logprobs, reference, np.array([1.0, -1.0]), mask, beta=0.1
    )
    k3 = 0.5 - 1 + np.log(2.0)
    expected = ((-1 + 0.1 * k3 - 1) / 2 + 1) / 2
    assert float(keras.ops.convert_to_numpy(loss)) == pytest.approx(expected, rel=1e-5)
    assert _numpy(metrics)["loss/kl_avg"] == pytest.approx(k3 / 3, rel=1e-5)


def test_grpo_loss_matches_numpy():
    rng = np.random.default_rng(0)
    logprobs = np.log(rng.uniform(0.05, 1.0, size=(4, 5)))
    old_logprobs = logprobs + rng.normal(scale=0.3, size=(4, 5))
    reference = logprobs + rng.normal(scale=0.3, size=(4, 5))
    advantages = rng.normal(size=4)
    mask = (np.arange(5)[None] < np.array([[5], [3], [1], [4]])).astype("float64")
    loss, metrics = grpo_loss(
        logprobs, old_logprobs, reference, advantages, mask, clip_range=0.2, beta=0.04
    )
    expected_loss, expected_kl = _numpy_grpo(
        logprobs, old_logprobs, reference, advantages, mask, 0.2, 0.04
    )
    assert float(keras.ops.convert_to_numpy(loss)) == pytest.approx(expected_loss, rel=1e-5)
    assert _numpy(metrics)["loss/kl_avg"] == pytest.approx(expected_kl, rel=1e-5)


def test_masked_mean_of_an_empty_mask_is_zero():
    assert float(keras.ops.convert_to_numpy(masked_mean(np.ones(3), np.zeros(3)))) == 0.0


def _finite(tensor):
    return bool(np.all(np.isfinite(keras.ops.convert_to_numpy(tensor))))


def test_masked_positions_cannot_overflow_the_losses_or_gradients():
    # A 270M GRPO run diverged: at a masked (prompt or padding) position the
    # policy's log-prob sat ~100 nats below the reference's, k3's exp(-d)
    # overflowed to inf and inf * 0 in the masked mean gave NaN. Masked
    # positions must not matter at all, whatever their values.
    logprobs = np.log([[0.5, 0.4, 0.3]])
    mask = np.array([[1.0, 1.0, 0.0]])
    advantages = np.array([1.0])
    wild = logprobs.copy()
    wild[0, 2] = -200.0
    clean, _ = grpo_loss(logprobs, logprobs, logprobs, advantages, mask, beta=0.1)
    for policy, old, reference in [
        (wild, logprobs, logprobs),  # policy vs reference and vs old
        (logprobs, wild, wild),
        (logprobs, logprobs, wild),
    ]:
        policy = keras.ops.convert_to_tensor(policy, "float32")
        loss, gradient = value_and_grad(
            lambda lp, old=old, reference=reference: grpo_loss(
                lp, old, reference, advantages, mask, beta=0.1
            )[0],
            policy,
        )
        assert _finite(loss) and _finite(gradient)
        assert float(keras.ops.convert_to_numpy(loss)) == pytest.approx(
            float(keras.ops.convert_to_numpy(clean)), abs=1e-6
        )
        assert float(keras.ops.convert_to_numpy(gradient)[0, 2]) == 0.0
        ppo, ppo_gradient = value_and_grad(
            lambda lp, old=old: ppo_policy_loss(lp, old, advantages[:, None] * mask, mask)[0],
            policy,
        )
        assert _finite(ppo) and _finite(ppo_gradient)
    token_kl = kl_estimate(wild, logprobs, "k3", mask=mask)
    assert _finite(token_kl) and float(keras.ops.convert_to_numpy(token_kl)[0, 2]) == 0.0
