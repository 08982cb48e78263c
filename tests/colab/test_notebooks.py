"""Every Colab notebook is current with its source and runs top to bottom.

Notebooks run offline with the `tiny_gemma` preset and a couple of steps
(the parameter cell reads KERASALIGN_PRESET and KERASALIGN_STEPS), on JAX;
the quickstart also runs on TensorFlow and PyTorch.
"""

import os
import pathlib
import subprocess
import sys

import nbclient
import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "colab").glob("*.ipynb"))


def test_notebooks_are_built_from_their_sources():
    assert NOTEBOOKS, "no notebooks found"
    completed = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_notebooks.py"), "--check"],
        capture_output=True, text=True,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr


def _execute(path, monkeypatch, backend):
    monkeypatch.setenv("KERAS_BACKEND", backend)
    monkeypatch.setenv("KERASALIGN_PRESET", "tiny_gemma")
    monkeypatch.setenv("KERASALIGN_STEPS", "2")
    monkeypatch.setenv("KERASALIGN_LEARNING_RATE", "1e-3")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()
    return notebook


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_on_jax(path, monkeypatch):
    if os.environ.get("KERAS_BACKEND", "jax") != "jax":
        pytest.skip("notebooks run on JAX; see the backend-marked test")
    notebook = _execute(path, monkeypatch, "jax")
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.get("output_type") == "error"]


@pytest.mark.backend
def test_quickstart_runs_on_this_backend(monkeypatch):
    backend = os.environ.get("KERAS_BACKEND", "jax")
    if backend == "jax":
        pytest.skip("covered by test_notebook_runs_on_jax")
    _execute(ROOT / "colab" / "01_quickstart_lora_sft.ipynb", monkeypatch, backend)
