"""benchmarks/run.py end to end on the tiny config: 2 steps, one round."""

import importlib.util
import json
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.large
def test_benchmark_writes_json_and_markdown(tmp_path):
    variants = ["kerasalign-jax", "kerasalign-jax-chunk16-remat"]
    if importlib.util.find_spec("trl") and importlib.util.find_spec("peft"):
        variants.insert(0, "trl")
    command = [
        sys.executable,
        str(ROOT / "benchmarks" / "run.py"),
        "--config", "tiny",
        "--tasks", "sft,dpo",
        "--variants", ",".join(variants),
        "--warmup", "1",
        "--steps", "2",
        "--repeats", "1",
        "--batch-size", "2",
        "--sequence-length", "32",
        "--output", str(tmp_path),
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    assert completed.returncode == 0, (
        completed.stdout[-3000:] + completed.stderr[-3000:]
    )
    report = json.loads((tmp_path / "results.json").read_text())
    rows = {(row["task"], row["variant"]): row for row in report["summary"]}
    assert set(rows) == {(task, v) for task in ("sft", "dpo") for v in variants}
    for row in rows.values():
        assert row["tokens_per_second"] > 0 and row["peak_rss_bytes"] > 0
        assert 0 < row["ceiling_fraction"]
    if "trl" in variants:
        assert rows[("sft", "trl")]["vs_trl"] == 1.0
    # The ceiling is the fastest framework's matmul, named in the report.
    for dtype in ("float32", "bfloat16"):
        assert report["ceiling"][dtype] > 0
        assert set(report["ceiling"]["frameworks"][dtype]) <= {"jax", "tensorflow", "torch"}
    table = (tmp_path / "results.md").read_text()
    assert "| sft | kerasalign-jax |" in table and "Versions:" in table
