"""LoRA on KerasHub backbones: enable, count, save, load and merge adapters.

Built on KerasHub's `Backbone.enable_lora`, which freezes every weight and
adds the two low-rank factors `lora_kernel_a` (in x r) and `lora_kernel_b`
(r x out) to the chosen `EinsumDense` layers, so `W = W0 + (alpha / r) A B`.

Target layers are given by name or by a named group:
- `"query_value"` (default, as in the LoRA paper and KerasHub),
- `"attention"`: query, key, value and the attention output projection,
- `"all"`: the attention projections and the three feed-forward kernels.

Note: KerasHub's Gemma query layer is per head (`(heads, hidden, head_dim)`),
so its LoRA factor A spans the heads; that trains more parameters than a
PEFT rank-r LoRA on a fused query projection of the same rank.

An adapter is saved as a directory holding `adapter.lora.h5` (KerasHub's
format) and `adapter_config.json` (rank, alpha, targets and the backbone's
architecture), which lets `load_adapter` refuse an adapter made for a
different rank or architecture with a clear message.

Examples:

>>> import kerasalign
>>> model = kerasalign.load_causal_lm("tiny_gemma")
>>> enable_lora(model, rank=4)
>>> parameter_counts(model)["trainable"] < parameter_counts(model)["total"]
True
"""

import json
import os
import pathlib
import shutil
import tempfile

import keras
import numpy as np

from kerasalign.errors import AdapterError
from kerasalign.models.quantization import is_quantized

ATTENTION_LAYERS = ["query", "key", "value", "attention_output"]
FEED_FORWARD_LAYERS = ["ffw_gating", "ffw_gating_2", "ffw_linear"]
TARGET_GROUPS = {
    "query_value": ["query", "value"],
    "attention": ATTENTION_LAYERS,
    "all": ATTENTION_LAYERS + FEED_FORWARD_LAYERS,
}

ADAPTER_WEIGHTS = "adapter.lora.h5"
ADAPTER_CONFIG = "adapter_config.json"

# Backbone config keys that must match for an adapter to fit.
ARCHITECTURE_KEYS = (
    "vocabulary_size",
    "num_layers",
    "num_query_heads",
    "num_key_value_heads",
    "hidden_dim",
    "intermediate_dim",
    "head_dim",
)


def resolve_targets(targets):
    """Turn a group name or a list of layer names into a list of layer names.

    Args:
        targets: str or list of str. A group (`"query_value"`, `"attention"`,
            `"all"`) or layer names such as `["query", "value"]`.

    Returns:
        A list of layer names.

    Examples:

    >>> resolve_targets("attention")
    ['query', 'key', 'value', 'attention_output']
    """
    if isinstance(targets, str):
        if targets not in TARGET_GROUPS:
            raise AdapterError(
                f"lora_targets must be one of {sorted(TARGET_GROUPS)} or a list "
                f"of layer names. Received: lora_targets={targets!r}"
            )
        return list(TARGET_GROUPS[targets])
    targets = list(targets)
    known = set(TARGET_GROUPS["all"])
    unknown = [name for name in targets if name not in known]
    if not targets or unknown:
        raise AdapterError(
            f"Unknown LoRA target layers {unknown or targets}; Gemma layers that "
            f"take LoRA are {sorted(known)}."
        )
    return targets


def _lora_layers(backbone):
    return [
        layer
        for layer in backbone._flatten_layers(include_self=False)
        if getattr(layer, "lora_enabled", False)
    ]


def lora_state(model):
    """Return `{"rank", "alpha", "targets"}` of the model's LoRA, or `None`."""
    backbone = model.backbone
    layers = _lora_layers(backbone)
    if not layers:
        return None
    return {
        "rank": int(layers[0].lora_rank),
        "alpha": float(layers[0].lora_alpha),
        "targets": sorted({layer.name for layer in layers}),
    }


def enable_lora(model, rank, *, alpha=None, targets="query_value"):
    """Enable LoRA on a CausalLM's backbone; only the LoRA factors train.

    Args:
        model: `keras_hub.models.CausalLM`. The model to adapt in place.
        rank: int. The rank r of the update (> 0).
        alpha: float. The scale numerator: the update is `(alpha / r) A B`.
            Defaults to `None`, which means `alpha = rank` (scale 1).
        targets: str or list of str. Which layers to adapt; see
            `resolve_targets`. Defaults to `"query_value"`.
    """
    if isinstance(rank, bool) or not isinstance(rank, int) or rank <= 0:
        raise AdapterError(f"LoRA rank must be a positive integer. Received: rank={rank!r}")
    if alpha is not None and (not isinstance(alpha, (int, float)) or alpha <= 0):
        raise AdapterError(f"LoRA alpha must be a positive number. Received: alpha={alpha!r}")
    if lora_state(model) is not None:
        raise AdapterError(
            "LoRA is already enabled on this model; load a fresh model to "
            "change its rank or targets."
        )
    layer_names = resolve_targets(targets)
    model.backbone.enable_lora(rank, target_layer_names=layer_names)
    enabled = _lora_layers(model.backbone)
    if not enabled:
        raise AdapterError(
            f"No layer named {layer_names} takes LoRA in "
            f"{type(model.backbone).__name__}."
        )
    for layer in enabled:
        layer.lora_alpha = float(alpha if alpha is not None else rank)


