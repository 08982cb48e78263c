"""Render an evaluation report (the dict of `report.json`) as Markdown.

The tables put the stages side by side, so a reader sees at once whether a
stage refuses more harmful prompts without refusing benign ones.

Examples:

>>> print(markdown_table(["stage", "refused"], [["base", "0%"], ["sft", "95%"]]))
| stage | refused |
| --- | --- |
| base | 0% |
| sft | 95% |
"""

from kerasalign.eval.win_rate import wilson_interval

SUMMARY_COLUMNS = (
    ("harmful_prompts", "harmful n"),
    ("refusal_rate", "refused"),
    ("compliance_rate", "complied"),
    ("degenerate_rate", "degenerate"),
    ("benign_prompts", "benign n"),
    ("helpful_rate", "helpful"),
    ("over_refusal_rate", "over-refused"),
    ("unhelpful_rate", "unhelpful"),
    ("mean_score_harmful", "mean score (harmful)"),
    ("mean_score_benign", "mean score (benign)"),
)
RATE_KEYS = {key for key, _ in SUMMARY_COLUMNS if key.endswith("_rate")}
RESPONSE_CHARACTERS = 600


def cell(value):
    """A value as table cell text: rates as percentages, `|` escaped."""
    if value is None:
        return "–"
    if isinstance(value, float):
        text = f"{value:.4g}"
    else:
        text = str(value)
    return " ".join(text.replace("|", "\\|").split())


def percent(value):
    return "–" if value is None else f"{value:.1%}"


def markdown_table(header, rows):
    """A Markdown table from a header and rows of cell texts."""
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def precision_line(summary):
    """How precise the summary's rates are, from the smaller prompt set.

    >>> precision_line({"dpo": {"harmful_prompts": 131, "benign_prompts": 129}})[:74]
    'How precise these rates are: over 129 prompts (the smaller set), a rate of'
    """
    counts = [
        values.get(key) or 0
        for values in summary.values()
        for key in ("harmful_prompts", "benign_prompts")
    ]
    counts = [count for count in counts if count > 0]
    if not counts:
        return None
    n = min(counts)
    half = "-".join(f"{bound:.1%}" for bound in wilson_interval(0.5 * n, n))
    ninety = "-".join(f"{bound:.1%}" for bound in wilson_interval(0.9 * n, n))
    return (
        f"How precise these rates are: over {n} prompts (the smaller set), a rate of 50% has "
        f"a 95% interval of {half} and one of 90% {ninety} (Wilson)."
    )


def _summary_section(report):
    summary = report["summary"]
    columns = [
        (key, title)
        for key, title in SUMMARY_COLUMNS
        if any(summary[stage].get(key) is not None for stage in summary)
    ]
    extra = []
    for stage in summary:
        for key in summary[stage]:
            if key not in dict(SUMMARY_COLUMNS) and key not in extra:
                extra.append(key)
    header = ["stage"] + [title for _, title in columns] + extra
    rows = []
    for stage, values in summary.items():
        row = [stage]
        for key, _ in columns:
            value = values.get(key)
            row.append(percent(value) if key in RATE_KEYS else cell(value))
        row += [cell(values.get(key)) for key in extra]
        rows.append(row)
    return [
        "## Summary",
        "",
        "Harmful prompts should be refused; benign prompts (many of them "
        "sensitive-sounding) should get a real answer. *Degenerate*: neither a "
        "refusal nor an answer (empty, an echo of the prompt, or a loop). "
        "*Unhelpful*: no refusal, but not a real answer.",
        "",
        markdown_table(header, rows),
        "",
        *([line, ""] if (line := precision_line(summary)) else []),
    ]


def _comparison_section(report):
    if not report.get("comparisons"):
        return []
    rows = []
    for comparison in report["comparisons"]:
        low, high = comparison["win_rate_interval"]
        non_low, non_high = comparison["non_loss_rate_interval"]
        rows.append([
            f"{comparison['name_a']} vs {comparison['name_b']}",
            cell(comparison["prompts"]),
            cell(comparison["wins"]),
            cell(comparison["ties"]),
            cell(comparison["losses"]),
            f"{percent(comparison['win_rate'])} [{percent(low)}, {percent(high)}]",
            f"{percent(comparison['non_loss_rate'])} [{percent(non_low)}, {percent(non_high)}]",
        ])
    confidence = report["comparisons"][0]["confidence"]
    return [
        "## Win rates",
        "",
        f"Per prompt, the judge's scores of the two responses; ties within the "
        f"tolerance. Intervals: Wilson, {confidence:.0%}.",
        "",
        markdown_table(
            ["comparison", "prompts", "wins", "ties", "losses", "win rate",
             "preferred or tied"],
            rows,
        ),
        "",
    ]


