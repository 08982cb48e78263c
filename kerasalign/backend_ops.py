"""The one place where kerasalign imports JAX, TensorFlow or PyTorch.

Keras 3 has no backend-neutral gradient function: `keras.ops` computes
values on every backend, but differentiating them is each backend's own
business (`jax.grad`, `tf.GradientTape`, `torch.autograd`). Everything else
in kerasalign uses `keras` and `keras.ops` only and calls this module when it
needs a gradient.

Examples:

>>> import keras
>>> value, gradient = value_and_grad(
...     lambda x: keras.ops.sum(x * x), keras.ops.convert_to_tensor([1.0, 2.0]))
>>> float(value), keras.ops.convert_to_numpy(gradient).tolist()
(5.0, [2.0, 4.0])
"""

import keras


def value_and_grad(fn, x):
    """Evaluate a scalar function and its gradient with respect to `x`.

    The gradient is taken with respect to `x` only: Keras variables used by
    `fn` are held constant (no gradient is accumulated into them).

    Args:
        fn: callable. Maps a tensor shaped like `x` to a scalar tensor, using
            `keras.ops` and Keras layers.
        x: tensor. The point at which to differentiate (a floating dtype).

    Returns:
        `(value, gradient)`: the scalar `fn(x)` and a tensor shaped like `x`,
        both backend tensors.

    Examples:

    >>> import keras
    >>> x = keras.ops.convert_to_tensor([[3.0]])
    >>> value, gradient = value_and_grad(lambda t: keras.ops.sum(t ** 3), x)
    >>> keras.ops.convert_to_numpy(gradient).tolist()
    [[27.0]]
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.value_and_grad(fn)(x)
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            tape.watch(x)
            value = fn(x)
        return value, tape.gradient(value, x)
    if backend == "torch":
        import torch

        leaf = x.detach().requires_grad_(True)
        with torch.enable_grad():
            value = fn(leaf)
            (gradient,) = torch.autograd.grad(value, leaf)
        return value.detach(), gradient
    raise NotImplementedError(
        f"Gradients are implemented for the jax, tensorflow and torch backends; "
        f"the current Keras backend is {backend!r}."
    )
