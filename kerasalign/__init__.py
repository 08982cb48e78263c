"""kerasalign: align Gemma-style language models with Keras 3 and KerasHub.

The public API is re-exported here and loaded on first use, so that commands
that need no model (`kerasalign data check`, `--help`) start without importing
Keras and its backend.

Examples:

>>> import kerasalign
>>> model = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
>>> kerasalign.PromptTemplate("Article: {{article}}\\nSummary:").placeholders
['article']
"""

import importlib

from kerasalign.errors import (  # noqa: F401 (re-exported)
    AdapterError,
    DataError,
    KerasAlignError,
    PresetError,
    TemplateError,
)
from kerasalign.xla_cpu_schedule import prefer_memory_schedule

__version__ = "0.1.0"

# Before JAX creates its CPU client: schedule compiled steps for memory
# (see kerasalign.xla_cpu_schedule; XLA_FLAGS naming the flag opts out).
prefer_memory_schedule()

# Public name -> the module that defines it.
_EXPORTS = {
    "ChatTemplate": "kerasalign.templates",
    "DPOTrainer": "kerasalign.trainers",
    "GRPOTrainer": "kerasalign.trainers",
    "PPOTrainer": "kerasalign.trainers",
    "PromptTemplate": "kerasalign.templates",
    "RewardModel": "kerasalign.trainers",
    "SFTTrainer": "kerasalign.trainers",
    "enable_lora": "kerasalign.models",
    "enable_persistent_compile_cache": "kerasalign.backend_ops",
    "load_adapter": "kerasalign.models",
    "load_causal_lm": "kerasalign.models",
    "merge_adapter": "kerasalign.models",
    "parameter_counts": "kerasalign.models",
    "save_adapter": "kerasalign.models",
}
_SUBMODULES = ("data", "datasets", "eval", "debug", "models", "templates", "trainers")

__all__ = sorted(
    [
        "AdapterError",
        "DataError",
        "KerasAlignError",
        "PresetError",
        "TemplateError",
        *_EXPORTS,
        *_SUBMODULES,
    ]
)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"kerasalign.{name}")
    else:
        raise AttributeError(f"module 'kerasalign' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return __all__