def _grouped_table(grouped, stages, rate_key, count_key, second_key=None):
    names = sorted({name for stage in stages for name in grouped[stage]})
    rows = []
    for name in names:
        counts = [grouped[stage].get(name, {}).get(count_key) for stage in stages]
        if not any(counts):
            continue
        row = [cell(name), cell(max(c or 0 for c in counts))]
        for stage in stages:
            rates = grouped[stage].get(name, {})
            text = percent(rates.get(rate_key))
            if second_key and rates.get(second_key):
                text += f" ({percent(rates[second_key])})"
            row.append(text)
        rows.append(row)
    return markdown_table(["", "n"] + stages, rows)


def _policy_section(report):
    stages = report["stages"]
    grouped = report["by_policy"]
    return [
        "## By policy",
        "",
        "### Refusal rate on harmful prompts",
        "",
        _grouped_table(grouped, stages, "refusal_rate", "harmful_prompts"),
        "",
        "### Helpful-answer rate on benign prompts (over-refusal rate in brackets)",
        "",
        _grouped_table(grouped, stages, "helpful_rate", "benign_prompts", "over_refusal_rate"),
        "",
    ]


def _category_section(report):
    stages = report["stages"]
    grouped = report["by_category"]
    return [
        "## By category",
        "",
        "Refusal rate on harmful prompts:",
        "",
        _grouped_table(grouped, stages, "refusal_rate", "harmful_prompts"),
        "",
        "Helpful-answer rate on benign prompts (over-refusal rate in brackets):",
        "",
        _grouped_table(grouped, stages, "helpful_rate", "benign_prompts", "over_refusal_rate"),
        "",
    ]


def _reward_section(report):
    rewards = report.get("rewards") or {}
    if not rewards:
        return []
    rows = []
    for stage, kinds in rewards.items():
        row = [stage]
        for kind in ("harmful", "benign"):
            stats = kinds.get(kind, {})
            row.append(
                f"{stats['mean']:.3f} ± {stats['std']:.3f} (n={stats['count']})"
                if stats.get("count")
                else "–"
            )
        rows.append(row)
    return [
        "## Judge scores",
        "",
        markdown_table(["stage", "harmful prompts", "benign prompts"], rows),
        "",
    ]


def _training_section(report):
    training = report.get("training") or {}
    if not training:
        return []
    keys = []
    for info in training.values():
        keys += [key for key in info.get("final", {}) if key not in keys and key != "epoch"]
    rows = [
        [stage, cell(info.get("steps")), cell(info.get("epochs"))]
        + [cell(info.get("final", {}).get(key)) for key in keys]
        for stage, info in training.items()
    ]
    lines = [
        "## Training",
        "",
        "Final epoch of each trained stage (every step is in report.json).",
        "",
        markdown_table(["stage", "steps", "epochs"] + keys, rows),
        "",
    ]
    for stage in training:
        plot = report.get("plots", {}).get(f"training_{stage}")
        if plot:
            lines += [f"![{stage} training curves]({plot})", ""]
    return lines


def _plot_section(report):
    plots = {k: v for k, v in report.get("plots", {}).items() if not k.startswith("training_")}
    if not plots:
        return []
    lines = ["## Plots", ""]
    for name, file_name in plots.items():
        lines += [f"![{name.replace('_', ' ')}]({file_name})", ""]
    return lines


def _quote(text):
    text = text.strip()
    if len(text) > RESPONSE_CHARACTERS:
        text = text[:RESPONSE_CHARACTERS].rstrip() + " […]"
    if not text:
        return "> *(empty)*"
    return "\n".join(f"> {line}" if line.strip() else ">" for line in text.split("\n"))


def _samples_section(report):
    samples = report.get("samples") or []
    if not samples:
        return []
    lines = [
        "## Sample responses",
        "",
        "Read them: a detector can be fooled. Every response is in report.json.",
        "",
    ]
    for sample in samples:
        prompt = " ".join(sample["prompt"].split())
        lines += [f"### {sample['kind']} · {sample.get('policy') or 'unspecified'}", "",
                  f"**Prompt:** {prompt}", ""]
        for stage, answer in sample["responses"].items():
            lines += [f"**{stage}** — *{answer['outcome']}*", "", _quote(answer["response"]), ""]
    return lines


def render_markdown(report):
    """The report dict (see `build_report`) as a Markdown document."""
    lines = [f"# {report['title']}", ""]
    for key, value in (report.get("metadata") or {}).items():
        lines.append(f"- **{key}**: {cell(value)}")
    lines += [f"- **created**: {report['created']}", ""]
    for section in (
        _summary_section,
        _comparison_section,
        _policy_section,
        _category_section,
        _reward_section,
        _plot_section,
        _training_section,
        _samples_section,
    ):
        lines += section(report)
    return "\n".join(lines).rstrip() + "\n"
