"""Data records, readers, quality tools and tokenization pipelines."""

from kerasalign.data.schema import PreferenceExample, SFTExample
from kerasalign.data.sft_preprocessor import PreprocessingReport, SFTPreprocessor

__all__ = ["PreferenceExample", "PreprocessingReport", "SFTExample", "SFTPreprocessor"]
