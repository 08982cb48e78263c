"""Benchmark kerasalign against TRL + PEFT: LoRA SFT, DPO and reward-model training.

Each run is a fresh process (a worker script) that builds the architecture
from a config with random weights, trains `--warmup + --steps` steps on the
same token ids as every other run, and reports per-step times. Runs are
interleaved (every variant once, in a rotated order, then again) and
repeated, so that machine noise hits every variant alike; a JAX matmul
ceiling is measured in every round. The report gives, per task and variant,
the median over rounds of: tokens/s (median step after warm-up), step time,
compile time (first step minus a median step), peak RSS, achieved FLOP/s as
a fraction of the ceiling, and the ratio to TRL.

    pip install -e ".[bench]"
    python benchmarks/run.py --config small --tasks sft,dpo,reward --repeats 3
    python benchmarks/run.py --config tiny --steps 2 --warmup 1 --repeats 1  # smoke

Variants (`--variants`, comma separated): `trl`, `kerasalign-<backend>`,
`keras_hub-<backend>` (plain KerasHub `fit`, SFT only), with optional
suffixes `-bf16` (bfloat16 weights and compute), `-mixed` (float32 weights,
bfloat16 compute; Keras' `mixed_bfloat16`), `-int8` (int8 base),
`-xla` / `-noxla` (force `jit_compile` on or off; on torch "on" means
`torch.compile`), `-chunk<N>` (SFT loss / DPO log-probs from hidden states at response positions,
N positions at a time), `-bucket<N>` (SFT in `LengthBuckets` of multiple N),
`-remat` (decoder blocks recompute their activations in the backward pass,
`load_causal_lm(..., remat=True)`; with `-chunk<N>` each logits chunk too).
`-xladefault` (JAX: XLA's default concurrency-first CPU scheduler instead of
the memory-first one `import kerasalign` sets; plain KerasHub rows always run
XLA's default; see `kerasalign.xla_cpu_schedule`).
`trl` keeps TRL's defaults, which include gradient checkpointing (TRL 1.x
sets `gradient_checkpointing=True` in every trainer config): the TRL
counterpart of `-remat`. `trl-noremat` turns it off. Each kerasalign row's
`vs TRL` is against the TRL row of the same dtype and the same recomputation
when the run has one (`kerasalign-jax` vs `trl-noremat`,
`kerasalign-jax-remat` vs `trl`), otherwise against `trl`.
With `--mixed-lengths` SFT rows have lengths between 1/8 and all of
`--sequence-length` and tokens/s counts real (non-padding) tokens over the
mean timed step. Writes `results.json`
and `results.md` into `--output`.
"""

import argparse
import datetime
import importlib.metadata
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

BENCHMARKS = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHMARKS))

import common  # noqa: E402

