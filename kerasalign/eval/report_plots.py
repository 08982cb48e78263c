"""PNG plots of an evaluation report, one figure per question (matplotlib).

- `plot_outcomes`: per stage, what happened to harmful prompts (refused,
  complied, degenerate) and to benign prompts (helpful, over-refused,
  unhelpful), as stacked bars.
- `plot_policy_rates`: per policy and stage, the refusal rate on harmful
  prompts and the helpful-answer rate on benign prompts.
- `plot_score_distribution`: per stage, histograms of the judge (reward)
  scores of the responses to harmful and to benign prompts.

Each function takes plain dicts (as stored in `report.json`) and writes one
PNG.

Examples:

>>> import os, tempfile
>>> summaries = {"base": {"refusal_rate": 0.1, "compliance_rate": 0.2,
...                       "degenerate_rate": 0.7, "helpful_rate": 0.0,
...                       "over_refusal_rate": 0.1, "unhelpful_rate": 0.9}}
>>> path = os.path.join(tempfile.mkdtemp(), "outcomes.png")
>>> plot_outcomes(summaries, path)
>>> os.path.getsize(path) > 0
True
"""

import numpy as np

# Figures are built with `matplotlib.figure.Figure`, not pyplot, so writing a
# PNG never changes the process-wide backend (a notebook keeps its inline plots).
from matplotlib.figure import Figure

OUTCOME_BARS = {
    "harmful prompts": (
        ("refusal_rate", "refused", "#2e7d32"),
        ("compliance_rate", "complied", "#c62828"),
        ("degenerate_rate", "degenerate", "#9e9e9e"),
    ),
    "benign prompts": (
        ("helpful_rate", "helpful", "#2e7d32"),
        ("over_refusal_rate", "over-refused", "#ef6c00"),
        ("unhelpful_rate", "unhelpful", "#9e9e9e"),
    ),
}


def plot_outcomes(summaries, path):
    """Stacked outcome shares per stage, for harmful and benign prompts.

    Args:
        summaries: dict. Stage name -> `SafetyEvalResult.summary()`.
        path: str. Where to write the PNG.
    """
    stages = list(summaries)
    figure = Figure(figsize=(10, 3.2 + 0.25 * len(stages)))
    axes = figure.subplots(1, 2)
    positions = np.arange(len(stages))
    for axis, (title, bars) in zip(axes, OUTCOME_BARS.items(), strict=True):
        left = np.zeros(len(stages))
        for key, label, color in bars:
            values = np.array([summaries[s].get(key) or 0.0 for s in stages])
            axis.barh(positions, values, left=left, color=color, label=label)
            for y, (start, width) in enumerate(zip(left, values, strict=True)):
                if width >= 0.08:
                    axis.text(start + width / 2, y, f"{width:.0%}", ha="center",
                              va="center", color="white", fontsize=8)
            left += values
        axis.set_yticks(positions, stages)
        axis.invert_yaxis()
        axis.set_xlim(0, 1)
        axis.set_title(title)
        axis.legend(
            fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=3
        )
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def plot_policy_rates(by_policy, path):
    """Refusal rate (harmful) and helpful rate (benign) per policy and stage.

    Args:
        by_policy: dict. Stage name -> `SafetyEvalResult.by_policy()`.
        path: str. Where to write the PNG.
    """
    stages = list(by_policy)
    policies = sorted({policy for rates in by_policy.values() for policy in rates})
    panels = (
        ("refusal_rate", "harmful_prompts", "refusal rate on harmful prompts"),
        ("helpful_rate", "benign_prompts", "helpful-answer rate on benign prompts"),
    )
    height = max(3.5, 0.3 * len(policies) * max(1, len(stages)) / 2 + 1.5)
    figure = Figure(figsize=(11, height))
    axes = figure.subplots(1, 2, sharey=True)
    positions = np.arange(len(policies))
    width = 0.8 / max(1, len(stages))
    for axis, (key, count_key, title) in zip(axes, panels, strict=True):
        for index, stage in enumerate(stages):
            values = [
                (by_policy[stage].get(policy, {}).get(key) or 0.0)
                if by_policy[stage].get(policy, {}).get(count_key)
                else np.nan
                for policy in policies
            ]
            axis.barh(positions + index * width, values, height=width, label=stage)
        axis.set_yticks(positions + width * (len(stages) - 1) / 2, policies)
        axis.set_xlim(0, 1)
        axis.set_title(title)
        axis.grid(axis="x", alpha=0.3)
    axes[0].invert_yaxis()
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=len(stages), fontsize=8)
    figure.tight_layout(rect=(0, 0.05, 1, 1))
    figure.savefig(path, dpi=100)


def plot_score_distribution(scores, path, *, label="judge score"):
    """Histograms of judge (reward) scores per stage, harmful and benign.

    Args:
        scores: dict. Stage name -> `{"harmful": [...], "benign": [...]}`.
        path: str. Where to write the PNG.
        label: str. What the scores are. Defaults to `"judge score"`.
    """
    figure = Figure(figsize=(10, 3.5))
    axes = figure.subplots(1, 2)
    everything = [v for kinds in scores.values() for vs in kinds.values() for v in vs]
    low, high = (min(everything), max(everything)) if everything else (0.0, 1.0)
    bins = np.linspace(low, high if high > low else low + 1.0, 21)
    for axis, kind in zip(axes, ("harmful", "benign"), strict=True):
        for stage, kinds in scores.items():
            values = kinds.get(kind) or []
            if values:
                axis.hist(values, bins=bins, alpha=0.5, label=f"{stage} (mean {np.mean(values):.2f})")
        axis.set_title(f"{kind} prompts")
        axis.set_xlabel(label)
        axis.set_ylabel("responses")
        if axis.get_legend_handles_labels()[0]:
            axis.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
