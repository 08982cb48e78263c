"""Data records, readers, quality tools and tokenization pipelines.

Examples:

>>> from kerasalign import data
>>> examples = data.load_sft([{"instruction": "Name a colour.", "output": "Blue."}])
>>> examples[0].prompt, examples[0].response
('Name a colour.', 'Blue.')
"""

from kerasalign.data import quality
from kerasalign.data.preference_preprocessor import PreferencePreprocessor
from kerasalign.data.prompt_example import PromptExample
from kerasalign.data.readers import (
    LoadReport,
    load_preferences,
    load_prompts,
    load_records,
    load_sft,
)
from kerasalign.data.schema import PreferenceExample, SFTExample
from kerasalign.data.sft_preprocessor import PreprocessingReport, SFTPreprocessor
from kerasalign.data.writers import from_dict, to_dict, write_jsonl

__all__ = [
    "LoadReport",
    "PreferenceExample",
    "PreferencePreprocessor",
    "PreprocessingReport",
    "PromptExample",
    "SFTExample",
    "SFTPreprocessor",
    "from_dict",
    "load_preferences",
    "load_prompts",
    "load_records",
    "load_sft",
    "quality",
    "to_dict",
    "write_jsonl",
]
