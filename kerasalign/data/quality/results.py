"""What a quality filter removed, and why.

Examples:

>>> result = FilterResult(
...     operation="deduplicate", total=3, kept_indices=[0, 2],
...     removed=[Removal(index=1, reason="duplicate", partner=0)])
>>> result.num_removed
1
>>> print(result.summary())
deduplicate: kept 2 of 3, removed 1
  record 1: duplicate of record 0
"""

import dataclasses

_REASON_TEXT = {
    "duplicate": "duplicate of record {partner}",
    "near_duplicate": "near duplicate of record {partner} (Jaccard {detail:.2f})",
    "contamination": "prompt overlaps eval example {partner}: {detail!r}",
}


@dataclasses.dataclass
class Removal:
    """One removed record.

    Args:
        index: int. 0-based position of the removed record in the input.
        reason: str. `"duplicate"`, `"near_duplicate"` or `"contamination"`.
        partner: int. The kept record it duplicates, or the evaluation
            example it overlaps (0-based). Defaults to `None`.
        detail: The evidence: the Jaccard similarity of the word shingles
            (near duplicates) or the shared word n-gram (contamination).
            Defaults to `None`.
    """

    index: int
    reason: str
    partner: int | None = None
    detail: object = None

    def describe(self):
        """One line saying why the record was removed."""
        template = _REASON_TEXT.get(self.reason, self.reason)
        return template.format(partner=self.partner, detail=self.detail)

    def to_dict(self):
        """The removal as a JSON-ready dict."""
        return dataclasses.asdict(self)


@dataclasses.dataclass
class FilterResult:
    """The outcome of a quality filter.

    Args:
        operation: str. The filter's name.
        total: int. Records given.
        kept_indices: list of int. 0-based positions of the kept records.
        removed: list of `Removal`, in input order.
        parameters: dict. The filter's settings. Defaults to `{}`.
    """

    operation: str
    total: int
    kept_indices: list
    removed: list
    parameters: dict = dataclasses.field(default_factory=dict)

    @property
    def num_removed(self):
        """How many records were removed."""
        return len(self.removed)

    @property
    def removed_indices(self):
        """0-based positions of the removed records."""
        return [removal.index for removal in self.removed]

    def summary(self, limit=20):
        """A readable summary listing up to `limit` removals."""
        lines = [
            f"{self.operation}: kept {len(self.kept_indices)} of {self.total}, "
            f"removed {self.num_removed}"
        ]
        for removal in self.removed[:limit]:
            lines.append(f"  record {removal.index}: {removal.describe()}")
        if self.num_removed > limit:
            lines.append(f"  ... and {self.num_removed - limit} more")
        return "\n".join(lines)

    def to_dict(self):
        """The result as a JSON-ready dict."""
        return {
            "operation": self.operation,
            "total": self.total,
            "kept": len(self.kept_indices),
            "removed": [removal.to_dict() for removal in self.removed],
            "parameters": dict(self.parameters),
        }
