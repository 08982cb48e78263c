"""kerasalign: align Gemma-style language models with Keras 3 and KerasHub.

Examples:

>>> import kerasalign
>>> model = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
>>> kerasalign.PromptTemplate("Article: {{article}}\\nSummary:").placeholders
['article']
"""

from kerasalign import data, datasets, models, templates, trainers
from kerasalign.errors import (
    AdapterError,
    DataError,
    KerasAlignError,
    PresetError,
    TemplateError,
)
from kerasalign.models import (
    enable_lora,
    load_adapter,
    load_causal_lm,
    merge_adapter,
    parameter_counts,
    save_adapter,
)
from kerasalign.templates import ChatTemplate, PromptTemplate
from kerasalign.trainers import SFTTrainer

__version__ = "0.1.0"

__all__ = [
    "AdapterError",
    "ChatTemplate",
    "DataError",
    "KerasAlignError",
    "PresetError",
    "PromptTemplate",
    "SFTTrainer",
    "TemplateError",
    "data",
    "datasets",
    "enable_lora",
    "load_adapter",
    "load_causal_lm",
    "merge_adapter",
    "models",
    "parameter_counts",
    "save_adapter",
    "templates",
    "trainers",
]
