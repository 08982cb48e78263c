"""int8 quantization of a Gemma backbone, for LoRA on a frozen int8 base.

This is the QLoRA idea with Keras' own int8 kernels: the frozen base weights
are stored as int8 with one float scale per output channel (4x smaller than
float32), and LoRA's float32 factors train on top. `load_causal_lm(...,
quantize="int8", lora_rank=r)` does it in the order KerasHub's QLoRA guide
uses and Keras 3.15 accepts: quantize, then enable LoRA (the reverse order
gives the same model in Keras 3.15, as LoRA factors stay float).

Every `EinsumDense` of the decoder blocks (attention and feed-forward
projections) uses Keras' default int8 scheme: int8 weights and dynamically
int8-quantized activations, with a straight-through gradient to the inputs.
The token embedding is quantized weight-only (its activations stay float):
in Keras 3.15 the output projection `token_embedding(x, reverse=True)` of an
int8 `ReversibleEmbedding` with quantized activations has no straight-through
gradient, so almost no gradient reaches the hidden states and LoRA barely
learns (measured on `tiny_gemma`: 10 steps lowered the loss from 9.02 to
8.92 instead of 7.26). Weight-only quantization keeps the gradient exact.

Only the base is quantized: LoRA factors, normalisation scales and the
optimizer state stay float32. On PyTorch, Keras dequantizes each int8 kernel
before its matmul (PyTorch has no float x int8 einsum), so it saves memory
but runs slower than float; and LoRA on an int8 base with a bfloat16 or
float16 compute dtype fails inside Keras 3.15 on PyTorch (its int8 LoRA
branch multiplies half-precision inputs by the float32 LoRA factor), so
`check_lora_on_int8` refuses it with a clear error: use float32 there, or
the JAX or TensorFlow backend.

Examples:

>>> import kerasalign
>>> model = kerasalign.load_causal_lm("tiny_gemma")
>>> quantize_int8(model)
>>> sorted(weight_bytes(model))
['float32', 'int8']
"""

import contextlib
import gc

import keras
import numpy as np

from kerasalign.errors import KerasAlignError

QUANTIZATION_MODES = ("int8",)
_HALF_DTYPES = ("bfloat16", "float16")


def check_quantize(quantize):
    """Validate a `quantize` argument: `None` or `"int8"`."""
    if quantize is not None and quantize not in QUANTIZATION_MODES:
        raise KerasAlignError(
            f"quantize must be one of [None, 'int8']. Received: quantize={quantize!r}"
        )


def is_quantized(model):
    """Whether any layer of the model's backbone holds quantized weights."""
    backbone = getattr(model, "backbone", model)
    return any(
        getattr(layer, "quantization_mode", None) is not None
        for layer in backbone._flatten_layers(include_self=False)
    )


def quantize_int8(model):
    """Quantize a CausalLM's backbone to int8 in place (before enabling LoRA).

    Args:
        model: `keras_hub.models.CausalLM` (Gemma, Gemma 2 or Gemma 3), or
            its backbone, without LoRA.

    Raises:
        KerasAlignError: if the model is already quantized or has LoRA
            enabled (quantize the base first, then enable LoRA).
    """
    backbone = getattr(model, "backbone", model)
    if is_quantized(backbone):
        raise KerasAlignError("The model is already quantized.")
    layers = list(backbone._flatten_layers(include_self=False))
    if any(getattr(layer, "lora_enabled", False) for layer in layers):
        raise KerasAlignError(
            "Quantize the base model before enabling LoRA: use "
            "load_causal_lm(preset, quantize='int8', lora_rank=r)."
        )
    token_embedding = backbone.token_embedding
    projections = {
        id(layer)
        for layer in layers
        if isinstance(layer, (keras.layers.EinsumDense, keras.layers.Dense))
    }
    if not projections:
        raise KerasAlignError(
            f"{type(backbone).__name__} has no Dense or EinsumDense layer to quantize."
        )
    with _one_garbage_collection():
        backbone.quantize("int8", filters=lambda layer: id(layer) in projections)
        weight_only = keras.quantizers.Int8QuantizationConfig(activation_quantizer=None)
        backbone.quantize(
            config=weight_only, filters=lambda layer: layer is token_embedding
        )


@contextlib.contextmanager
def _one_garbage_collection():
    """Run one `gc.collect()` at the end instead of one per replaced weight.

    Keras 3.15's `Layer.__delattr__` calls `gc.collect()` each time a layer
    drops a variable, and quantization drops every kernel: a full collection
    per layer, whose cost grows with everything else the process holds
    (measured 0.2 s each in a fresh process, several seconds per model in a
    long-running one). The freed buffers are the same after one collection.
    """
    collect = gc.collect
    gc.collect = lambda *args, **kwargs: 0
    try:
        yield
    finally:
        gc.collect = collect
        collect()


def _itemsize(dtype):
    if dtype in _HALF_DTYPES:
        return 2
    return np.dtype(dtype).itemsize


def check_lora_on_int8(model):
    """Refuse LoRA on an int8 base where Keras 3.15 cannot run it.

    Raises:
        KerasAlignError: on the PyTorch backend with a bfloat16 or float16
            compute dtype.
    """
    backbone = getattr(model, "backbone", model)
    compute_dtype = backbone.dtype_policy.compute_dtype
    if (
        keras.config.backend() == "torch"
        and compute_dtype in _HALF_DTYPES
        and is_quantized(backbone)
    ):
        raise KerasAlignError(
            f"LoRA on an int8 base with the {compute_dtype} compute dtype fails "
            "in Keras 3.15 on the PyTorch backend. Use dtype='float32', or the "
            "JAX or TensorFlow backend (KERAS_BACKEND=jax)."
        )


def weight_bytes(model):
    """Bytes held by the model's weights, by dtype.

    Args:
        model: a Keras model or layer.

    Returns:
        A dict `{dtype name: bytes}`, e.g. `{"float32": ..., "int8": ...}`.

    Examples:

    >>> import kerasalign
    >>> model = kerasalign.load_causal_lm("tiny_gemma")
    >>> list(weight_bytes(model))
    ['float32']
    """
    totals = {}
    for variable in model.weights:
        dtype = keras.backend.standardize_dtype(variable.dtype)
        size = 1
        for dim in variable.shape:
            size *= int(dim)
        totals[dtype] = totals.get(dtype, 0) + size * _itemsize(dtype)
    return totals
