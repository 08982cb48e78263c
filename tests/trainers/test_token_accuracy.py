"""TokenAccuracy: SFT's token accuracy without an argmax over the vocabulary."""

import keras
import numpy as np
import pytest

from kerasalign.trainers.token_accuracy import TokenAccuracy, is_top_token


def _numpy_accuracy(logits, labels, weights):
    correct = (np.argmax(logits, axis=-1) == labels).astype("float64")
    return float((correct * weights).sum() / weights.sum())


@pytest.mark.backend
def test_weighted_accuracy_equals_numpy_argmax_accuracy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(3, 7, 50)).astype("float32")
    labels = rng.integers(0, 50, size=(3, 7))
    # Make about half the targets the top token, so the accuracy is far from 0 and 1.
    labels[:, ::2] = np.argmax(logits, axis=-1)[:, ::2]
    weights = (rng.random((3, 7)) > 0.3).astype("float32")
    metric = TokenAccuracy()
    metric.update_state(labels, logits, sample_weight=weights)
    expected = _numpy_accuracy(logits, labels, weights)
    assert 0.3 < expected < 0.8
    np.testing.assert_allclose(float(metric.result()), expected, rtol=1e-6)


@pytest.mark.backend
def test_is_top_token_per_position():
    logits = np.array([[[0.1, 2.0, -1.0], [3.0, 0.0, 0.5]]], "float32")
    labels = np.array([[1, 2]])
    target_logits = np.take_along_axis(logits, labels[..., None], axis=-1)[..., 0]
    result = keras.ops.convert_to_numpy(is_top_token(logits, target_logits))
    np.testing.assert_array_equal(result, [[1.0, 0.0]])


def test_metric_name_and_config_round_trip():
    metric = TokenAccuracy(name="token_accuracy")
    restored = TokenAccuracy.from_config(metric.get_config())
    assert restored.name == "token_accuracy"
    restored.update_state(np.array([[0]]), np.array([[[1.0, 0.0]]], "float32"))
    assert float(restored.result()) == 1.0


@pytest.mark.backend
def test_labels_with_a_trailing_axis_of_one_are_accepted():
    logits = np.array([[[0.1, 2.0, -1.0], [3.0, 0.0, 0.5]]], "float32")
    metric = TokenAccuracy()
    metric.update_state(np.array([[[1], [0]]]), logits)
    assert float(metric.result()) == 1.0
