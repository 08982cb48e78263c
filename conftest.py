"""Pytest set-up shared by tests/ and the docstring examples in kerasalign/.

The Keras backend comes from KERAS_BACKEND (jax by default); it must be set
before anything imports keras.
"""

import os

_CACHE_DIR = None

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# The tests run tiny models, where XLA's compile time (hundreds of small
# programs per test) dwarfs run time: skip the expensive LLVM passes (about a
# fifth off the suite on 2 cores), and let JAX reuse compiled programs across
# tests and the subprocesses they start (another twentieth). Set by the
# environment, they reach TensorFlow's XLA and subprocesses too.
os.environ.setdefault(
    "XLA_FLAGS",
    "--xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true",
)
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    import tempfile

    _CACHE_DIR = tempfile.mkdtemp(prefix="kerasalign-jax-cache-")
    os.environ["JAX_COMPILATION_CACHE_DIR"] = _CACHE_DIR
    os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
    os.environ["JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES"] = "-1"


def pytest_configure(config):
    """Freeze the objects of the heavy imports out of the garbage collector.

    TensorFlow, JAX, Keras and KerasHub leave about half a million objects
    that live as long as the process; every full `gc.collect()` (Keras calls
    one in each `clear_session()` and each time a layer drops a variable)
    would walk them all, about 0.16 s a time on a 2-core machine, thousands
    of times in the suite. Frozen, they are skipped.
    """
    import gc

    import keras  # noqa: F401
    import keras_hub  # noqa: F401

    import kerasalign.data  # noqa: F401
    import kerasalign.eval  # noqa: F401
    import kerasalign.trainers  # noqa: F401

    gc.collect()
    gc.freeze()


def pytest_unconfigure(config):
    if _CACHE_DIR is not None:
        import shutil

        shutil.rmtree(_CACHE_DIR, ignore_errors=True)
