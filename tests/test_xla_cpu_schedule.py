"""kerasalign turns XLA's concurrency-first CPU scheduler off on the JAX backend."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

from kerasalign import xla_cpu_schedule
from kerasalign.xla_cpu_schedule import FLAG, keras_backend_name, prefer_memory_schedule


def knows():
    return True


def test_the_flag_is_added_to_other_xla_flags_on_jax():
    environ = {"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
    assert prefer_memory_schedule(environ, jaxlib_knows_flag=knows)
    assert environ["XLA_FLAGS"] == f"--xla_force_host_platform_device_count=8 --{FLAG}=false"
    # A second call changes nothing.
    assert not prefer_memory_schedule(environ, jaxlib_knows_flag=knows)
    assert environ["XLA_FLAGS"].count(FLAG) == 1


@pytest.mark.parametrize("value", ["true", "false"])
def test_a_flag_the_user_set_wins(value):
    environ = {"KERAS_BACKEND": "jax", "XLA_FLAGS": f"--{FLAG}={value}"}
    assert not prefer_memory_schedule(environ, jaxlib_knows_flag=knows)
    assert environ["XLA_FLAGS"] == f"--{FLAG}={value}"


@pytest.mark.parametrize("backend", ["tensorflow", "torch"])
def test_other_backends_are_left_alone(backend):
    environ = {"KERAS_BACKEND": backend}
    assert not prefer_memory_schedule(environ, jaxlib_knows_flag=knows)
    assert "XLA_FLAGS" not in environ


def test_a_jaxlib_without_the_flag_is_left_alone():
    # An unknown flag in XLA_FLAGS would abort the process.
    environ = {"KERAS_BACKEND": "jax"}
    assert not prefer_memory_schedule(environ, jaxlib_knows_flag=lambda: False)
    assert "XLA_FLAGS" not in environ


def test_backend_comes_from_keras_json_when_the_variable_is_unset(tmp_path):
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "jax"}))
    assert keras_backend_name({"KERAS_HOME": str(tmp_path)}) == "jax"
    (tmp_path / "keras.json").write_text("{not json")
    assert keras_backend_name({"KERAS_HOME": str(tmp_path)}) == "tensorflow"
    assert keras_backend_name({"KERAS_HOME": str(tmp_path / "none")}) == "tensorflow"
    assert keras_backend_name({"KERAS_BACKEND": "torch", "KERAS_HOME": str(tmp_path)}) == "torch"


def test_the_installed_jaxlib_defines_the_flag():
    pytest.importorskip("jaxlib")
    xla_cpu_schedule.jaxlib_knows_flag.cache_clear()
    assert xla_cpu_schedule.jaxlib_knows_flag()


# XLA's own buffer plan (no timing) of the gradient of eight rematerialised
# blocks: how many bytes of temporaries the compiled program needs.
TEMPORARIES = textwrap.dedent(
    """
    import os, sys
    import kerasalign  # sets XLA_FLAGS before JAX starts
    import jax, jax.numpy as jnp

    def block(w, x):
        return x + jax.nn.gelu(x @ w[0]) @ w[1]

    def loss(ws, x):
        for w in ws:
            x = jax.checkpoint(block)(w, x)
        return jnp.sum(x ** 2)

    key = jax.random.PRNGKey(0)
    ws = [(jax.random.normal(key, (128, 512)), jax.random.normal(key, (512, 128)))] * 8
    compiled = jax.jit(jax.grad(loss)).lower(ws, jnp.ones((1024, 128))).compile()
    print(os.environ.get("XLA_FLAGS", ""))
    print(compiled.memory_analysis().temp_size_in_bytes)
    """
)


def _temporaries(xla_flags):
    environ = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    environ.pop("XLA_FLAGS", None)
    if xla_flags is not None:
        environ["XLA_FLAGS"] = xla_flags
    completed = subprocess.run(
        [sys.executable, "-c", TEMPORARIES], env=environ, capture_output=True, text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    flags, temporaries = completed.stdout.strip().splitlines()[-2:]
    return flags, int(temporaries)


def test_importing_kerasalign_halves_the_temporaries_of_a_remat_gradient():
    pytest.importorskip("jax")
    flags, memory_first = _temporaries(None)
    assert flags == f"--{FLAG}=false"
    flags, concurrency_first = _temporaries(f"--{FLAG}=true")
    assert flags == f"--{FLAG}=true"
    assert memory_first < 0.75 * concurrency_first, (memory_first, concurrency_first)


def test_the_command_line_sets_the_schedule_after_choosing_jax(tmp_path):
    # No KERAS_BACKEND and a keras.json that says TensorFlow: the command line
    # still runs on JAX, so the flag must be set after it chose the backend.
    (tmp_path / "keras.json").write_text(json.dumps({"backend": "tensorflow"}))
    environ = dict(os.environ, KERAS_HOME=str(tmp_path), JAX_PLATFORMS="cpu")
    for name in ("KERAS_BACKEND", "XLA_FLAGS"):
        environ.pop(name, None)
    completed = subprocess.run(
        [sys.executable, "-m", "kerasalign.cli.main", "info", "--json"],
        env=environ, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["backend"] == "jax"
    assert result["xla_flags"] == f"--{FLAG}=false"
