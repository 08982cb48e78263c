"""map_position_chunks: the same values and gradients as one call, in less memory."""

import doctest
import os
import pathlib
import subprocess
import sys

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


def chunk_temporaries():
    """XLA's buffer plan of the chunked gradient: (loop, separate calls, one chunk's logits)."""
    import jax

    hidden, targets, _ = _inputs()
    vocabulary = 4096
    embedding = ops.convert_to_tensor(
        np.random.default_rng(1).normal(size=(HIDDEN, vocabulary)).astype("float32")
    )
    hidden = np.tile(hidden, (4, 8, 1))  # 8 x 160 positions
    targets = np.tile(targets, (4, 8)) % vocabulary

    def temporary_bytes():
        def loss(h):
            (values, _) = map_position_chunks(_chunk_fn(embedding), (h, targets), 16, remat=True)
            return ops.sum(values)

        compiled = jax.jit(jax.grad(loss)).lower(hidden).compile()
        return compiled.memory_analysis().temp_size_in_bytes

    looped = temporary_bytes()
    sequential = position_chunks._sequential
    position_chunks._sequential = lambda remat: False
    try:
        separate_calls = temporary_bytes()
    finally:
        position_chunks._sequential = sequential
    return looped, separate_calls, 8 * 16 * vocabulary * 4


@pytest.mark.parametrize("schedule", ["memory", "concurrency"])
def test_on_jax_recomputed_chunks_run_one_after_the_other(schedule):
    """The point of the loop: XLA keeps one chunk's logits, not all of them.

    Measured in a fresh process under each of XLA's CPU schedules (the flag is
    read when JAX starts): kerasalign's memory-first one, and XLA's default,
    concurrency-first one, which a user may restore (see xla_cpu_schedule).
    """
    if keras.config.backend() != "jax":
        pytest.skip("the loop is used on JAX only")
    from kerasalign.xla_cpu_schedule import FLAG

    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import test_position_chunks as t; "
        "print(*t.chunk_temporaries())"
    )
    environ = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    environ["XLA_FLAGS"] = f"--{FLAG}={'false' if schedule == 'memory' else 'true'}"
    completed = subprocess.run(
        [sys.executable, "-c", code, str(pathlib.Path(__file__).parent)],
        env=environ, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    looped, separate_calls, one_chunk_logits = map(
        int, completed.stdout.strip().splitlines()[-1].split()
    )
    # Ten chunks. In the loop, about two chunks' logits under either schedule.
    assert looped < 4 * one_chunk_logits
    if schedule == "concurrency":
        # As separate calls the concurrency-first schedule kept every chunk's
        # logits (measured: 11 chunks' worth, as without remat); memory-first
        # scheduling runs them one after another anyway.
        assert separate_calls > 5 * one_chunk_logits
    else:
        assert separate_calls < 4 * one_chunk_logits


def test_docstring_examples():
    result = doctest.testmod(position_chunks, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
