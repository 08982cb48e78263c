"""benchmarks/run.py end to end on the tiny config: 2 steps, one round."""

import importlib.util
import json
import pathlib
import subprocess
import sys

import pytest
from benchmark_modules import load

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.mark.large
def test_benchmark_writes_json_and_markdown(tmp_path):
    variants = ["kerasalign-jax", "kerasalign-jax-chunk16-remat"]
    if importlib.util.find_spec("trl") and importlib.util.find_spec("peft"):
        variants[:0] = ["trl", "trl-noremat"]
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
    # The generated token ids stay out of the output folder (it gets committed).
    assert sorted(path.name for path in tmp_path.iterdir()) == ["results.json", "results.md", "runs"]
    assert not list((tmp_path / "runs").glob("*.npz"))
    rows = {(row["task"], row["variant"]): row for row in report["summary"]}
    assert set(rows) == {(task, v) for task in ("sft", "dpo") for v in variants}
    for row in rows.values():
        assert row["tokens_per_second"] > 0 and row["peak_rss_bytes"] > 0
        assert 0 < row["ceiling_fraction"]
    if "trl" in variants:
        assert rows[("sft", "trl")]["vs_trl"] == 1.0
        # TRL's gradient checkpointing ran as each variant asked ...
        checkpointing = {
            run["variant"]: run["gradient_checkpointing"]
            for run in report["runs"]
            if run["variant"].startswith("trl")
        }
        assert checkpointing == {"trl": True, "trl-noremat": False}
        # ... and each kerasalign row is compared with its like.
        for task in ("sft", "dpo"):
            assert rows[(task, "kerasalign-jax")]["vs_trl_variant"] == "trl-noremat"
            remat = rows[(task, "kerasalign-jax-chunk16-remat")]
            assert remat["vs_trl_variant"] == "trl"
    # kerasalign's JAX runs compile with the memory-first CPU schedule it sets.
    for run in report["runs"]:
        if run["variant"].startswith("kerasalign-jax"):
            assert run["xla_schedule"] == "memory", run["xla_flags"]
            assert "concurrency_optimized_scheduler=false" in run["xla_flags"]
    # The ceiling is the fastest framework's matmul, named in the report.
    for dtype in ("float32", "bfloat16"):
        assert report["ceiling"][dtype] > 0
        assert set(report["ceiling"]["frameworks"][dtype]) <= {
            "jax",
            "tensorflow",
            "torch",
        }
    table = (tmp_path / "results.md").read_text()
    assert "| sft | kerasalign-jax |" in table and "Versions:" in table


def load_run_module():
    return load("run")


def test_trl_variants_recompute_by_default_like_trl():
    run = load_run_module()
    assert run.parse_variant("trl")["remat"] is True
    assert run.parse_variant("trl-noremat")["remat"] is False
    assert run.parse_variant("kerasalign-jax")["remat"] is False
    assert run.parse_variant("kerasalign-jax-remat")["remat"] is True
    assert run.parse_variant("kerasalign-jax")["xla_schedule"] is None
    assert run.parse_variant("kerasalign-jax-xladefault")["xla_schedule"] == "concurrency"
    command = run.worker_command(
        run.parse_variant("trl-noremat"), "dpo", run.parse_args([]), "d.npz", "o.json"
    )
    assert command[-2:] == ["--gradient-checkpointing", "off"]


def test_trl_counterpart_matches_dtype_and_recomputation():
    run = load_run_module()

    def row(variant, dtype="float32", recomputes=False, **extra):
        return dict(
            task="dpo", variant=variant, dtype=dtype, recomputes=recomputes, **extra
        )

    trl, trl_full = row("trl", recomputes=True), row("trl-noremat")
    keras, keras_remat = (
        row("kerasalign-jax"),
        row("kerasalign-jax-remat", recomputes=True),
    )
    summary = [trl, trl_full, keras, keras_remat]
    assert run.trl_counterpart(summary, keras) is trl_full
    assert run.trl_counterpart(summary, keras_remat) is trl
    # Without a trl-noremat row (or when it failed) the default TRL row is used.
    assert run.trl_counterpart([trl, keras], keras) is trl
    failed = row("trl-noremat", error="boom")
    assert run.trl_counterpart([trl, failed, keras], keras) is trl
    # Another dtype has its own TRL row; none in the run gives None.
    assert (
        run.trl_counterpart(summary, row("kerasalign-jax-bf16", dtype="bfloat16"))
        is None
    )


def test_malloc_variants_run_with_the_tunables_and_compare_with_trl_under_them():
    run = load_run_module()
    assert run.parse_variant("kerasalign-jax")["malloc"] is False
    assert run.parse_variant("trl-noremat-malloc")["malloc"] is True

    def row(variant, recomputes=False):
        return dict(task="sft", variant=variant, dtype="float32", recomputes=recomputes,
                    malloc=run.parse_variant(variant)["malloc"])

    plain, tuned = row("trl-noremat"), row("trl-noremat-malloc")
    keras_tuned = row("kerasalign-jax-malloc")
    summary = [plain, tuned, row("kerasalign-jax"), keras_tuned]
    assert run.trl_counterpart(summary, keras_tuned) is tuned
    assert run.trl_counterpart(summary, summary[2]) is plain
    # No TRL row under the same settings: no ratio rather than a mixed one.
    assert run.trl_counterpart([plain, keras_tuned], keras_tuned) is None
