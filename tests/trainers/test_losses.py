"""Preference losses: golden values from the papers' formulas in numpy."""

import doctest

import keras
import numpy as np
import pytest

from kerasalign.trainers import losses

# Four pairs: policy and reference log-probs (summed over tokens), chosen
# better than reference on some pairs and worse on others.
CHOSEN = np.array([-12.0, -30.5, -8.25, -20.0], "float32")
REJECTED = np.array([-15.0, -28.0, -9.0, -19.5], "float32")
REFERENCE_CHOSEN = np.array([-13.0, -29.0, -8.0, -21.0], "float32")
REFERENCE_REJECTED = np.array([-14.0, -29.5, -8.5, -19.0], "float32")
# Per-token means, for the length-normalised losses.
CHOSEN_MEAN = np.array([-0.9, -2.1, -0.15, -1.3], "float32")
REJECTED_MEAN = np.array([-1.4, -1.8, -0.6, -1.2], "float32")


def _log_sigmoid(z):
    return -np.log1p(np.exp(-z))


def _numpy(value):
    return float(keras.ops.convert_to_numpy(value))


def _h(chosen=CHOSEN, rejected=REJECTED, ref_chosen=REFERENCE_CHOSEN, ref_rejected=REFERENCE_REJECTED):
    chosen, rejected = chosen.astype("float64"), rejected.astype("float64")
    return (chosen - ref_chosen) - (rejected - ref_rejected)


def _dpo_metrics(beta, chosen=CHOSEN, rejected=REJECTED, ref_chosen=REFERENCE_CHOSEN, ref_rejected=REFERENCE_REJECTED):
    chosen_rewards = beta * (chosen.astype("float64") - ref_chosen)
    rejected_rewards = beta * (rejected.astype("float64") - ref_rejected)
    return {
        "rewards/chosen": chosen_rewards.mean(),
        "rewards/rejected": rejected_rewards.mean(),
        "rewards/margins": (chosen_rewards - rejected_rewards).mean(),
        "rewards/accuracies": (chosen_rewards > rejected_rewards).mean(),
    }


def _check(result, expected_loss, expected_metrics):
    loss, metrics = result
    np.testing.assert_allclose(_numpy(loss), expected_loss, rtol=1e-5, atol=1e-6)
    for name, value in expected_metrics.items():
        np.testing.assert_allclose(_numpy(metrics[name]), value, rtol=1e-5, atol=1e-6, err_msg=name)


@pytest.mark.backend
@pytest.mark.parametrize("beta", [0.1, 0.5])
def test_sigmoid_is_dpo(beta):
    expected = -_log_sigmoid(beta * _h()).mean()
    _check(
        losses.sigmoid_loss(CHOSEN, REJECTED, REFERENCE_CHOSEN, REFERENCE_REJECTED, beta=beta),
        expected,
        _dpo_metrics(beta),
    )


@pytest.mark.backend
def test_sigmoid_with_label_smoothing_is_cdpo():
    beta, eps = 0.2, 0.15
    z = beta * _h()
    expected = (-(1 - eps) * _log_sigmoid(z) - eps * _log_sigmoid(-z)).mean()
    _check(
        losses.sigmoid_loss(
            CHOSEN, REJECTED, REFERENCE_CHOSEN, REFERENCE_REJECTED, beta=beta, label_smoothing=eps
        ),
        expected,
        _dpo_metrics(beta),
    )


@pytest.mark.backend
def test_robust_is_unbiased_rdpo():
    beta, eps = 0.3, 0.2
    z = beta * _h()
    expected = ((-(1 - eps) * _log_sigmoid(z) + eps * _log_sigmoid(-z)) / (1 - 2 * eps)).mean()
    _check(
        losses.robust_loss(
            CHOSEN, REJECTED, REFERENCE_CHOSEN, REFERENCE_REJECTED, beta=beta, label_smoothing=eps
        ),
        expected,
        _dpo_metrics(beta),
    )


