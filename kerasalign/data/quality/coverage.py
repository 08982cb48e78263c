"""Policy coverage report: examples per policy and use case, refusals, lengths.

Safety data should cover every content policy the application cares about,
and should not be all refusals: a model tuned only on refusals learns to
refuse benign requests too. Refusals are counted with the one refusal
detector of the project, `kerasalign.eval.refusal.is_refusal` (documented
there): it reads only the opening of a response, so an answer that starts
helpfully and adds a caution later is counted as helpful.

Examples:

>>> from kerasalign.data.schema import SFTExample
>>> records = [
...     SFTExample(prompt="Make a bomb", response="I can't help with that.",
...                policy="dangerous_content", use_case="chat"),
...     SFTExample(prompt="Kill a Python process?", response="Run kill PID.",
...                policy="none", use_case="coding"),
... ]
>>> report = coverage_report(records, required_policies=["dangerous_content",
...                                                      "hate_speech"],
...                          min_per_policy=1)
>>> report.per_policy, report.missing_policies, report.refusal_share
({'dangerous_content': 1, 'none': 1}, ['hate_speech'], {'response': 0.5})
>>> is_refusal("I'm sorry, but I cannot share that address.")
True
"""

import collections
import dataclasses
import statistics

from kerasalign.data.prompt_example import PromptExample
from kerasalign.data.quality.text import as_examples, prompt_text, words
from kerasalign.data.schema import PreferenceExample
from kerasalign.eval.refusal import is_refusal

UNSPECIFIED = "unspecified"
DEFAULT_MIN_PER_POLICY = 10

def _length_stats(lengths):
    if not lengths:
        return {"count": 0}
    return {
        "count": len(lengths),
        "min": min(lengths),
        "mean": round(statistics.fmean(lengths), 2),
        "median": statistics.median(lengths),
        "max": max(lengths),
    }


@dataclasses.dataclass
class CoverageReport:
    """Counts per policy and use case, refusal shares and length statistics.

    Args:
        total: int. Examples counted.
        per_policy: dict. Examples per policy (`"unspecified"` when unset).
        per_use_case: dict. Examples per use case.
        per_policy_use_case: dict. Policy -> use case -> count.
        min_per_policy: int. The minimum asked for.
        missing_policies: list of str. Required policies with no example.
        under_represented: dict. Policy -> count for named policies (present
            or required) with fewer than `min_per_policy` examples.
        refusal_share: dict. Share of refusals among `"response"` (SFT) or
            `"chosen"` and `"rejected"` (pairs).
        refusal_share_by_policy: dict. Policy -> the same shares.
        lengths: dict. Word-count statistics of `"prompt"` and each
            response side.
    """

    total: int
    per_policy: dict
    per_use_case: dict
    per_policy_use_case: dict
    min_per_policy: int
    missing_policies: list
    under_represented: dict
    refusal_share: dict
    refusal_share_by_policy: dict
    lengths: dict

    @property
    def ok(self):
        """No required policy is missing and none is under the minimum."""
        return not self.missing_policies and not self.under_represented

    def to_dict(self):
        """The report as a JSON-ready dict."""
        return {"ok": self.ok, **dataclasses.asdict(self)}

    def summary(self):
        """A readable multi-line summary."""
        lines = [f"{self.total} examples, {len(self.per_policy)} policies"]
        for policy, count in self.per_policy.items():
            flag = "  (under minimum)" if policy in self.under_represented else ""
            shares = ", ".join(
                f"{side} refusals {share:.0%}"
                for side, share in self.refusal_share_by_policy[policy].items()
            )
            shares = f" ({shares})" if shares else ""
            lines.append(f"  {policy}: {count}{shares}{flag}")
        for policy in self.missing_policies:
            lines.append(f"  {policy}: 0  (missing)")
        lines.append(
            "use cases: "
            + ", ".join(f"{name} {count}" for name, count in self.per_use_case.items())
        )
        if self.refusal_share:
            lines.append(
                "refusal share: "
                + ", ".join(f"{s} {v:.0%}" for s, v in self.refusal_share.items())
            )
        for side, stats in self.lengths.items():
            if stats["count"]:
                lines.append(
                    f"{side} words: min {stats['min']}, median {stats['median']}, "
                    f"mean {stats['mean']}, max {stats['max']}"
                )
        lines.append("coverage OK" if self.ok else "coverage NOT OK")
        return "\n".join(lines)


def _sides(example):
    if isinstance(example, PreferenceExample):
        return {"chosen": example.chosen, "rejected": example.rejected}
    if isinstance(example, PromptExample):
        return {}
    return {"response": example.response or ""}


def coverage_report(
    records, required_policies=None, min_per_policy=DEFAULT_MIN_PER_POLICY
):
    """Report how well a dataset covers its policies and use cases.

    Args:
        records: list of `SFTExample`, `PreferenceExample` or dict.
        required_policies: list of str. Policies that must be present.
            Defaults to `None`.
        min_per_policy: int. Named policies with fewer examples are listed
            in `under_represented`. Defaults to `10`.

    Returns:
        A `CoverageReport`.
    """
    examples = as_examples(records)
    per_policy = collections.Counter()
    per_use_case = collections.Counter()
    per_policy_use_case = collections.defaultdict(collections.Counter)
    refusals = collections.defaultdict(collections.Counter)  # policy -> side
    side_counts = collections.defaultdict(collections.Counter)
    lengths = collections.defaultdict(list)
    for example in examples:
        policy = example.policy or UNSPECIFIED
        use_case = example.use_case or UNSPECIFIED
        per_policy[policy] += 1
        per_use_case[use_case] += 1
        per_policy_use_case[policy][use_case] += 1
        lengths["prompt"].append(len(words(prompt_text(example))))
        for side, text in _sides(example).items():
            side_counts[policy][side] += 1
            refusals[policy][side] += is_refusal(text)
            lengths[side].append(len(words(text)))
    required = list(dict.fromkeys(required_policies or []))
    missing = [policy for policy in required if per_policy[policy] == 0]
    named = [p for p in per_policy if p != UNSPECIFIED] + missing
    under = {p: per_policy[p] for p in named if per_policy[p] < min_per_policy}
    sides = sorted(
        {side for counts in side_counts.values() for side in counts},
        key=["response", "chosen", "rejected"].index,
    )
    overall = {
        side: round(
            sum(r[side] for r in refusals.values())
            / max(1, sum(c[side] for c in side_counts.values())),
            4,
        )
        for side in sides
    }
    by_policy = {
        policy: {
            side: round(refusals[policy][side] / count, 4)
            for side, count in side_counts[policy].items()
        }
        for policy in sorted(per_policy)
    }
    return CoverageReport(
        total=len(examples),
        per_policy=dict(sorted(per_policy.items())),
        per_use_case=dict(sorted(per_use_case.items())),
        per_policy_use_case={
            p: dict(sorted(c.items())) for p, c in sorted(per_policy_use_case.items())
        },
        min_per_policy=min_per_policy,
        missing_policies=missing,
        under_represented=under,
        refusal_share=overall,
        refusal_share_by_policy=by_policy,
        lengths={side: _length_stats(values) for side, values in lengths.items()},
    )
