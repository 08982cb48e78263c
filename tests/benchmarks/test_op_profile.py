"""benchmarks/op_profile.py: the XLA op summary of a JAX profiler trace."""

import doctest

import keras
import numpy as np
import pytest
from benchmark_modules import load


def load_op_profile():
    return load("op_profile")


def test_concurrency_counts_overlapping_ops():
    op_profile = load_op_profile()
    # Window 0-10 s; op a 1-5 s, op b 3-8 s, op c 9-12 s (cut at the window's end).
    ops = [(1e9, 5e9, "a"), (3e9, 8e9, "b"), (9e9, 12e9, "c")]
    result = op_profile.concurrency(ops, (0, 10e9))
    np.testing.assert_allclose(
        [result[0], result[1], result[2]], [1 + 1, 2 + 3 + 1, 2], rtol=1e-9
    )
    assert sum(result.values()) == pytest.approx(10.0)


def test_wall_time_by_activity_separates_dots_from_other_ops():
    op_profile = load_op_profile()
    # Window 0-10 s; a dot 1-5 s, a fusion 4-7 s, a second dot 6-8 s.
    ops = [(1e9, 5e9, "ynn_fusion.3"), (4e9, 7e9, "copy_bitcast_fusion"), (6e9, 8e9, "dot.1")]
    result = op_profile.wall_by_activity(ops, (0, 10e9))
    expected = {"dots": 3 + 1, "other": 1, "both": 1 + 1, "idle": 1 + 2}
    assert result == pytest.approx(expected)


def test_op_kind_drops_the_instance_number():
    op_profile = load_op_profile()
    assert op_profile.op_kind("ynn_fusion.145") == "ynn_fusion"
    assert op_profile.op_kind("copy_bitcast_fusion") == "copy_bitcast_fusion"


@pytest.mark.skipif(keras.config.backend() != "jax", reason="a JAX profiler trace")
def test_trace_of_a_jitted_step_is_summarised(tmp_path):
    import jax
    import jax.numpy as jnp

    op_profile = load_op_profile()
    step = jax.jit(lambda x: jnp.tanh(x @ x).sum())
    x = jnp.ones((512, 512))
    step(x).block_until_ready()
    with jax.profiler.trace(str(tmp_path)):
        step(x).block_until_ready()
    summary = op_profile.summarise_trace(str(tmp_path))
    assert summary["step_seconds"] > 0 and summary["op_seconds"] > 0
    kinds = [op["kind"] for op in summary["top_ops"]]
    assert any("fusion" in kind or "dot" in kind for kind in kinds), kinds
    running = summary["seconds_with_k_ops_running"]
    assert sum(running.values()) == pytest.approx(summary["step_seconds"], rel=1e-6)
    assert "| op kind | seconds | count |" in op_profile.markdown(summary)
    failures, _ = doctest.testmod(op_profile)
    assert failures == 0


def test_missing_trace_names_the_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        load_op_profile().latest_trace_file(str(tmp_path))
