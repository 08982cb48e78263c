"""Copy the tensors of a Gemma 3 GGUF file into a KerasHub `Gemma3Backbone`.

llama.cpp's Gemma 3 conversion (checked against llama.cpp's own outputs):

- every RMSNorm scale is stored as `1 + w` (Gemma's `x * (1 + w)` folded
  in), the query/key norms included; KerasHub keeps `w`, so 1 is subtracted;
- matrices come in Hugging Face layout `[out, in]`; Q and K are NOT permuted
  for Gemma (unlike llama), so only reshapes and transposes are needed;
- `token_embd` is the tied input/output embedding, unscaled (the backbone
  multiplies by sqrt(hidden_dim) itself).

Tensors are dequantized and assigned one at a time, the large embedding in
row blocks into a buffer of the variable's dtype, so the conversion never
holds a float32 copy of the whole model next to the variables.
"""

import functools

import keras
import numpy as np

from kerasalign.errors import PresetError

# Rows of the token embedding dequantized at once (16384 x 640 float32 = 40 MB).
EMBEDDING_ROW_BLOCK = 16384


def _norm_scale(array, shape):
    return array - 1.0


def _transposed(array, shape):
    return array.T


def _input_projection(array, shape):
    # [heads * head_dim, hidden] -> [heads, hidden, head_dim]
    heads, hidden, head_dim = shape
    return array.reshape(heads, head_dim, hidden).transpose(0, 2, 1)


def _output_projection(array, shape):
    # [hidden, heads * head_dim] -> [heads, head_dim, hidden]
    heads, head_dim, hidden = shape
    return array.reshape(hidden, heads, head_dim).transpose(1, 2, 0)


def _block_tensors(index, block):
    """(GGUF tensor name, Keras variable, transform) for one decoder block."""
    attention = block.attention
    prefix = f"blk.{index}"
    return [
        (f"{prefix}.attn_norm.weight", block.pre_attention_norm.scale, _norm_scale),
        (f"{prefix}.attn_q.weight", attention.query_dense.kernel, _input_projection),
        (f"{prefix}.attn_k.weight", attention.key_dense.kernel, _input_projection),
        (f"{prefix}.attn_v.weight", attention.value_dense.kernel, _input_projection),
        (f"{prefix}.attn_q_norm.weight", attention.query_norm.scale, _norm_scale),
        (f"{prefix}.attn_k_norm.weight", attention.key_norm.scale, _norm_scale),
        (
            f"{prefix}.attn_output.weight",
            attention.output_dense.kernel,
            _output_projection,
        ),
        (
            f"{prefix}.post_attention_norm.weight",
            block.post_attention_norm.scale,
            _norm_scale,
        ),
        (f"{prefix}.ffn_norm.weight", block.pre_ffw_norm.scale, _norm_scale),
        (f"{prefix}.ffn_gate.weight", block.gating_ffw.kernel, _transposed),
        (f"{prefix}.ffn_up.weight", block.gating_ffw_2.kernel, _transposed),
        (f"{prefix}.ffn_down.weight", block.ffw_linear.kernel, _transposed),
        (f"{prefix}.post_ffw_norm.weight", block.post_ffw_norm.scale, _norm_scale),
    ]


def gemma3_tensor_names(num_layers):
    """The tensor names a Gemma 3 text GGUF of `num_layers` blocks holds.

    Args:
        num_layers: int. The number of decoder blocks (`gemma3.block_count`).

    Examples:

    >>> len(gemma3_tensor_names(18))
    236
    """
    block_suffixes = [
        "attn_norm",
        "attn_q",
        "attn_k",
        "attn_v",
        "attn_q_norm",
        "attn_k_norm",
        "attn_output",
        "post_attention_norm",
        "ffn_norm",
        "ffn_gate",
        "ffn_up",
        "ffn_down",
        "post_ffw_norm",
    ]
    names = ["token_embd.weight", "output_norm.weight"]
    for index in range(num_layers):
        names += [f"blk.{index}.{suffix}.weight" for suffix in block_suffixes]
    return names


