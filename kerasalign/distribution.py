"""Data and model parallel training with `keras.distribution` (JAX backend).

Beyond one device kerasalign uses Keras' own engine, the one that runs Gemma
on TPU pods: a `keras.distribution.DeviceMesh` with a `"batch"` axis (data
parallel: each device gets a slice of the batch) and a `"model"` axis (model
parallel: each weight is split across devices as a `LayoutMap` says).

- `data_parallel()` replicates every weight and splits the batch.
- `model_parallel(model_parallel=k)` builds a `(n / k, k)` mesh and shards
  the backbone's kernels with `gemma_layout_map`: the rules of KerasHub's
  `GemmaBackbone.get_layout_map` (the Gemma team's sharding: heads and the
  feed-forward width on `"model"`, the hidden size on `"batch"`, as in FSDP).
  Gemma, Gemma 2 and Gemma 3 backbones name their weights alike, so the same
  rules serve all three (KerasHub 0.32 has no `Gemma3Backbone.get_layout_map`).

KerasHub's rules shard the key and value heads on `"model"`, which fails for
Gemma's multi-query attention (Gemma 2B, Gemma 3 270M and 1B have a single
key/value head: "array axis 0 is partitioned 4 times, but the dimension size
is 1"). The distribution returned here keeps a weight dimension whole where
the mesh axis does not divide it, and replicates a weight whose rank does not
fit its rule (LoRA factors, int8 scales), instead of failing.

Create the model and train it inside the distribution's scope (or after
`keras.distribution.set_distribution(distribution)`): layouts are chosen when
variables are created, and `fit` splits each batch across the `"batch"` axis
(the batch size must be a multiple of its size).

Examples:

>>> import keras, kerasalign
>>> if keras.config.backend() == "jax":
...     distribution = model_parallel(model_parallel=1)
...     with distribution.scope():
...         model = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
...     spec = sharding_specs(model)["token_embedding/embeddings"]
"""

import keras

from kerasalign.errors import KerasAlignError

BATCH_AXIS = "batch"
MODEL_AXIS = "model"


def check_jax_backend(feature="kerasalign.distribution"):
    """Raise a clear error unless the Keras backend is JAX."""
    backend = keras.config.backend()
    if backend != "jax":
        raise KerasAlignError(
            f"{feature} needs the JAX backend (keras.distribution shards "
            f"weights on JAX only); the current backend is {backend!r}. Set "
            "KERAS_BACKEND=jax before importing keras."
        )


def _devices(devices):
    if devices is None:
        return keras.distribution.list_devices()
    devices = list(devices)
    if not devices:
        raise KerasAlignError("devices must name at least one device.")
    return devices


