"""Every example script runs in --test-mode (and so do the variants that change what runs).

The scripts run in this process, as `python script.py --test-mode` would run
them (`__main__`, their own argv, a fresh working directory): a subprocess
would spend most of a tiny run importing TensorFlow, JAX and Keras again.
"""

import pathlib
import runpy
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPTS = sorted((ROOT / "examples").glob("*.py"))
# Options that switch a script to another code path, each also run in --test-mode.
VARIANTS = {
    "rlhf_ppo_reward_model": ("rlhf.py", ["--algorithm", "ppo", "--reward", "model"]),
}


def _run_in_test_mode(script, tmp_path, monkeypatch, arguments=()):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.chdir(tmp_path)
    argv = [str(script), "--test-mode", "--output", str(tmp_path / "out"), *arguments]
    monkeypatch.setattr(sys, "argv", argv)
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exit:
        assert exit.code in (None, 0), f"{script.name} exited with {exit.code}"
    assert (tmp_path / "out" / "metrics.json").exists()


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_example_runs_in_test_mode(script, tmp_path, monkeypatch):
    _run_in_test_mode(script, tmp_path, monkeypatch)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_example_variant_runs_in_test_mode(name, tmp_path, monkeypatch):
    script, arguments = VARIANTS[name]
    _run_in_test_mode(ROOT / "examples" / script, tmp_path, monkeypatch, arguments)
    if name == "rlhf_ppo_reward_model":
        assert (tmp_path / "out" / "reward_model" / "reward_model.json").exists()