DEFAULT_VARIANTS = {
    "sft": "trl,trl-noremat,keras_hub-jax,kerasalign-jax,keras_hub-tensorflow,kerasalign-tensorflow,"
    "kerasalign-torch",
    "dpo": "trl,trl-noremat,kerasalign-jax,kerasalign-tensorflow,kerasalign-torch",
    "reward": "trl,trl-noremat,kerasalign-jax,kerasalign-tensorflow,kerasalign-torch",
}
PACKAGES = [
    "keras",
    "keras-hub",
    "jax",
    "tensorflow",
    "torch",
    "transformers",
    "trl",
    "peft",
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", default="small", choices=sorted(common.CONFIGS))
    parser.add_argument("--tasks", default="sft")
    parser.add_argument("--variants", default=None, help="defaults per task")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--sequence-length", type=int, default=256)
    parser.add_argument("--lora-rank", type=int, default=8)
    parser.add_argument("--mixed-lengths", action="store_true")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per run")
    parser.add_argument("--output", default="benchmarks/results")
    parser.add_argument(
        "--ceiling-size",
        type=int,
        default=2048,
        help="matmul size for the ceiling (8192 on a GPU)",
    )
    args = parser.parse_args(argv)
    args.tasks = [task.strip() for task in args.tasks.split(",") if task.strip()]
    for task in args.tasks:
        if task not in DEFAULT_VARIANTS:
            parser.error(
                f"unknown task {task!r}; choose from {sorted(DEFAULT_VARIANTS)}"
            )
    return args


def parse_variant(name):
    """`kerasalign-jax-bf16-int8` -> framework, backend and options."""
    parts = name.split("-")
    if parts[0] == "trl":
        spec = {"framework": "trl", "backend": "torch"}
        options = parts[1:]
        # TRL's configs turn gradient checkpointing on by default.
        remat = True
    else:
        if parts[0] not in ("kerasalign", "keras_hub") or len(parts) < 2:
            raise SystemExit(f"bad variant {name!r}")
        spec = {"framework": parts[0], "backend": parts[1]}
        options = parts[2:]
        remat = False
    spec.update(
        dtype="float32",
        quantize=None,
        jit_compile="auto",
        chunk_size=None,
        bucket=None,
        remat=remat,
        xla_schedule=None,
        malloc=False,
    )
    for option in options:
        if option == "bf16":
            spec["dtype"] = "bfloat16"
        elif option == "mixed":
            spec["dtype"] = "mixed_bfloat16"
        elif option == "int8":
            spec["quantize"] = "int8"
        elif option.startswith("bucket") and option[6:].isdigit():
            spec["bucket"] = int(option[6:])
        elif option.startswith("chunk") and option[5:].isdigit():
            spec["chunk_size"] = int(option[5:])
        elif option in ("remat", "noremat"):
            spec["remat"] = option == "remat"
        elif option == "xladefault":
            spec["xla_schedule"] = "concurrency"
        elif option == "malloc":
            # glibc allocator settings of the kerasalign command (kerasalign.cpu_malloc).
            spec["malloc"] = True
        elif option in ("xla", "noxla"):
            spec["jit_compile"] = "true" if option == "xla" else "false"
        else:
            raise SystemExit(f"bad option {option!r} in variant {name!r}")
    return spec


def worker_command(spec, task, args, data_path, out_path):
    common_args = [
        "--data", str(data_path),
        "--config", args.config,
        "--task", task,
        "--batch-size", str(args.batch_size),
        "--warmup", str(args.warmup),
        "--steps", str(args.steps),
        "--lora-rank", str(args.lora_rank),
        "--dtype", spec["dtype"],
        "--out", str(out_path),
    ]  # fmt: skip
    if spec["framework"] == "trl":
        checkpointing = "on" if spec["remat"] else "off"
        return [
            sys.executable, str(BENCHMARKS / "trl_worker.py"), *common_args,
            "--gradient-checkpointing", checkpointing,
        ]  # fmt: skip
    command = [sys.executable, str(BENCHMARKS / "keras_worker.py"), *common_args]
    command += ["--framework", spec["framework"], "--jit-compile", spec["jit_compile"]]
    if spec["quantize"]:
        command += ["--quantize", spec["quantize"]]
    if spec["chunk_size"]:
        command += ["--chunk-size", str(spec["chunk_size"])]
    if spec["bucket"]:
        command += ["--bucket", str(spec["bucket"])]
    if spec["remat"]:
        command += ["--remat"]
    if spec["xla_schedule"]:
        command += ["--xla-schedule", spec["xla_schedule"]]
    return command


def run_process(command, env, timeout):
    start = time.perf_counter()
    completed = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=timeout
    )
    return completed, time.perf_counter() - start