def parameter_counts(model):
    """Count trainable and total parameters of a model.

    Returns:
        A dict with `trainable`, `total` and `trainable_fraction`.
    """
    trainable = int(sum(np.prod(w.shape) for w in model.trainable_weights))
    total = int(sum(np.prod(w.shape) for w in model.weights))
    return {
        "trainable": trainable,
        "total": total,
        "trainable_fraction": trainable / total if total else 0.0,
    }


def _architecture(backbone):
    config = backbone.get_config()
    return {
        "backbone_class": type(backbone).__name__,
        **{key: config.get(key) for key in ARCHITECTURE_KEYS},
    }


def save_adapter(model, directory):
    """Save only the LoRA factors (and their config) into `directory`.

    The directory is written to a temporary path and renamed, so a failure
    never leaves a half-written adapter.

    Args:
        model: `keras_hub.models.CausalLM` with LoRA enabled.
        directory: str or path. Created (replaced if it exists).

    Returns:
        The adapter directory as a `pathlib.Path`.
    """
    state = lora_state(model)
    if state is None:
        raise AdapterError("The model has no LoRA layers; call enable_lora first.")
    directory = pathlib.Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(
        tempfile.mkdtemp(prefix=f".{directory.name}.", dir=directory.parent)
    )
    try:
        model.backbone.save_lora_weights(str(staging / ADAPTER_WEIGHTS))
        config = {
            **state,
            "architecture": _architecture(model.backbone),
            "keras_backend": keras.config.backend(),
            "format": "kerasalign-lora-1",
        }
        (staging / ADAPTER_CONFIG).write_text(json.dumps(config, indent=2))
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return directory


def read_adapter_config(directory):
    """Read an adapter directory's `adapter_config.json`."""
    directory = pathlib.Path(directory)
    config_path = directory / ADAPTER_CONFIG
    if not (directory / ADAPTER_WEIGHTS).exists() or not config_path.exists():
        raise AdapterError(
            f"{directory} is not a kerasalign adapter directory (expected "
            f"{ADAPTER_WEIGHTS} and {ADAPTER_CONFIG})."
        )
    try:
        return json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise AdapterError(f"{config_path} is not valid JSON: {error}") from None


def load_adapter(model, directory):
    """Load a saved adapter into `model`, enabling LoRA with its settings.

    Raises `AdapterError` when the adapter was made for another architecture,
    or when the model already has LoRA of another rank or targets.

    Args:
        model: `keras_hub.models.CausalLM`.
        directory: str or path of an adapter saved by `save_adapter`.
    """
    config = read_adapter_config(directory)
    expected = config["architecture"]
    actual = _architecture(model.backbone)
    mismatched = {
        key: (expected[key], actual.get(key))
        for key in expected
        if expected[key] != actual.get(key)
    }
    if mismatched:
        details = ", ".join(
            f"{key}: adapter {want!r} vs model {have!r}"
            for key, (want, have) in mismatched.items()
        )
        raise AdapterError(
            f"The adapter in {directory} was trained for a different "
            f"architecture ({details})."
        )
    state = lora_state(model)
    if state is None:
        enable_lora(
            model, config["rank"], alpha=config["alpha"], targets=config["targets"]
        )
    elif state["rank"] != config["rank"] or state["targets"] != sorted(
        config["targets"]
    ):
        raise AdapterError(
            f"The adapter in {directory} has rank {config['rank']} on "
            f"{config['targets']}, but the model has LoRA rank {state['rank']} "
            f"on {state['targets']}. Load it into a model without LoRA."
        )
    else:
        for layer in _lora_layers(model.backbone):
            layer.lora_alpha = float(config["alpha"])
    model.backbone.load_lora_weights(str(pathlib.Path(directory) / ADAPTER_WEIGHTS))
    return config


def merge_adapter(model):
    """Return a new CausalLM whose kernels include the LoRA update.

    The result has no LoRA layers, so `save_to_preset` writes an ordinary
    preset that any KerasHub user can load.

    Args:
        model: `keras_hub.models.CausalLM` with LoRA enabled.

    Returns:
        A new `keras_hub.models.CausalLM` sharing the preprocessor.
    """
    backbone = model.backbone
    if lora_state(model) is None:
        raise AdapterError("The model has no LoRA layers to merge.")
    if is_quantized(backbone):
        raise AdapterError(
            "Cannot merge LoRA into an int8-quantized base. Save the adapter "
            "(save_adapter), load the preset without quantize, load_adapter "
            "into it, then merge_adapter."
        )
    merged_kernels = {}
    for layer in _lora_layers(backbone):
        kernel_variable = next(
            w for w in layer.weights if w.path.split("/")[-1] == "kernel"
        )
        merged_kernels[id(kernel_variable)] = keras.ops.convert_to_numpy(layer.kernel)
    source_weights = [
        w for w in backbone.weights if "lora_kernel" not in w.path.split("/")[-1]
    ]
    new_backbone = type(backbone).from_config(backbone.get_config())
    if len(new_backbone.weights) != len(source_weights):
        raise AdapterError("Could not match the merged model's weights.")
    for target, source in zip(new_backbone.weights, source_weights, strict=True):
        value = merged_kernels.get(id(source))
        if value is None:
            value = keras.ops.convert_to_numpy(source)
        if tuple(target.shape) != tuple(value.shape):
            raise AdapterError(
                f"Weight shape mismatch while merging: {target.path} "
                f"{tuple(target.shape)} vs {tuple(value.shape)}."
            )
        target.assign(value)
    return type(model)(backbone=new_backbone, preprocessor=model.preprocessor)
