"""Model loading, built-in presets and LoRA helpers."""

from kerasalign.models.loader import (
    builtin_presets,
    load_causal_lm,
    official_gemma_presets,
)
from kerasalign.models.lora import (
    enable_lora,
    load_adapter,
    lora_state,
    merge_adapter,
    parameter_counts,
    save_adapter,
)

__all__ = [
    "builtin_presets",
    "enable_lora",
    "load_adapter",
    "load_causal_lm",
    "lora_state",
    "merge_adapter",
    "official_gemma_presets",
    "parameter_counts",
    "save_adapter",
]
