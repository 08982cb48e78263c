"""The one place where kerasalign imports JAX, TensorFlow or PyTorch.

Keras 3 has no backend-neutral gradient function: `keras.ops` computes
values on every backend, but differentiating them is each backend's own
business (`jax.grad`, `tf.GradientTape`, `torch.autograd`). Everything else
in kerasalign uses `keras` and `keras.ops` only and calls this module when it
needs a gradient, or asks the backend what devices it sees.

On JAX the gradient function is compiled with `jax.jit`: run eagerly, JAX
compiles every operation separately for every new input shape, which took
about a minute per prompt length for a tiny two-layer Gemma here. The Keras
variables the function reads are passed to the compiled function as
arguments (through `keras.StatelessScope`, as Keras' own JAX trainer does),
so that their values are not baked into the program as constants.
TensorFlow and PyTorch run eagerly.

Examples:

>>> import keras
>>> value, gradient = value_and_grad(
...     lambda x: keras.ops.sum(x * x), keras.ops.convert_to_tensor([1.0, 2.0]))
>>> float(value), keras.ops.convert_to_numpy(gradient).tolist()
(5.0, [2.0, 4.0])
"""

import keras


def gradient_function(fn, *, variables=None):
    """Build `(x, *args) -> (fn(x, *args), d fn / d x)` for a scalar function.

    The gradient is taken with respect to `x` only: the other arguments and
    the Keras variables used by `fn` are held constant (no gradient is
    accumulated into them). Reuse the returned function: on JAX it is
    compiled once per shape of its arguments.

    Args:
        fn: callable. Maps a tensor `x` (and optional further tensors) to a
            scalar tensor, using `keras.ops` and Keras layers.
        variables: list of Keras variables that `fn` reads (e.g.
            `model.variables`). On JAX they become arguments of the compiled
            function; variables left out are compiled in as constants.
            Ignored by the other backends. Defaults to `None`.

    Returns:
        A function of `(x, *args)` returning `(value, gradient)`: the scalar
        `fn(x, *args)` and a tensor shaped like `x`, both backend tensors.

    Examples:

    >>> import keras
    >>> layer = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones")
    >>> square_norm = gradient_function(
    ...     lambda x: keras.ops.sum(layer(x) ** 2), variables=layer.variables)
    >>> value, gradient = square_norm(keras.ops.convert_to_tensor([[1.0, 2.0]]))
    >>> float(value), keras.ops.convert_to_numpy(gradient).tolist()
    (9.0, [[6.0, 6.0]])
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        variables = list(variables or [])

        def stateless(x, values, *args):
            with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
                return fn(x, *args)

        compiled = jax.jit(jax.value_and_grad(stateless))
        return lambda x, *args: compiled(x, [variable.value for variable in variables], *args)
    if backend == "tensorflow":
        import tensorflow as tf

        def tensorflow_value_and_grad(x, *args):
            with tf.GradientTape() as tape:
                tape.watch(x)
                value = fn(x, *args)
            return value, tape.gradient(value, x)

        return tensorflow_value_and_grad
    if backend == "torch":
        import torch

        def torch_value_and_grad(x, *args):
            leaf = x.detach().requires_grad_(True)
            with torch.enable_grad():
                value = fn(leaf, *args)
                (gradient,) = torch.autograd.grad(value, leaf)
            return value.detach(), gradient

        return torch_value_and_grad
    raise NotImplementedError(
        f"Gradients are implemented for the jax, tensorflow and torch backends; "
        f"the current Keras backend is {backend!r}."
    )


def value_and_grad(fn, x, *, variables=None):
    """Evaluate a scalar function and its gradient with respect to `x` once.

    `gradient_function(fn, variables=variables)(x)`; build the gradient
    function yourself to evaluate it at several points.

    Args:
        fn: callable. Maps a tensor shaped like `x` to a scalar tensor.
        x: tensor. The point at which to differentiate (a floating dtype).
        variables: list of Keras variables `fn` reads (see
            `gradient_function`). Defaults to `None`.

    Returns:
        `(value, gradient)`: the scalar `fn(x)` and a tensor shaped like `x`.

    Examples:

    >>> import keras
    >>> x = keras.ops.convert_to_tensor([[3.0]])
    >>> value, gradient = value_and_grad(lambda t: keras.ops.sum(t ** 3), x)
    >>> keras.ops.convert_to_numpy(gradient).tolist()
    [[27.0]]
    """
    return gradient_function(fn, variables=variables)(x)


def tensorflow_sees_a_gpu():
    """Whether TensorFlow lists a GPU (call only on the TensorFlow backend)."""
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def tensorflow_dataset(batches, on_pass_end=None):
    """A `tf.data.Dataset` over a sequence of batches whose shapes vary.

    Keras feeds a `keras.utils.PyDataset` to TensorFlow through a
    `tf.data.Dataset` whose shapes it fixes from the first two batches: when
    those two have the same length, a longer batch later fails inside
    `tf.data` ("yielded an element of shape (8, 128) where an element of
    shape (None, 64) was expected"). This dataset leaves every dimension free.

    Args:
        batches: a sequence of batches (`len` and indexing), each a tuple or
            dict of NumPy arrays with the first batch's structure and dtypes.
        on_pass_end: callable or `None`. Called after each full pass (what
            Keras calls `PyDataset.on_epoch_end` for).

    Returns:
        `tf.data.Dataset` of `len(batches)` elements, read again each epoch.
    """
    import tensorflow as tf

    def generate():
        for index in range(len(batches)):
            yield batches[index]
        if on_pass_end is not None:
            on_pass_end()

    signature = keras.tree.map_structure(
        lambda array: tf.TensorSpec((None,) * array.ndim, array.dtype), batches[0]
    )
    dataset = tf.data.Dataset.from_generator(generate, output_signature=signature)
    return dataset.apply(tf.data.experimental.assert_cardinality(len(batches)))


COMPILE_CACHE_ENV = "KERASALIGN_COMPILE_CACHE"


def default_compile_cache_directory():
    """`$KERASALIGN_COMPILE_CACHE`, else `~/.cache/kerasalign/jax-compile` (`None`: off)."""
    import os
    import pathlib

    configured = os.environ.get(COMPILE_CACHE_ENV)
    if configured is not None:
        return None if configured.strip().lower() in ("", "0", "off", "false") else configured
    cache_home = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return str(pathlib.Path(cache_home) / "kerasalign" / "jax-compile")


def enable_persistent_compile_cache(directory="default", min_compile_seconds=1.0):
    """On JAX, keep compiled programs on disk for the next process to reuse.

    Every `kerasalign` command, and every stage of `kerasalign align`, builds
    its model afresh, so JAX compiles the same training step and generation
    loop again; compiling one training step of Gemma 3 270M takes tens of
    seconds on a CPU. With this cache a program compiled once (same shapes,
    same model, same JAX version) is read back from disk instead. The command
    line turns it on; set `KERASALIGN_COMPILE_CACHE=off` to turn it off, or
    to a directory to put it there.

    Args:
        directory: str or None. Where to keep compiled programs. Defaults to
            `"default"`: a cache directory JAX already has (from
            `JAX_COMPILATION_CACHE_DIR`) is kept, else
            `default_compile_cache_directory()`. `None` turns nothing on.
        min_compile_seconds: float. Programs that compile faster than this
            are not stored. Defaults to `1.0`.

    Returns:
        The directory in use, or `None` (not JAX, or turned off).

    Examples:

    >>> enable_persistent_compile_cache(None) is None
    True
    """
    if keras.config.backend() != "jax":
        return None
    import jax

    if directory == "default":
        configured = jax.config.jax_compilation_cache_dir
        if configured:  # JAX_COMPILATION_CACHE_DIR or the user's own setting wins
            return configured
        directory = default_compile_cache_directory()
    if directory is None:
        return None
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", float(min_compile_seconds))
    return str(directory)