@pytest.mark.backend
def test_robust_without_noise_equals_dpo():
    args = (CHOSEN, REJECTED, REFERENCE_CHOSEN, REFERENCE_REJECTED)
    robust, _ = losses.robust_loss(*args, beta=0.1, label_smoothing=0.0)
    dpo, _ = losses.sigmoid_loss(*args, beta=0.1)
    np.testing.assert_allclose(_numpy(robust), _numpy(dpo), rtol=1e-6)


@pytest.mark.backend
def test_hinge_is_slic():
    beta = 0.4
    expected = np.maximum(0.0, 1.0 - beta * _h()).mean()
    _check(
        losses.hinge_loss(CHOSEN, REJECTED, REFERENCE_CHOSEN, REFERENCE_REJECTED, beta=beta),
        expected,
        _dpo_metrics(beta),
    )


@pytest.mark.backend
def test_ipo_regresses_to_half_inverse_beta():
    beta = 0.25
    reference_chosen_mean = CHOSEN_MEAN + np.array([0.1, -0.2, 0.05, 0.3], "float32")
    reference_rejected_mean = REJECTED_MEAN + np.array([-0.1, 0.0, 0.2, -0.3], "float32")
    h = _h(CHOSEN_MEAN, REJECTED_MEAN, reference_chosen_mean, reference_rejected_mean)
    expected = ((h - 1.0 / (2.0 * beta)) ** 2).mean()
    _check(
        losses.ipo_loss(
            CHOSEN_MEAN, REJECTED_MEAN, reference_chosen_mean, reference_rejected_mean, beta=beta
        ),
        expected,
        _dpo_metrics(beta, CHOSEN_MEAN, REJECTED_MEAN, reference_chosen_mean, reference_rejected_mean),
    )


@pytest.mark.backend
def test_simpo_is_reference_free_with_target_margin():
    beta, gamma = 2.0, 0.6
    chosen = CHOSEN_MEAN.astype("float64")
    rejected = REJECTED_MEAN.astype("float64")
    expected = -_log_sigmoid(beta * chosen - beta * rejected - gamma).mean()
    metrics = {
        "rewards/chosen": (beta * chosen).mean(),
        "rewards/rejected": (beta * rejected).mean(),
        "rewards/margins": (beta * (chosen - rejected)).mean(),
        "rewards/accuracies": (chosen > rejected).mean(),
    }
    _check(losses.simpo_loss(CHOSEN_MEAN, REJECTED_MEAN, beta=beta, gamma=gamma), expected, metrics)


@pytest.mark.backend
def test_orpo_is_nll_plus_odds_ratio():
    lam = 0.1
    chosen = CHOSEN_MEAN.astype("float64")
    rejected = REJECTED_MEAN.astype("float64")

    def log_odds(m):
        return np.log(np.exp(m) / (1.0 - np.exp(m)))

    log_odds_ratio = log_odds(chosen) - log_odds(rejected)
    expected = -chosen.mean() - lam * _log_sigmoid(log_odds_ratio).mean()
    metrics = {
        "nll_loss": -chosen.mean(),
        "log_odds_ratio": log_odds_ratio.mean(),
        "rewards/chosen": (lam * chosen).mean(),
        "rewards/margins": (lam * (chosen - rejected)).mean(),
        "rewards/accuracies": 0.5,
    }
    _check(losses.orpo_loss(CHOSEN_MEAN, REJECTED_MEAN, beta=lam), expected, metrics)


@pytest.mark.backend
def test_orpo_is_finite_when_a_response_is_certain():
    loss, metrics = losses.orpo_loss(np.array([0.0, -1e-9], "float32"), np.array([-1.0, -2.0], "float32"))
    assert np.isfinite(_numpy(loss)) and np.isfinite(_numpy(metrics["log_odds_ratio"]))


