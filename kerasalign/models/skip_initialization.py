"""Build models without drawing random initial weights that are overwritten.

Building Gemma 3 270M draws about 270M random numbers (a `VarianceScaling`
normal for the 262,144 x 640 embedding, Glorot uniforms for the kernels): on
the JAX CPU backend that takes about 10 s, longer than reading the real
weights. When every variable is overwritten right after the build (a GGUF
conversion, `from_preset`), those draws are wasted. Keras offers no public
switch to defer initialization that survives a later `StatelessScope` (as
`generate` uses), so this context manager makes `VarianceScaling` (and its
subclasses: Glorot, He, LeCun) return zeros while it is active.
"""

import contextlib
import threading

import keras

_patch_lock = threading.RLock()


def _zeros_initializer_call(self, shape, dtype=None):
    return keras.ops.zeros(shape, dtype=dtype or keras.config.floatx())


@contextlib.contextmanager
def skip_random_initialization():
    """Make `VarianceScaling`-family initializers return zeros inside the block.

    Use it only around code that overwrites every variable it creates, such as
    `Gemma3CausalLM.from_preset(...)` or a build followed by loading all
    weights: a variable left unassigned would stay zero.

    Examples:

    >>> with skip_random_initialization():
    ...     layer = keras.layers.Dense(2)
    ...     layer.build((None, 3))
    >>> float(keras.ops.sum(keras.ops.abs(layer.kernel)))
    0.0
    >>> layer = keras.layers.Dense(2)
    >>> layer.build((None, 3))
    >>> float(keras.ops.sum(keras.ops.abs(layer.kernel))) > 0
    True
    """
    initializer_class = keras.initializers.VarianceScaling
    with _patch_lock:
        original_call = initializer_class.__call__
        initializer_class.__call__ = _zeros_initializer_call
        try:
            yield
        finally:
            initializer_class.__call__ = original_call
