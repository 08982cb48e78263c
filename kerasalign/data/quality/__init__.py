"""Data quality tools: deduplication, contamination, coverage and splits.

Each filter returns the kept records and a result object that lists what it
removed and why, so a user can inspect the decisions.

Examples:

>>> from kerasalign.data.schema import SFTExample
>>> records = [SFTExample(prompt="Hi", response="Hello"),
...            SFTExample(prompt="hi!", response="hello.")]
>>> kept, result = deduplicate(records)
>>> print(result.summary())
deduplicate: kept 1 of 2, removed 1
  record 1: duplicate of record 0
"""

from kerasalign.data.quality.contamination import filter_contamination
from kerasalign.data.quality.coverage import (
    CoverageReport,
    coverage_report,
    is_refusal,
)
from kerasalign.data.quality.dedup import deduplicate, near_duplicates
from kerasalign.data.quality.results import FilterResult, Removal
from kerasalign.data.quality.splitting import SplitResult, split
from kerasalign.data.quality.text import normalize_text

__all__ = [
    "CoverageReport",
    "FilterResult",
    "Removal",
    "SplitResult",
    "coverage_report",
    "deduplicate",
    "filter_contamination",
    "is_refusal",
    "near_duplicates",
    "normalize_text",
    "split",
]