def check_gemma3_tensor_names(gguf_file, num_layers):
    """Raise `PresetError` unless the file holds exactly the Gemma 3 tensors.

    Args:
        gguf_file: `GGUFFile`. The opened file.
        num_layers: int. The number of decoder blocks.
    """
    expected = set(gemma3_tensor_names(num_layers))
    present = set(gguf_file.tensor_names)
    missing = sorted(expected - present)
    unexpected = sorted(present - expected)
    if missing:
        raise PresetError(
            f"{gguf_file.path}: missing Gemma 3 tensors: {', '.join(missing[:5])}"
            + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        )
    if unexpected:
        raise PresetError(
            f"{gguf_file.path}: tensors that a Gemma 3 text backbone cannot hold: "
            f"{', '.join(unexpected[:5])}"
            + (f" and {len(unexpected) - 5} more" if len(unexpected) > 5 else "")
        )


def _numpy_dtype(variable):
    if variable.dtype == "bfloat16":
        import ml_dtypes

        return ml_dtypes.bfloat16
    return np.dtype(variable.dtype)


def _embedding_array(gguf_file, variable):
    name = "token_embd.weight"
    shape = gguf_file.tensor_shape(name)
    _check_shape(gguf_file, name, shape, variable)
    # Dequantize block by block into the variable's dtype: `gguf` dequantizes
    # a whole tensor through a list of row groups that it then concatenates,
    # which would hold two float32 copies of the embedding at once.
    array = np.empty(shape, dtype=_numpy_dtype(variable))
    for start in range(0, shape[0], EMBEDDING_ROW_BLOCK):
        rows = slice(start, min(start + EMBEDDING_ROW_BLOCK, shape[0]))
        array[rows] = gguf_file.tensor(name, row_block=rows)
    return array


def _check_shape(gguf_file, name, shape, variable):
    if tuple(shape) != tuple(variable.shape):
        raise PresetError(
            f"{gguf_file.path}: tensor {name!r} has shape {tuple(shape)} after "
            f"conversion but the Keras variable {variable.path} has shape "
            f"{tuple(variable.shape)}"
        )


def _assign(variable, build_array):
    # The numpy array is built here and referenced only while it is converted,
    # so it is freed before `assign` makes its own copy (TensorFlow and
    # PyTorch copy in both steps; the embedding alone is 671 MB in float32).
    tensor = keras.ops.convert_to_tensor(build_array(), dtype=variable.dtype)
    variable.assign(tensor)


def load_gemma3_gguf_weights(backbone, gguf_file):
    """Assign every tensor of a Gemma 3 GGUF file to `backbone`'s variables.

    Args:
        backbone: `keras_hub.models.Gemma3Backbone`. A built text-only
            backbone whose config matches the file (see
            `gemma3_backbone_config`).
        gguf_file: `GGUFFile`. The opened file.

    Examples:

    >>> gguf_file = GGUFFile("model.gguf")  # doctest: +SKIP
    >>> backbone = keras_hub.models.Gemma3Backbone(
    ...     **gemma3_backbone_config(gguf_file))  # doctest: +SKIP
    >>> load_gemma3_gguf_weights(backbone, gguf_file)  # doctest: +SKIP
    """
    check_gemma3_tensor_names(gguf_file, backbone.num_layers)
    embedding = backbone.token_embedding.embeddings
    _assign(embedding, functools.partial(_embedding_array, gguf_file, embedding))
    mapping = [
        (
            "output_norm.weight",
            backbone.get_layer("final_normalization").scale,
            _norm_scale,
        )
    ]
    for index in range(backbone.num_layers):
        block = backbone.get_layer(f"decoder_block_{index}")
        mapping += _block_tensors(index, block)
    for name, variable, transform in mapping:
        _assign(
            variable,
            functools.partial(_converted, gguf_file, name, variable, transform),
        )


def _converted(gguf_file, name, variable, transform):
    """Tensor `name`, dequantized, in `variable`'s layout and dtype."""
    try:
        array = transform(gguf_file.tensor(name), tuple(variable.shape))
    except ValueError as error:
        raise PresetError(
            f"{gguf_file.path}: tensor {name!r} of shape "
            f"{gguf_file.tensor_shape(name)} does not fit the Keras variable "
            f"{variable.path} of shape {tuple(variable.shape)} ({error})"
        ) from error
    _check_shape(gguf_file, name, array.shape, variable)
    return array.astype(_numpy_dtype(variable), copy=False)
