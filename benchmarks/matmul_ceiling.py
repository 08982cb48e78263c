"""The machine's matmul ceiling: best FLOP/s of a large square matmul.

Run by `benchmarks/run.py` between the training runs, so that the ceiling is
measured under the same machine load. Each dtype is timed in JAX, TensorFlow
(oneDNN, no XLA) and PyTorch, where installed, and the ceiling is the fastest
of them: on CPUs with AMX or AVX512-BF16, oneDNN's bfloat16 matmul is several
times XLA's, so a JAX-only ceiling would understate what the machine can do.
Writes one JSON result with float32 and bfloat16 GFLOP/s per framework and
the best (best of several timed repetitions).

    python benchmarks/matmul_ceiling.py --out ceiling.json
"""

import argparse
import os
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402


def jax_matmul(dtype, size):
    import jax
    import jax.numpy as jnp

    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    a = jax.random.normal(keys[0], (size, size), dtype=jnp.float32).astype(dtype)
    b = jax.random.normal(keys[1], (size, size), dtype=jnp.float32).astype(dtype)
    matmul = jax.jit(lambda a, b: a @ b)
    return lambda: matmul(a, b).block_until_ready()


def tensorflow_matmul(dtype, size):
    import tensorflow as tf

    a = tf.cast(tf.random.normal((size, size), seed=0), dtype)
    b = tf.cast(tf.random.normal((size, size), seed=1), dtype)
    matmul = tf.function(lambda: tf.matmul(a, b), jit_compile=False)
    return lambda: matmul().numpy()


def torch_matmul(dtype, size):
    import torch

    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(getattr(torch, dtype))
    b = torch.randn(size, size, generator=generator).to(getattr(torch, dtype))
    return lambda: a @ b


FRAMEWORKS = {"jax": jax_matmul, "tensorflow": tensorflow_matmul, "torch": torch_matmul}


def measure(framework, dtype, size, repeats):
    run = FRAMEWORKS[framework](dtype, size)
    start = time.perf_counter()
    run()
    if time.perf_counter() - start > common.SLOW_MATMUL_CALL_SECONDS:
        repeats = 1
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    flops = 2 * size**3
    return {
        "size": size,
        "best_flops_per_second": flops / min(times),
        "median_flops_per_second": flops / sorted(times)[len(times) // 2],
        "repeats": repeats,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    result = {}
    for dtype in ("float32", "bfloat16"):
        per_framework = {}
        for framework in FRAMEWORKS:
            try:
                per_framework[framework] = measure(framework, dtype, args.size, args.repeats)
            except ImportError:
                continue
        best = max(per_framework, key=lambda name: per_framework[name]["best_flops_per_second"])
        result[dtype] = {**per_framework[best], "framework": best, "frameworks": per_framework}
    common.write_result(args.out, result)


if __name__ == "__main__":
    main()
