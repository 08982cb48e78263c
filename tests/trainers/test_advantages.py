"""GAE, whitening, KL-shaped rewards, group normalisation and the KL controller."""

import numpy as np
import pytest

from kerasalign.errors import KerasAlignError
from kerasalign.trainers.advantages import (
    generalized_advantages,
    group_advantages,
    kl_penalized_rewards,
    last_token_index,
    masked_whiten,
)
from kerasalign.trainers.kl_controller import KLController


def test_gae_by_hand():
    # delta_2 = 1 - 0.7 = 0.3;  A_2 = 0.3
    # delta_1 = 0.9 * 0.7 - 0.6 = 0.03;  A_1 = 0.03 + 0.72 * 0.3 = 0.246
    # delta_0 = 0.9 * 0.6 - 0.5 = 0.04;  A_0 = 0.04 + 0.72 * 0.246 = 0.21712
    advantages, returns = generalized_advantages(
        np.array([[0.0, 0.0, 1.0]]),
        np.array([[0.5, 0.6, 0.7]]),
        np.ones((1, 3)),
        gamma=0.9,
        lam=0.8,
    )
    np.testing.assert_allclose(advantages, [[0.21712, 0.246, 0.3]], rtol=1e-6)
    np.testing.assert_allclose(returns, [[0.71712, 0.846, 1.0]], rtol=1e-6)


def test_gae_ignores_prompt_and_padding_positions():
    # Masked positions hold garbage; the episode ends after the last token.
    advantages, returns = generalized_advantages(
        np.array([[9.0, 0.0, 1.0, 5.0]]),
        np.array([[9.0, 0.5, 0.5, 9.0]]),
        np.array([[0.0, 1.0, 1.0, 0.0]]),
        gamma=1.0,
        lam=1.0,
    )
    np.testing.assert_allclose(advantages, [[0.0, 0.5, 0.5, 0.0]])
    np.testing.assert_allclose(returns, [[0.0, 1.0, 1.0, 0.0]])


def test_gae_matches_the_discounted_sum_of_td_errors():
    rng = np.random.default_rng(0)
    rewards, values = rng.normal(size=(2, 2, 6))
    mask = np.ones((2, 6))
    gamma, lam = 0.95, 0.9
    advantages, _ = generalized_advantages(rewards, values, mask, gamma=gamma, lam=lam)
    next_values = np.concatenate([values[:, 1:], np.zeros((2, 1))], axis=1)
    deltas = rewards + gamma * next_values - values
    expected = np.array(
        [
            [sum((gamma * lam) ** k * deltas[b, t + k] for k in range(6 - t)) for t in range(6)]
            for b in range(2)
        ]
    )
    np.testing.assert_allclose(advantages, expected, rtol=1e-5, atol=1e-6)


def test_kl_penalized_rewards_put_the_score_on_the_last_response_token():
    mask = np.array([[0, 1, 1, 0], [0, 1, 1, 1]], dtype="float32")
    logprobs = np.array([[5.0, -1.0, -2.0, 5.0], [5.0, -1.0, -1.0, -1.0]])
    reference = np.array([[0.0, -1.5, -1.0, 0.0], [0.0, -1.0, -2.0, -1.0]])
    rewards, kl = kl_penalized_rewards(np.array([1.0, -2.0]), logprobs, reference, mask, 0.1)
    np.testing.assert_allclose(kl, [[0, 0.5, -1.0, 0], [0, 0, 1.0, 0]])
    np.testing.assert_allclose(
        rewards, [[0, -0.05, 0.1 + 1.0, 0], [0, 0, -0.1, -2.0]], rtol=1e-6
    )
    assert last_token_index(mask).tolist() == [2, 3]


def test_masked_whiten_by_hand():
    values = np.array([[1.0, 3.0, 100.0], [5.0, 0.0, 0.0]])
    mask = np.array([[1, 1, 0], [1, 0, 0]])
    # Entries 1, 3, 5: mean 3, unbiased variance 4, std 2.
    np.testing.assert_allclose(
        masked_whiten(values, mask), [[-1.0, 0.0, 0.0], [1.0, 0.0, 0.0]], atol=1e-6
    )
    np.testing.assert_allclose(
        masked_whiten(values, mask, shift_mean=False),
        [[2.0, 3.0, 0.0], [4.0, 0.0, 0.0]],
        atol=1e-6,
    )


def test_group_advantages_by_hand():
    # Group 1: mean 2, unbiased std 1. Group 2: all equal, no signal.
    advantages = group_advantages(np.array([3.0, 1.0, 2.0, 7.0, 7.0, 7.0]), 3)
    np.testing.assert_allclose(advantages, [1 / 1.0001, -1 / 1.0001, 0, 0, 0, 0], rtol=1e-6)
    centred = group_advantages(np.array([3.0, 1.0, 2.0, 7.0, 7.0, 7.0]), 3, scale=False)
    np.testing.assert_allclose(centred, [1, -1, 0, 0, 0, 0])


@pytest.mark.parametrize("group_size", [1, 0, 2.0, True])
def test_group_advantages_need_two_samples(group_size):
    with pytest.raises(ValueError, match="group_size must be an integer >= 2"):
        group_advantages(np.zeros(4), group_size)


def test_group_advantages_refuse_a_ragged_batch():
    with pytest.raises(ValueError, match="multiple of group_size=4"):
        group_advantages(np.zeros(6), 4)


def test_fixed_kl_controller_does_not_move():
    controller = KLController(0.2)
    assert controller.update(100.0, 64) == 0.2
    assert not controller.adaptive


def test_adaptive_kl_controller_follows_the_target():
    controller = KLController(0.1, target=6.0, horizon=1000)
    # KL 3 is half the target: error -0.5, clipped to -0.2.
    assert controller.update(3.0, 100) == pytest.approx(0.1 * (1 - 0.2 * 100 / 1000))
    value = controller.value
    # KL 6.6 is 10% above the target.
    assert controller.update(6.6, 100) == pytest.approx(value * (1 + 0.1 * 100 / 1000))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"initial": -1.0}, "kl_coef must be a number >= 0"),
        ({"initial": 0.1, "target": 0.0}, "target_kl must be a positive number"),
        ({"initial": 0.1, "horizon": 0}, "kl_horizon must be a positive number"),
    ],
)
def test_kl_controller_rejects_bad_settings(kwargs, message):
    with pytest.raises(KerasAlignError, match=message):
        KLController(**kwargs)


def test_kl_penalized_rewards_ignore_extreme_masked_log_probs():
    # inf * 0 is NaN: masked positions must be dropped, not multiplied by 0.
    scores = np.array([1.0])
    logprobs = np.array([[-0.5, -np.inf]], "float32")
    reference = np.array([[-0.7, -3.0]], "float32")
    mask = np.array([[1.0, 0.0]], "float32")
    rewards, _ = kl_penalized_rewards(scores, logprobs, reference, mask, 0.1)
    np.testing.assert_allclose(rewards, [[-0.1 * 0.2 + 1.0, 0.0]], rtol=1e-6)
