"""Every example script runs in --test-mode (and so do the variants that change what runs)."""

import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPTS = sorted((ROOT / "examples").glob("*.py"))
# Options that switch a script to another code path, each also run in --test-mode.
VARIANTS = {
    "rlhf_ppo_reward_model": ("rlhf.py", ["--algorithm", "ppo", "--reward", "model"]),
}


def _run_in_test_mode(script, tmp_path, arguments=()):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "MPLBACKEND": "Agg",
    }
    completed = subprocess.run(
        [sys.executable, str(script), "--test-mode", "--output", str(tmp_path / "out"), *arguments],
        capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path,
    )
    assert completed.returncode == 0, completed.stdout[-2000:] + completed.stderr[-4000:]
    assert (tmp_path / "out" / "metrics.json").exists()


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.stem for s in SCRIPTS])
def test_example_runs_in_test_mode(script, tmp_path):
    _run_in_test_mode(script, tmp_path)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_example_variant_runs_in_test_mode(name, tmp_path):
    script, arguments = VARIANTS[name]
    _run_in_test_mode(ROOT / "examples" / script, tmp_path, arguments)
    if name == "rlhf_ppo_reward_model":
        assert (tmp_path / "out" / "reward_model" / "reward_model.json").exists()
