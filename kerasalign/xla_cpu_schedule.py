"""XLA's CPU compiler on the JAX backend: schedule a step for memory, not concurrency.

XLA orders the operations of a compiled step with a scheduler. On CPU,
jaxlib's default favours running independent operations at the same time
(`--xla_cpu_enable_concurrency_optimized_scheduler`, on by default): in a
training step it starts recomputations and gradient pieces early, so their
buffers are all alive at once. With two cores there is little to gain from
that and much memory to lose. Measured on DPO (the issue's small Gemma
config, batch 8 pairs x 256 tokens, LoRA, float32, JAX 0.10.2, a 2-core AMD
EPYC; `benchmarks/results-cpu-schedule/dpo/`): peak RSS 6.18 -> 4.34 GB at
445 -> 523 tokens/s; with block remat and 32-position log-prob chunks
3.82 -> 2.61 GB. The reward model: 4.85 -> 3.60 GB. SFT was unchanged;
TensorFlow's XLA ignores the flag.

`import kerasalign` (and the `kerasalign` command, once it has chosen the
backend) turns the scheduler off by adding
`--xla_cpu_enable_concurrency_optimized_scheduler=false` to `XLA_FLAGS`,
which JAX reads when it creates its CPU client (on the first computation,
so import kerasalign before running JAX code). It does nothing when:

- the Keras backend is not JAX (`KERAS_BACKEND`, else `keras.json`);
- `XLA_FLAGS` already names the flag: your choice wins. To keep XLA's
  default, set `XLA_FLAGS=--xla_cpu_enable_concurrency_optimized_scheduler=true`;
- the installed jaxlib does not know the flag (XLA aborts the process on an
  unknown flag in `XLA_FLAGS`, so kerasalign looks for the flag's name in
  jaxlib's library first).

Examples:

>>> environ = {"KERAS_BACKEND": "jax", "XLA_FLAGS": "--xla_dump_to=/tmp/hlo"}
>>> prefer_memory_schedule(environ, jaxlib_knows_flag=lambda: True)
True
>>> environ["XLA_FLAGS"]
'--xla_dump_to=/tmp/hlo --xla_cpu_enable_concurrency_optimized_scheduler=false'
>>> prefer_memory_schedule({"KERAS_BACKEND": "torch"}, jaxlib_knows_flag=lambda: True)
False
"""

import functools
import importlib.util
import json
import mmap
import os
import pathlib

FLAG = "xla_cpu_enable_concurrency_optimized_scheduler"
# The shared library that holds XLA's flag definitions in jaxlib 0.6 to 0.10.
JAXLIB_LIBRARY = "libjax_common.so"


def keras_backend_name(environ=None):
    """The backend Keras will load, read without importing Keras.

    `KERAS_BACKEND` if set, else the `backend` of `$KERAS_HOME/keras.json`
    (default `~/.keras`), else Keras' own default, TensorFlow.
    """
    environ = os.environ if environ is None else environ
    if environ.get("KERAS_BACKEND"):
        return environ["KERAS_BACKEND"]
    home = environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        config = json.loads(pathlib.Path(home, "keras.json").read_text())
        return str(config.get("backend", "tensorflow"))
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


@functools.lru_cache(maxsize=1)
def jaxlib_knows_flag():
    """Whether the installed jaxlib defines `FLAG` (its name is in the library)."""
    try:
        spec = importlib.util.find_spec("jaxlib")
    except (ImportError, ValueError):
        return False
    if spec is None or not spec.submodule_search_locations:
        return False
    needle = FLAG.encode()
    for folder in spec.submodule_search_locations:
        library = pathlib.Path(folder, JAXLIB_LIBRARY)
        try:
            with open(library, "rb") as file, mmap.mmap(
                file.fileno(), 0, access=mmap.ACCESS_READ
            ) as data:
                if data.find(needle) >= 0:
                    return True
        except (OSError, ValueError):
            continue
    return False


def flag_applies(environ=None, jaxlib_knows_flag=jaxlib_knows_flag):
    """Whether `FLAG` may go into `XLA_FLAGS`: Keras runs on JAX and jaxlib defines it."""
    return keras_backend_name(environ) == "jax" and jaxlib_knows_flag()


def prefer_memory_schedule(environ=None, jaxlib_knows_flag=jaxlib_knows_flag):
    """Add `--<FLAG>=false` to `XLA_FLAGS` on the JAX backend; see the module docstring.

    Args:
        environ: the environment to change. Defaults to `os.environ`.
        jaxlib_knows_flag: a callable that says whether jaxlib defines the
            flag. Defaults to looking for its name in jaxlib's library.

    Returns:
        `True` when the flag was added, `False` when nothing changed.
    """
    environ = os.environ if environ is None else environ
    flags = environ.get("XLA_FLAGS", "")
    if FLAG in flags or not flag_applies(environ, jaxlib_knows_flag):
        return False
    environ["XLA_FLAGS"] = f"{flags} --{FLAG}=false".strip()
    return True
