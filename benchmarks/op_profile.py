"""Where a JAX training step spends its time: XLA ops from a profiler trace.

`keras_worker.py --profile DIR` traces one timed step with `jax.profiler`
and summarises it with `summarise_trace(DIR)`: the step's wall time, how
long 0, 1, 2, ... XLA ops ran at once (on a 2-core CPU, time with one op
running is time with a core idle unless that op threads itself), and the op
kinds that took the most time (`ynn_fusion` are dot fusions run by
YNNPACK, `*_fusion` elementwise or reduction fusions), and the wall time
with only dots, only other ops, both or nothing running. This is how the
argmax of Keras' `SparseCategoricalAccuracy` (240 ms of a 3.9 s SFT step on
the small config, one core, at the end of the step) was found.

    KERAS_BACKEND=jax python benchmarks/keras_worker.py --data data.npz \
        --config small --task sft --profile /tmp/trace --out result.json
    python benchmarks/op_profile.py /tmp/trace

Example (a trace of one jitted matmul):

>>> import tempfile, jax, jax.numpy as jnp
>>> directory = tempfile.mkdtemp()
>>> f = jax.jit(lambda x: jnp.tanh(x @ x))
>>> x = jnp.ones((256, 256))
>>> _ = f(x).block_until_ready()
>>> with jax.profiler.trace(directory):
...     _ = f(x).block_until_ready()
>>> summary = summarise_trace(directory)
>>> summary["op_seconds"] > 0
True
"""

import collections
import glob
import os
import re
import sys

# Events that wrap or wait for XLA ops rather than being ops themselves.
_WRAPPERS = ("ThunkExecutor::", "SlinkyThreadPool::", "end:")
_STEP_EVENT = "ThunkExecutor::Execute (wait for completion)"


def latest_trace_file(directory):
    """The newest `*.xplane.pb` under `directory` (what `jax.profiler` writes)."""
    files = glob.glob(os.path.join(directory, "**", "*.xplane.pb"), recursive=True)
    if not files:
        raise FileNotFoundError(f"no *.xplane.pb trace under {directory}")
    return max(files, key=os.path.getmtime)


def op_kind(name):
    """`ynn_fusion.145` -> `ynn_fusion`: the op without its instance number."""
    return re.sub(r"[.\d]+$", "", name)


def _op_events(profile):
    """(start_ns, end_ns, name) of each XLA op, and the longest step window."""
    ops, window = [], None
    for plane in profile.planes:
        for line in plane.lines:
            if line.name == "python":
                continue
            for event in line.events:
                start, end = event.start_ns, event.start_ns + event.duration_ns
                if event.name == _STEP_EVENT:
                    if window is None or end - start > window[1] - window[0]:
                        window = (start, end)
                elif not event.name.startswith(_WRAPPERS):
                    ops.append((start, end, event.name))
    return ops, window


def _seconds_by_state(ops, window, kind_of, state_of):
    """Seconds of `window` spent in each state of the running ops.

    `kind_of(name)` sorts each op into a kind; `state_of(running)` names the
    state from a Counter of how many ops of each kind run at that moment.
    """
    edges = []
    for start, end, name in ops:
        if end > window[0] and start < window[1]:
            kind = kind_of(name)
            edges += [(max(start, window[0]), 1, kind), (min(end, window[1]), -1, kind)]
    edges.sort()
    running, seconds, last = collections.Counter(), collections.Counter(), window[0]
    for time_ns, change, kind in edges:
        seconds[state_of(running)] += (time_ns - last) / 1e9
        running[kind] += change
        last = time_ns
    seconds[state_of(running)] += (window[1] - last) / 1e9
    return seconds


def concurrency(ops, window):
    """Seconds of `window` during which exactly k ops ran, for each k."""
    seconds = _seconds_by_state(ops, window, lambda name: "op", lambda r: r["op"])
    return {k: v for k, v in sorted(seconds.items()) if v > 0}


# Op kinds that are matrix products: XLA:CPU's library fusions and plain dots.
_DOT_PREFIXES = ("ynn_fusion", "xnn_fusion", "onednn", "dot", "custom-call")


def is_dot(name):
    """Whether an op (by its trace name) is a matrix product."""
    return name.startswith(_DOT_PREFIXES)


def _activity(running):
    dots, other = running["dots"] > 0, running["other"] > 0
    return ("both" if other else "dots") if dots else ("other" if other else "idle")


def wall_by_activity(ops, window):
    """Seconds of `window` with only dots, only other ops, both, or nothing running."""
    seconds = _seconds_by_state(
        ops, window, lambda name: "dots" if is_dot(name) else "other", _activity
    )
    return {key: seconds[key] for key in ("dots", "other", "both", "idle")}


def summarise_trace(directory, top=15):
    """A dict: `step_seconds`, `op_seconds` (summed over threads),
    `seconds_with_k_ops_running`, `wall_seconds_running` (only dots, only
    other ops, both, idle) and `top_ops` (kind, seconds, count)."""
    import jax

    profile = jax.profiler.ProfileData.from_file(latest_trace_file(directory))
    ops, window = _op_events(profile)
    if window is None and ops:
        window = (min(s for s, _, _ in ops), max(e for _, e, _ in ops))
    seconds, counts = collections.Counter(), collections.Counter()
    for start, end, name in ops:
        seconds[op_kind(name)] += (end - start) / 1e9
        counts[op_kind(name)] += 1
    return {
        "step_seconds": (window[1] - window[0]) / 1e9 if window else 0.0,
        "op_seconds": sum(seconds.values()),
        "seconds_with_k_ops_running": concurrency(ops, window) if window else {},
        "wall_seconds_running": wall_by_activity(ops, window) if window else {},
        "top_ops": [
            {"kind": kind, "seconds": value, "count": counts[kind]}
            for kind, value in seconds.most_common(top)
        ],
    }


def markdown(summary):
    """The summary as a short markdown report."""
    running = ", ".join(
        f"{k}: {v:.2f} s" for k, v in summary["seconds_with_k_ops_running"].items()
    )
    lines = [
        f"- Step: {summary['step_seconds']:.2f} s; XLA ops: "
        f"{summary['op_seconds']:.2f} s summed over threads",
        f"- Seconds with k ops running at once: {running}",
        "- Wall seconds running only dots / only other ops / both / nothing: "
        + " / ".join(f"{v:.2f}" for v in summary["wall_seconds_running"].values()),
        "",
        "| op kind | seconds | count |",
        "|---|---|---|",
    ]
    lines += [
        f"| {op['kind']} | {op['seconds']:.3f} | {op['count']} |"
        for op in summary["top_ops"]
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python benchmarks/op_profile.py TRACE_DIRECTORY")
    print(markdown(summarise_trace(sys.argv[1])))
