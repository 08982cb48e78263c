"""The persistent JAX compile cache: a second process reuses the first one's programs."""

import json
import os
import subprocess
import sys
import textwrap

import keras
import pytest

from kerasalign.backend_ops import default_compile_cache_directory

PROGRAM = textwrap.dedent(
    """
    import json, sys
    import jax
    from kerasalign.backend_ops import enable_persistent_compile_cache

    hits = []
    jax.monitoring.register_event_listener(
        lambda event, **kwargs: hits.append(event) if "cache_hits" in event else None
    )
    directory = enable_persistent_compile_cache(sys.argv[1], min_compile_seconds=0)
    step = jax.jit(lambda x: (jax.numpy.tanh(x) @ x.T).sum())
    value = float(step(jax.numpy.ones((64, 64))))
    print(json.dumps({"directory": directory, "hits": len(hits), "value": value}))
    """
)


def _run(argument, tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    env.pop("JAX_COMPILATION_CACHE_DIR", None)  # the tests' own cache
    result = subprocess.run(
        [sys.executable, "-c", PROGRAM, argument], env=env, capture_output=True, text=True,
        timeout=300, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(keras.config.backend() != "jax", reason="the cache is JAX's")
def test_a_second_process_reads_the_compiled_program_back(tmp_path):
    cache = tmp_path / "cache"
    first = _run(str(cache), tmp_path)
    assert first["directory"] == str(cache) and first["hits"] == 0
    assert any(cache.iterdir())
    second = _run(str(cache), tmp_path)
    assert second["hits"] >= 1 and second["value"] == first["value"]


def test_the_environment_variable_chooses_or_turns_off_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("KERASALIGN_COMPILE_CACHE", str(tmp_path / "mine"))
    assert default_compile_cache_directory() == str(tmp_path / "mine")
    for off in ("off", "0", ""):
        monkeypatch.setenv("KERASALIGN_COMPILE_CACHE", off)
        assert default_compile_cache_directory() is None
    monkeypatch.delenv("KERASALIGN_COMPILE_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_compile_cache_directory() == str(tmp_path / "xdg" / "kerasalign" / "jax-compile")