@pytest.mark.backend
def test_bradley_terry_with_margin_and_centring():
    chosen_rewards = np.array([1.5, -0.5, 2.0, 0.1], "float32")
    rejected_rewards = np.array([0.5, 0.5, -1.0, 0.3], "float32")
    margin = np.array([0.0, 1.0, 0.5, 0.0], "float32")
    coefficient = 0.01
    difference = chosen_rewards.astype("float64") - rejected_rewards
    expected = -_log_sigmoid(difference - margin).mean() + coefficient * (
        (chosen_rewards.astype("float64") + rejected_rewards) ** 2
    ).mean()
    _check(
        losses.bradley_terry_loss(
            chosen_rewards, rejected_rewards, margin, center_rewards_coefficient=coefficient
        ),
        expected,
        {
            "accuracy": 0.5,
            "margin": difference.mean(),
            "mean_reward": ((chosen_rewards + rejected_rewards) / 2).mean(),
        },
    )
    plain, _ = losses.bradley_terry_loss(chosen_rewards, rejected_rewards)
    np.testing.assert_allclose(_numpy(plain), -_log_sigmoid(difference).mean(), rtol=1e-5)


def test_loss_table():
    assert sorted(losses.LOSSES) == ["hinge", "ipo", "orpo", "robust", "sigmoid", "simpo"]
    assert set(losses.REFERENCE_FREE_LOSSES) <= set(losses.LOSSES)
    assert set(losses.LENGTH_NORMALISED_LOSSES) <= set(losses.LOSSES)
    assert set(losses.DEFAULT_BETAS) == set(losses.LOSSES)
    for name in losses.LOSSES:
        assert {"rewards/chosen", "rewards/rejected", "rewards/margins", "rewards/accuracies"} <= set(
            losses.metric_names(name)
        )


@pytest.mark.parametrize("name", ["sigmoid", "robust", "hinge"])
def test_gradient_matches_finite_differences(name):
    """d loss / d chosen_logps from the formula vs. central differences."""
    beta, eps = 0.4, 0.1  # beta * h stays away from the hinge's kink at 1
    kwargs = {"beta": beta}
    if name != "hinge":
        kwargs["label_smoothing"] = eps
    function = losses.LOSSES[name]

    def loss_at(chosen):
        value, _ = function(chosen, REJECTED.astype("float64"), REFERENCE_CHOSEN, REFERENCE_REJECTED, **kwargs)
        return _numpy(value)

    z = beta * _h()
    sigmoid = 1.0 / (1.0 + np.exp(-z))
    analytic = {
        # d/dz of -(1-e) log s(z) - e log s(-z) is -(1-e)(1-s) + e s.
        "sigmoid": (-(1 - eps) * (1 - sigmoid) + eps * sigmoid) * beta / len(z),
        "robust": ((-(1 - eps) * (1 - sigmoid) - eps * sigmoid) / (1 - 2 * eps)) * beta / len(z),
        "hinge": np.where(1 - z > 0, -beta, 0.0) / len(z),
    }[name]
    step = 1e-2
    for index in range(len(CHOSEN)):
        up, down = CHOSEN.astype("float64").copy(), CHOSEN.astype("float64").copy()
        up[index] += step
        down[index] -= step
        numeric = (loss_at(up) - loss_at(down)) / (2 * step)
        np.testing.assert_allclose(numeric, analytic[index], rtol=2e-3, atol=1e-5)


class LogprobModel(keras.Model):
    """Trainable per-pair log-probs: one gradient step shows the loss's direction."""

    def __init__(self, loss_name):
        super().__init__()
        self.loss_name = loss_name
        self.chosen = self.add_weight(shape=(4,), initializer=keras.initializers.Constant(-1.0))
        self.rejected = self.add_weight(shape=(4,), initializer=keras.initializers.Constant(-1.0))

    def call(self, x):
        return x

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        reference = keras.ops.zeros((4,)) - 1.0
        loss, _ = losses.LOSSES[self.loss_name](
            self.chosen, self.rejected, reference, reference, beta=1.0
        )
        return loss


@pytest.mark.backend
@pytest.mark.parametrize("name", sorted(losses.LOSSES))
def test_one_step_raises_chosen_and_lowers_rejected(name):
    model = LogprobModel(name)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1))
    model.fit(np.zeros((4, 1), "float32"), batch_size=4, epochs=1, verbose=0)
    chosen = keras.ops.convert_to_numpy(model.chosen)
    rejected = keras.ops.convert_to_numpy(model.rejected)
    assert (chosen > -1.0).all() and (rejected < -1.0).all(), (chosen, rejected)


def test_docstring_examples():
    result = doctest.testmod(losses, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
