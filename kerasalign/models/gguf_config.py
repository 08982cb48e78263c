"""Map the metadata of a Gemma 3 GGUF file to `Gemma3Backbone` arguments.

llama.cpp writes the Gemma 3 hyperparameters under `gemma3.*` keys. Some
choices are not in the file because llama.cpp hard-codes them for the
architecture, as KerasHub does: the 5-local-1-global attention pattern, RoPE
base 10k on local layers, and the query scaling (1/sqrt(head_dim), except for
the 62-layer 27B model, which scales by 1/sqrt(hidden_dim / num_heads)).
Values that KerasHub cannot express raise `PresetError` instead of giving a
silently different model.
"""

from kerasalign.errors import PresetError

SUPPORTED_ARCHITECTURE = "gemma3"
# KerasHub's Gemma3Backbone fixes the RoPE bases of its global and local layers.
GLOBAL_ROPE_BASE = 1_000_000.0
LOCAL_ROPE_BASE = 10_000.0
# llama.cpp (LLM_TYPE_27B) and Hugging Face (query_pre_attn_scalar) scale the
# queries of the 62-layer Gemma 3 27B by hidden_dim / num_heads, not head_dim.
LAYER_COUNT_WITH_HIDDEN_DIM_QUERY_SCALE = 62


def _rounded(value):
    # GGUF stores float32; 9.999999974752427e-07 reads better as 1e-06.
    return float(f"{float(value):.7g}")


def check_gemma3_architecture(gguf_file):
    """Raise `PresetError` unless `gguf_file` is a Gemma 3 text model.

    Args:
        gguf_file: `GGUFFile`. The opened file.
    """
    architecture = gguf_file.architecture
    if architecture != SUPPORTED_ARCHITECTURE:
        raise PresetError(
            f"{gguf_file.path} holds a model of architecture {architecture!r}; "
            f"kerasalign imports only {SUPPORTED_ARCHITECTURE!r} GGUF files "
            "(Gemma 3 text models)"
        )
    tokenizer_model = gguf_file.value("tokenizer.ggml.model", None)
    if tokenizer_model != "llama":
        raise PresetError(
            f"{gguf_file.path}: tokenizer.ggml.model is {tokenizer_model!r}; "
            "a Gemma 3 GGUF has a SentencePiece ('llama') tokenizer"
        )


def gemma3_backbone_config(gguf_file, dtype="float32"):
    """The `keras_hub.models.Gemma3Backbone` arguments for a Gemma 3 GGUF.

    Args:
        gguf_file: `GGUFFile`. An opened Gemma 3 GGUF file.
        dtype: str. The dtype of the backbone's weights and computations.
            Defaults to `"float32"`.

    Returns:
        dict. Keyword arguments for `Gemma3Backbone` (text-only:
        `vision_encoder=None`, `image_size=None`).

    Examples:

    >>> config = gemma3_backbone_config(GGUFFile("model.gguf"))  # doctest: +SKIP
    >>> config["num_layers"], config["sliding_window_size"]  # doctest: +SKIP
    (18, 512)
    """
    check_gemma3_architecture(gguf_file)
    prefix = SUPPORTED_ARCHITECTURE

    def value(key, default=...):
        return gguf_file.value(f"{prefix}.{key}", default)

    key_length = value("attention.key_length")
    value_length = value("attention.value_length", key_length)
    if key_length != value_length:
        raise PresetError(
            f"{gguf_file.path}: attention.key_length ({key_length}) differs from "
            f"attention.value_length ({value_length}); Gemma3Backbone needs them equal"
        )
    _check_rope(gguf_file, value)
    num_layers = value("block_count")
    vocabulary_size = gguf_file.tensor_shape("token_embd.weight")[0]
    sliding_window = value("attention.sliding_window", None)
    return {
        "vocabulary_size": vocabulary_size,
        "image_size": None,
        "num_layers": num_layers,
        "num_query_heads": value("attention.head_count"),
        "num_key_value_heads": value("attention.head_count_kv"),
        "hidden_dim": value("embedding_length"),
        "intermediate_dim": value("feed_forward_length"),
        "head_dim": key_length,
        "query_head_dim_normalize": (
            num_layers != LAYER_COUNT_WITH_HIDDEN_DIM_QUERY_SCALE
        ),
        "use_query_key_norm": True,
        "use_post_ffw_norm": True,
        "use_post_attention_norm": True,
        "attention_logit_soft_cap": _optional_float(
            value("attn_logit_softcapping", None)
        ),
        "final_logit_soft_cap": _optional_float(value("final_logit_softcapping", None)),
        "use_sliding_window_attention": sliding_window is not None,
        "sliding_window_size": sliding_window or 1024,
        "local_rope_scaling_factor": 1.0,
        "global_rope_scaling_factor": _global_rope_scaling_factor(gguf_file, value),
        "vision_encoder": None,
        "layer_norm_epsilon": _rounded(value("attention.layer_norm_rms_epsilon")),
        "dtype": dtype,
    }


def _optional_float(number):
    return None if number is None else _rounded(number)


def _check_rope(gguf_file, value):
    global_base = _rounded(value("rope.freq_base", GLOBAL_ROPE_BASE))
    local_base = _rounded(value("rope.freq_base_swa", LOCAL_ROPE_BASE))
    if (global_base, local_base) != (GLOBAL_ROPE_BASE, LOCAL_ROPE_BASE):
        raise PresetError(
            f"{gguf_file.path}: RoPE bases {global_base:g} (global) and "
            f"{local_base:g} (local) are not supported; KerasHub's Gemma3Backbone "
            f"uses {GLOBAL_ROPE_BASE:g} and {LOCAL_ROPE_BASE:g}"
        )
    pattern = value("attention.sliding_window_pattern", None)
    if isinstance(pattern, list):
        expected = [i % 6 < 5 for i in range(len(pattern))]
        if [bool(p) for p in pattern] != expected:
            raise PresetError(
                f"{gguf_file.path}: attention.sliding_window_pattern {pattern} is "
                "not the 5-local-1-global pattern of KerasHub's Gemma3Backbone"
            )


def _global_rope_scaling_factor(gguf_file, value):
    scaling_type = value("rope.scaling.type", None)
    factor = _rounded(value("rope.scaling.factor", 1.0))
    if scaling_type in (None, "none") or factor == 1.0:
        return 1.0
    if scaling_type != "linear":
        raise PresetError(
            f"{gguf_file.path}: rope.scaling.type {scaling_type!r} is not "
            "supported; KerasHub's Gemma3Backbone supports linear scaling"
        )
    return factor
