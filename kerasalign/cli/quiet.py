"""Keep native libraries' start-up chatter off the terminal.

TensorFlow, JAX and SentencePiece print C++ log lines ("Could not find cuda
drivers", "failed call to cuInit", "precompiled_charsmap is empty") straight
to file descriptor 2 when they load, whatever Python's logging says. A user
of the command line should see only kerasalign's own messages, so the
commands load the backend and models with that descriptor pointed at
`/dev/null`. Set `KERASALIGN_VERBOSE=1` to see everything.

Examples:

>>> with silence_native_stderr():
...     pass
"""

import contextlib
import os
import sys


@contextlib.contextmanager
def silence_native_stderr():
    """Point file descriptor 2 at /dev/null for the duration of the block."""
    if os.environ.get("KERASALIGN_VERBOSE") == "1":
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real descriptor (e.g. some notebooks)
        yield
        return
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def preload_backend():
    """Import Keras, KerasHub and the backend quietly.

    On JAX the device list is also built here, since that is when JAX prints
    its CUDA probing messages; `keras.distribution` exists on JAX only. The
    persistent compile cache is turned on here too (see
    `backend_ops.enable_persistent_compile_cache`).
    """
    with silence_native_stderr():
        import keras
        import keras_hub  # noqa: F401

        if keras.config.backend() == "jax":
            keras.distribution.list_devices()
            from kerasalign.backend_ops import enable_persistent_compile_cache

            enable_persistent_compile_cache()
