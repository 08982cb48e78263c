"""map_position_chunks: the same values and gradients as one call, in less memory."""

import doctest

import keras
import numpy as np
import pytest
from keras import ops

from kerasalign.backend_ops import value_and_grad
from kerasalign.trainers import position_chunks
from kerasalign.trainers.position_chunks import map_position_chunks

BATCH, LENGTH, HIDDEN, VOCABULARY = 2, 20, 8, 50


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    hidden = rng.normal(size=(BATCH, LENGTH, HIDDEN)).astype("float32")
    targets = rng.integers(0, VOCABULARY, size=(BATCH, LENGTH)).astype("int32")
    embedding = rng.normal(size=(HIDDEN, VOCABULARY)).astype("float32")
    return hidden, targets, embedding


def _numpy_logprobs(hidden, targets, embedding):
    logits = hidden @ embedding
    logits = logits - logits.max(-1, keepdims=True)
    log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    return np.take_along_axis(log_softmax, targets[..., None], axis=-1)[..., 0]


def _chunk_fn(embedding):
    def fn(hidden_chunk, target_chunk):
        logits = ops.matmul(hidden_chunk, embedding)
        target_logits = ops.take_along_axis(logits, target_chunk[..., None], axis=-1)
        return (
            target_logits[..., 0] - ops.logsumexp(logits, axis=-1),
            ops.cast(ops.argmax(logits, axis=-1) == target_chunk, "float32"),
        )

    return fn


@pytest.mark.backend
@pytest.mark.parametrize("chunk_size", [4, 6, 20, 64], ids=["divides", "remainder", "whole", "longer"])
@pytest.mark.parametrize("remat", [False, True], ids=["keep", "remat"])
def test_values_and_gradients_equal_numpy(chunk_size, remat):
    hidden, targets, embedding = _inputs()
    fn = _chunk_fn(ops.convert_to_tensor(embedding))
    logprobs, correct = map_position_chunks(
        fn, (ops.convert_to_tensor(hidden), ops.convert_to_tensor(targets)), chunk_size, remat=remat
    )
    expected = _numpy_logprobs(hidden, targets, embedding)
    np.testing.assert_allclose(ops.convert_to_numpy(logprobs), expected, rtol=1e-5, atol=1e-5)
    expected_correct = (np.argmax(hidden @ embedding, -1) == targets).astype("float32")
    np.testing.assert_array_equal(ops.convert_to_numpy(correct), expected_correct)

    # d sum(logprobs * w) / d hidden = w * (E[:, target] - E softmax) per position.
    weights = np.linspace(0.0, 1.0, BATCH * LENGTH, dtype="float32").reshape(BATCH, LENGTH)

    def weighted_sum(h):
        (values, _) = map_position_chunks(fn, (h, ops.convert_to_tensor(targets)), chunk_size, remat=remat)
        return ops.sum(values * ops.convert_to_tensor(weights))

    value, gradient = value_and_grad(weighted_sum, ops.convert_to_tensor(hidden))
    logits = hidden @ embedding
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    expected_gradient = weights[..., None] * (embedding.T[targets] - probabilities @ embedding.T)
    np.testing.assert_allclose(float(value), (expected * weights).sum(), rtol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(gradient), expected_gradient, rtol=1e-4, atol=1e-5)


def test_on_jax_recomputed_chunks_run_one_after_the_other(monkeypatch):
    """The point of the loop: XLA keeps one chunk's logits, not all of them."""
    if keras.config.backend() != "jax":
        pytest.skip("the loop is used on JAX only")
    import jax

    hidden, targets, _ = _inputs()
    vocabulary = 4096
    embedding = ops.convert_to_tensor(
        np.random.default_rng(1).normal(size=(HIDDEN, vocabulary)).astype("float32")
    )
    hidden = np.tile(hidden, (4, 8, 1))  # 8 x 160 positions
    targets = np.tile(targets, (4, 8)) % vocabulary

    def temporary_bytes(remat):  # XLA's buffer plan of the gradient
        def loss(h):
            (values, _) = map_position_chunks(_chunk_fn(embedding), (h, targets), 16, remat=remat)
            return ops.sum(values)

        compiled = jax.jit(jax.grad(loss)).lower(hidden).compile()
        return compiled.memory_analysis().temp_size_in_bytes

    one_chunk_logits = 8 * 16 * vocabulary * 4
    looped = temporary_bytes(remat=True)
    monkeypatch.setattr(position_chunks, "_sequential", lambda remat: False)
    separate_calls = temporary_bytes(remat=True)
    # Ten chunks: as separate calls XLA kept every chunk's logits (measured:
    # 11 chunks' worth, as without remat); in the loop, about two.
    assert separate_calls > 5 * one_chunk_logits
    assert looped < 4 * one_chunk_logits


def test_docstring_examples():
    result = doctest.testmod(position_chunks, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
