"""The machine's matmul ceiling: best FLOP/s of a large square matmul in JAX.

Run by `benchmarks/run.py` between the training runs, so that the ceiling is
measured under the same machine load. Writes one JSON result with float32
and bfloat16 GFLOP/s (best of several timed repetitions).

    python benchmarks/matmul_ceiling.py --out ceiling.json
"""

import argparse
import os
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import common  # noqa: E402


def measure(dtype, size, repeats):
    import jax
    import jax.numpy as jnp

    keys = jax.random.split(jax.random.PRNGKey(0), 2)
    a = jax.random.normal(keys[0], (size, size), dtype=jnp.float32).astype(dtype)
    b = jax.random.normal(keys[1], (size, size), dtype=jnp.float32).astype(dtype)
    matmul = jax.jit(lambda a, b: a @ b)
    matmul(a, b).block_until_ready()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, b).block_until_ready()
        times.append(time.perf_counter() - start)
    flops = 2 * size**3
    return {
        "size": size,
        "best_flops_per_second": flops / min(times),
        "median_flops_per_second": flops / sorted(times)[len(times) // 2],
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    result = {
        "float32": measure("float32", args.size, args.repeats),
        "bfloat16": measure("bfloat16", args.size, args.repeats),
    }
    common.write_result(args.out, result)


if __name__ == "__main__":
    main()