def run_worker(spec, task, args, data_path, out_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TQDM_DISABLE="1")
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(BENCHMARKS.parent), env.get("PYTHONPATH")])
    )
    if spec["framework"] != "trl":
        env["KERAS_BACKEND"] = spec["backend"]
    if spec["malloc"]:
        from kerasalign.cpu_malloc import TUNABLES

        env["GLIBC_TUNABLES"] = TUNABLES
    command = worker_command(spec, task, args, data_path, out_path)
    try:
        completed, seconds = run_process(command, env, args.timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.timeout} s"}
    if completed.returncode != 0:
        tail = (completed.stderr or completed.stdout).strip().splitlines()[-12:]
        return {"error": "\n".join(tail)}
    result = json.loads(pathlib.Path(out_path).read_text())
    result["process_seconds"] = seconds
    return result


def measure_ceiling(output, size):
    out_path = output / "runs" / f"ceiling-{time.time_ns()}.json"
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    script = str(BENCHMARKS / "matmul_ceiling.py")
    completed, _ = run_process(
        [sys.executable, script, "--size", str(size), "--out", str(out_path)],
        env,
        600,
    )
    if completed.returncode != 0:
        print(f"matmul ceiling failed: {completed.stderr.strip()[-600:]}", flush=True)
        return None
    return json.loads(out_path.read_text())


def load_average():
    try:
        return list(os.getloadavg())
    except OSError:
        return None


