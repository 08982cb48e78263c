"""Built-in tiny presets: `tiny_gemma` and `tiny_gemma3`.

Small Gemma and Gemma 3 configurations with random weights and the small real
SentencePiece tokenizer shipped in `kerasalign/models/assets`. They build in
about a second, need no download, and exist for tests and smoke runs only:
their outputs are meaningless until trained.

The random weights come from NumPy with a fixed seed, not from the backend's
initializers, so the same preset has the same weights on JAX, TensorFlow and
PyTorch (an adapter trained on one backend gives the same logits on another).

Examples:

>>> model = build_tiny_causal_lm("tiny_gemma", sequence_length=32)
>>> model.backbone.num_layers
2
"""

import pathlib

import keras
import keras_hub
import numpy as np

ASSETS_DIR = pathlib.Path(__file__).parent / "assets"
TOKENIZER_PATH = ASSETS_DIR / "tiny_tokenizer.model"

# Sizes chosen so that a LoRA step takes milliseconds on a CPU while the
# model still has enough capacity that fine-tuning visibly lowers the loss.
_COMMON_CONFIG = {
    "num_layers": 2,
    "num_query_heads": 4,
    "num_key_value_heads": 1,
    "hidden_dim": 128,
    "head_dim": 32,
}

TINY_PRESETS = {
    "tiny_gemma": {
        "description": "2-layer Gemma, hidden 128, random weights (tests only)",
        "backbone_cls": keras_hub.models.GemmaBackbone,
        "tokenizer_cls": keras_hub.models.GemmaTokenizer,
        "preprocessor_cls": keras_hub.models.GemmaCausalLMPreprocessor,
        "causal_lm_cls": keras_hub.models.GemmaCausalLM,
        # KerasHub's Gemma halves `intermediate_dim` (two gating kernels).
        "config": {**_COMMON_CONFIG, "intermediate_dim": 512},
    },
    "tiny_gemma3": {
        "description": "2-layer Gemma 3, hidden 128, random weights (tests only)",
        "backbone_cls": keras_hub.models.Gemma3Backbone,
        "tokenizer_cls": keras_hub.models.Gemma3Tokenizer,
        "preprocessor_cls": keras_hub.models.Gemma3CausalLMPreprocessor,
        "causal_lm_cls": keras_hub.models.Gemma3CausalLM,
        "config": {
            **_COMMON_CONFIG,
            "intermediate_dim": 256,
            "image_size": 896,
            "use_post_ffw_norm": True,
            "use_post_attention_norm": True,
            "use_sliding_window_attention": True,
            "sliding_window_size": 64,
        },
    },
}

WEIGHT_SEED = 1234


def _tokenizer(spec):
    kwargs = {}
    if spec["tokenizer_cls"] is keras_hub.models.Gemma3Tokenizer:
        kwargs["has_vision_tokens"] = False
    return spec["tokenizer_cls"](proto=str(TOKENIZER_PATH), **kwargs)


def _fan_in(variable):
    shape = tuple(variable.shape)
    name = variable.path.split("/")[-2] if "/" in variable.path else ""
    if name in ("query", "key", "value"):
        return shape[1]  # (heads, hidden, head_dim)
    if name == "token_embedding" or "embedding" in variable.path:
        return shape[1]  # Gemma multiplies embeddings by sqrt(hidden)
    return int(np.prod(shape[:-1]))


def _set_numpy_weights(backbone, seed):
    """Overwrite every weight with seeded NumPy values, identical on all backends.

    Normalization scales keep their constant initial values (zeros: Gemma's
    RMSNorm multiplies by `1 + scale`). Every other weight is drawn from a
    normal distribution with standard deviation `1 / sqrt(fan_in)`, which keeps
    activations of order one through this small network, so that low-rank
    updates visibly change the outputs (with Gemma's 0.02 a random tiny model
    barely responds to LoRA).
    """
    rng = np.random.default_rng(seed)
    for variable in backbone.weights:
        if variable.path.endswith("scale"):
            continue
        stddev = 1.0 / np.sqrt(_fan_in(variable))
        values = rng.normal(0.0, stddev, size=variable.shape)
        variable.assign(values.astype(keras.backend.standardize_dtype(variable.dtype)))


def build_tiny_causal_lm(name, *, sequence_length=256, dtype=None, seed=WEIGHT_SEED):
    """Build a tiny preset's CausalLM with its tokenizer and preprocessor.

    Args:
        name: str. `"tiny_gemma"` or `"tiny_gemma3"`.
        sequence_length: int. The preprocessor's sequence length.
            Defaults to `256`.
        dtype: str. The model's dtype policy, e.g. `"bfloat16"`.
            Defaults to `None` (Keras' default, float32).
        seed: int. The NumPy seed of the random weights.
            Defaults to `1234`.

    Returns:
        A `keras_hub.models.CausalLM`.
    """
    spec = TINY_PRESETS[name]
    tokenizer = _tokenizer(spec)
    backbone = spec["backbone_cls"](
        vocabulary_size=tokenizer.vocabulary_size(), dtype=dtype, **spec["config"]
    )
    _set_numpy_weights(backbone, seed)
    preprocessor = spec["preprocessor_cls"](
        tokenizer=tokenizer, sequence_length=sequence_length
    )
    return spec["causal_lm_cls"](backbone=backbone, preprocessor=preprocessor)