def device_mesh(model_parallel=1, devices=None):
    """A 2D `DeviceMesh` with axes `("batch", "model")`.

    Args:
        model_parallel: int. Devices that share each weight (size of the
            `"model"` axis); the rest form the `"batch"` axis. Defaults to 1.
        devices: list of device names (`keras.distribution.list_devices()`
            strings). Defaults to `None` (every device).

    Returns:
        A `keras.distribution.DeviceMesh` of shape
        `(len(devices) // model_parallel, model_parallel)`.
    """
    check_jax_backend()
    devices = _devices(devices)
    if (
        isinstance(model_parallel, bool)
        or not isinstance(model_parallel, int)
        or model_parallel < 1
        or len(devices) % model_parallel
    ):
        raise KerasAlignError(
            f"model_parallel must be a positive integer that divides the "
            f"number of devices ({len(devices)}). Received: "
            f"model_parallel={model_parallel!r}"
        )
    return keras.distribution.DeviceMesh(
        shape=(len(devices) // model_parallel, model_parallel),
        axis_names=(BATCH_AXIS, MODEL_AXIS),
        devices=devices,
    )


def gemma_layout_map(mesh, model_dim=MODEL_AXIS, data_dim=BATCH_AXIS):
    """The `LayoutMap` of a Gemma, Gemma 2 or Gemma 3 backbone.

    The same rules as KerasHub's `GemmaBackbone.get_layout_map`. Use it
    with `model_parallel()` (or `GemmaModelParallel`), which adapts each
    rule to the weight's shape; plain `keras.distribution.ModelParallel`
    fails on single key/value head models.

    Args:
        mesh: `keras.distribution.DeviceMesh` with both axes.
        model_dim: str. The mesh axis weights are split on.
            Defaults to `"model"`.
        data_dim: str. The mesh axis the batch is split on.
            Defaults to `"batch"`.

    Returns:
        A `keras.distribution.LayoutMap`.
    """
    for axis in (model_dim, data_dim):
        if axis not in mesh.axis_names:
            raise KerasAlignError(
                f"The device mesh has axes {list(mesh.axis_names)}, not {axis!r}."
            )
    layout_map = keras.distribution.LayoutMap(mesh)
    layout_map["token_embedding/embeddings"] = (model_dim, data_dim)
    layout_map["decoder_block.*attention.*(query|key|value).kernel"] = (
        model_dim,
        data_dim,
        None,
    )
    layout_map["decoder_block.*attention_output.kernel"] = (model_dim, None, data_dim)
    layout_map["decoder_block.*ffw_gating.kernel"] = (data_dim, model_dim)
    layout_map["decoder_block.*ffw_gating_2.kernel"] = (data_dim, model_dim)
    layout_map["decoder_block.*ffw_linear.kernel"] = (model_dim, data_dim)
    return layout_map


def fitted_axes(axes, shape, mesh):
    """Adapt a layout's axes to a weight's shape.

    A mesh axis that does not divide its dimension is dropped (that
    dimension is replicated); a layout of another rank than the weight
    replicates the whole weight.

    Args:
        axes: tuple of mesh axis names or `None`, one per dimension.
        shape: tuple of ints. The weight's shape.
        mesh: `keras.distribution.DeviceMesh`.

    Returns:
        A tuple of axis names or `None`, one per dimension of `shape`.

    Examples:

    >>> class Mesh:
    ...     axis_names, shape = ("batch", "model"), (2, 4)
    >>> fitted_axes(("model", "batch", None), (1, 128, 32), Mesh())
    (None, 'batch', None)
    >>> fitted_axes(("model", "batch", None), (4, 128), Mesh())
    (None, None)
    """
    if len(axes) != len(shape):
        return (None,) * len(shape)
    sizes = dict(zip(mesh.axis_names, mesh.shape, strict=True))
    return tuple(
        axis if axis is None or (dim is not None and dim % sizes[axis] == 0) else None
        for axis, dim in zip(axes, shape, strict=True)
    )


class GemmaModelParallel(keras.distribution.ModelParallel):
    """`keras.distribution.ModelParallel` that fits each layout to its weight.

    Like `ModelParallel`, but a layout-map rule whose mesh axis does not
    divide a weight's dimension (one key/value head over 4 devices) keeps
    that dimension whole, and a rule of the wrong rank (a LoRA factor or an
    int8 scale whose path matches a kernel's rule) replicates the weight.

    Args:
        layout_map: `keras.distribution.LayoutMap` (see `gemma_layout_map`).
        batch_dim_name: str. The mesh axis of the batch.
            Defaults to `"batch"`.
        **kwargs: passed to `keras.distribution.ModelParallel`.
    """

    def get_variable_layout(self, variable):
        layout = super().get_variable_layout(variable)
        axes = fitted_axes(tuple(layout.axes), tuple(variable.shape), self.device_mesh)
        if axes == tuple(layout.axes):
            return layout
        return keras.distribution.TensorLayout(axes, self.device_mesh)


def data_parallel(devices=None):
    """Replicate the model on every device and split each batch among them.

    Args:
        devices: list of device names. Defaults to `None` (every device).

    Returns:
        A `keras.distribution.DataParallel`.
    """
    check_jax_backend()
    return keras.distribution.DataParallel(devices=_devices(devices))


def model_parallel(model_parallel=None, devices=None, layout_map=None):
    """Shard a Gemma-family model's weights over a `("batch", "model")` mesh.

    Args:
        model_parallel: int. Size of the `"model"` axis: how many devices
            share each weight. Defaults to `None` (every device).
        devices: list of device names. Defaults to `None` (every device).
        layout_map: `keras.distribution.LayoutMap`. Defaults to `None`
            (`gemma_layout_map` on the new mesh).

    Returns:
        A `GemmaModelParallel` distribution.
    """
    check_jax_backend()
    devices = _devices(devices)
    mesh = device_mesh(model_parallel or len(devices), devices)
    if layout_map is None:
        layout_map = gemma_layout_map(mesh)
    return GemmaModelParallel(layout_map=layout_map, batch_dim_name=BATCH_AXIS)


def sharding_specs(model):
    """How each of a model's weights is laid out across devices.

    Args:
        model: a Keras model or layer (a CausalLM reports its backbone).

    Returns:
        `{weight path: tuple}` giving, per dimension, the mesh axis it is
        split on or `None`; a weight on a single device has all `None`.
    """
    check_jax_backend("sharding_specs")
    model = getattr(model, "backbone", model)
    specs = {}
    for variable in model.weights:
        sharding = getattr(variable.value, "sharding", None)
        spec = tuple(getattr(sharding, "spec", ()) or ())
        spec = spec + (None,) * (len(variable.shape) - len(spec))
        specs[variable.path] = spec
    return specs