def versions():
    found = {}
    for package in PACKAGES:
        try:
            found[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            found[package] = None
    try:
        found["kerasalign"] = importlib.metadata.version("kerasalign")
    except importlib.metadata.PackageNotFoundError:
        found["kerasalign"] = "source"
    return found


def aggregate(runs, ceilings):
    """Medians over rounds for each (task, variant)."""
    float32_ceiling = statistics.median(
        c["float32"]["best_flops_per_second"] for c in ceilings
    )
    bfloat16_ceiling = statistics.median(
        c["bfloat16"]["best_flops_per_second"] for c in ceilings
    )
    rows = {}
    for run in runs:
        key = (run["task"], run["variant"])
        rows.setdefault(key, []).append(run)
    summary = []
    for (task, variant), results in rows.items():
        good = [r for r in results if "error" not in r]
        row = {"task": task, "variant": variant, "rounds": len(good)}
        if not good:
            row["error"] = results[-1]["error"]
            summary.append(row)
            continue

        def median(field, good=good):
            values = [r[field] for r in good if r.get(field) is not None]
            return statistics.median(values) if values else None

        tokens = [r["tokens_per_second"] for r in good]
        ceiling = (
            bfloat16_ceiling if "bfloat16" in good[0]["dtype"] else float32_ceiling
        )
        row.update(
            {
                "backend": good[0]["backend"],
                "dtype": good[0]["dtype"],
                "quantize": good[0].get("quantize"),
                "tokens_per_second": median("tokens_per_second"),
                "tokens_per_second_range": [min(tokens), max(tokens)],
                "step_seconds": median("step_seconds_median"),
                "compile_seconds": median("compile_seconds"),
                "peak_rss_bytes": median("peak_rss_bytes"),
                "reference_seconds": median("reference_seconds"),
                "padding_fraction": median("padding_fraction"),
                "flops_per_second": median("flops_per_second"),
                "ceiling_fraction": median("flops_per_second") / ceiling,
                "trainable_parameters": good[0].get("trainable_parameters"),
                "recomputes": good[0].get("recomputes"),
                "malloc": parse_variant(variant)["malloc"],
            }
        )
        summary.append(row)
    for row in summary:
        if "error" in row:
            continue
        trl = trl_counterpart(summary, row)
        if trl:
            row["vs_trl"] = row["tokens_per_second"] / trl["tokens_per_second"]
            row["vs_trl_variant"] = trl["variant"]
    frameworks = {
        dtype: sorted({c[dtype].get("framework", "jax") for c in ceilings})
        for dtype in ("float32", "bfloat16")
    }
    return summary, {
        "float32": float32_ceiling,
        "bfloat16": bfloat16_ceiling,
        "frameworks": frameworks,
    }


TRL_VARIANT_BY_DTYPE = {
    "float32": "trl",
    "bfloat16": "trl-bf16",
    "mixed_bfloat16": "trl-mixed",
}


def trl_counterpart(summary, row):
    """The TRL row to compare `row` with: same task and dtype, and the same
    recomputation (gradient checkpointing) when the run has it; else TRL's
    default in that dtype. `None` when the run has neither."""
    default = TRL_VARIANT_BY_DTYPE.get(row.get("dtype"), "trl")
    candidates = [default]
    if row.get("recomputes") is False:
        candidates.insert(0, f"{default}-noremat")
    if row.get("malloc"):
        # Compare with TRL under the same glibc settings.
        candidates = [f"{name}-malloc" for name in candidates]
    for name in candidates:
        for other in summary:
            if (
                other["task"] == row["task"]
                and other["variant"] == name
                and "error" not in other
            ):
                return other
    return None


def ceiling_frameworks(report, dtype):
    return ", ".join(report["ceiling"].get("frameworks", {}).get(dtype, ["jax"]))


def markdown(report):
    lines = [
        f"# kerasalign vs TRL + PEFT: {report['config_name']} config",
        "",
        f"- Date: {report['date']}",
        f"- Machine: {report['machine'].get('accelerator') or ''} {report['machine']['cpu']} "
        f"({', '.join(report['machine'].get('cpu_flags') or ['flags unknown'])}), "
        f"{report['machine']['cores']} cores, "
        f"{(report['machine']['memory_bytes'] or 0) / 2**30:.0f} GiB; "
        f"load average before/after: {report['load_before']} / {report['load_after']}",
        "- Versions: "
        + ", ".join(
            f"{name} {version}" for name, version in report["versions"].items()
        ),
        f"- Model: {json.dumps(report['config'])}",
        f"- Batch {report['settings']['batch_size']} x {report['settings']['sequence_length']} "
        f"tokens, LoRA rank {report['settings']['lora_rank']} on query and value, "
        f"{report['settings']['warmup']} warm-up + {report['settings']['steps']} timed steps, "
        f"{report['settings']['repeats']} interleaved rounds; medians over rounds.",
        f"- Matmul ceiling ({report['settings'].get('ceiling_size', 2048)}^3, the fastest of "
        "JAX, TensorFlow and PyTorch, best of 10 calls (one for a kernel slower than "
        f"{common.SLOW_MATMUL_CALL_SECONDS:g} s), median over rounds): "
        f"{report['ceiling']['float32'] / 1e9:.0f} GFLOP/s float32 "
        f"({ceiling_frameworks(report, 'float32')}), "
        f"{report['ceiling']['bfloat16'] / 1e9:.0f} GFLOP/s bfloat16 "
        f"({ceiling_frameworks(report, 'bfloat16')}).",
        "- `trl` runs TRL's defaults, gradient checkpointing included (TRL 1.x turns it "
        "on in every trainer config); `trl-noremat` turns it off. `vs TRL` compares with "
        "TRL in the same dtype (`trl-bf16` for bfloat16, `trl-mixed` for mixed_bfloat16) "
        "and, when the run has it, the same recomputation: rows without `-remat` against "
        "`trl-noremat`; the TRL row used is named in brackets.",
        (
            "- SFT rows have mixed lengths (1/8 to all of the sequence length); "
            "tokens/s counts real tokens over the mean timed step; `pad` is the "
            "share of computed positions that are padding."
            if report["settings"].get("mixed_lengths")
            else "- Every row is full (no padding)."
        ),
        "- DPO and reward: tokens count both sequences of each pair; DPO uses "
        "precomputed reference log-probs on both sides (time in `ref s`, not in "
        "the steps).",
        "",
        "| task | variant | tokens/s (min-max) | step s | compile s | peak RSS GB "
        "| ref s | pad | GFLOP/s | % of ceiling | vs TRL |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["summary"]:
        if "error" in row:
            error = row["error"].splitlines()[-1][:80] if row["error"] else "failed"
            lines.append(
                f"| {row['task']} | {row['variant']} | failed: {error} ||||||||||"
            )
            continue
        low, high = row["tokens_per_second_range"]
        reference = row.get("reference_seconds")
        padding = row.get("padding_fraction")
        versus = (
            f"{row['vs_trl']:.2f}x ({row['vs_trl_variant']})"
            if "vs_trl" in row
            else "-"
        )
        lines.append(
            f"| {row['task']} | {row['variant']} | {row['tokens_per_second']:,.0f} "
            f"({low:,.0f}-{high:,.0f}) | {row['step_seconds']:.2f} "
            f"| {row['compile_seconds']:.1f} | {row['peak_rss_bytes'] / 1e9:.2f} "
            f"| {'' if reference is None else f'{reference:.1f}'} "
            f"| {'' if padding is None else f'{100 * padding:.0f}%'} "
            f"| {row['flops_per_second'] / 1e9:.0f} | {100 * row['ceiling_fraction']:.0f}% "
            f"| {versus} |"
        )
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    output = pathlib.Path(args.output)
    (output / "runs").mkdir(parents=True, exist_ok=True)
    # The token ids every worker reads: generated again from the seed, so kept
    # out of the output folder (results are committed, this file need not be).
    with tempfile.TemporaryDirectory(prefix="kerasalign-bench-") as scratch:
        return run_benchmark(args, output, pathlib.Path(scratch) / "data.npz")


def run_benchmark(args, output, data_path):
    config = common.CONFIGS[args.config]
    rows = (args.warmup + args.steps) * args.batch_size
    np.savez(
        data_path,
        **common.make_sft_data(
            config, rows, args.sequence_length, mixed_lengths=args.mixed_lengths
        ),
        **common.make_preference_data(config, rows, args.sequence_length),
    )
    plan = []
    for task in args.tasks:
        names = (args.variants or DEFAULT_VARIANTS[task]).split(",")
        for name in names:
            spec = parse_variant(name.strip())
            if spec["framework"] == "keras_hub" and task != "sft":
                continue
            plan.append((task, name.strip(), spec))
    report = {
        "config_name": args.config,
        "config": config,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "machine": common.machine_description(),
        "versions": versions(),
        "settings": {
            key: getattr(args, key)
            for key in (
                "batch_size",
                "sequence_length",
                "lora_rank",
                "mixed_lengths",
                "warmup",
                "steps",
                "repeats",
                "ceiling_size",
            )
        },
        "load_before": load_average(),
    }
    runs, ceilings = [], []
    for round_index in range(args.repeats):
        ceiling = measure_ceiling(output, args.ceiling_size)
        if ceiling:
            ceilings.append(ceiling)
        shift = round_index % len(plan)
        for task, name, spec in plan[shift:] + plan[:shift]:
            out_path = output / "runs" / f"{task}-{name}-{round_index}.json"
            print(
                f"round {round_index + 1}/{args.repeats}: {task} {name} ...", flush=True
            )
            result = run_worker(spec, task, args, data_path, out_path)
            result.update(
                task=task, variant=name, round=round_index, recomputes=spec["remat"]
            )
            if "error" in result:
                print(f"  failed: {result['error'].splitlines()[-1:]}", flush=True)
            else:
                print(
                    f"  {result['tokens_per_second']:,.0f} tokens/s, "
                    f"step {result['step_seconds_median']:.2f} s",
                    flush=True,
                )
            runs.append(result)
    if not ceilings:
        raise SystemExit("the matmul ceiling could not be measured")
    report["load_after"] = load_average()
    report["summary"], report["ceiling"] = aggregate(runs, ceilings)
    report["ceilings"] = ceilings
    report["runs"] = runs
    (output / "results.json").write_text(json.dumps(report, indent=2))
    table = markdown(report)
    (output / "results.md").write_text(table)
    print(table)
    failed = [row for row in report["summary"] if "error" in row]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
