"""`RefinementResult`: every template version of a refinement run, compared."""

import dataclasses
import html


@dataclasses.dataclass
class RefinementResult:
    """The history of a template refinement.

    Args:
        versions: list of `TemplateVersion`, version 0 the original.
        metric_name: str. The name of the metric that scored them.
        higher_is_better: bool. The metric's direction. Defaults to `True`.
        prompts: list. The evaluation prompts. Defaults to `[]`.
    """

    versions: list
    metric_name: str
    higher_is_better: bool = True
    prompts: list = dataclasses.field(default_factory=list)

    def _better(self, score, reference):
        return score > reference if self.higher_is_better else score < reference

    def change(self, version):
        """A version's score minus its parent's (`None` if either is unscored)."""
        if version.parent is None or version.score is None:
            return None
        parent = self.versions[version.parent]
        return None if parent.score is None else version.score - parent.score

    def revision_helped(self, version):
        """Whether a revision scored better than its parent (`None` if unknown)."""
        change = self.change(version)
        if change is None:
            return None
        return self._better(change, 0.0)

    @property
    def original(self):
        """Version 0."""
        return self.versions[0]

    @property
    def best(self):
        """The usable, scored version with the best score (the earliest on ties)."""
        best = None
        for version in self.versions:
            if version.usable and version.score is not None:
                if best is None or self._better(version.score, best.score):
                    best = version
        return best

    @property
    def helped(self):
        """Whether the best version beats the original."""
        best = self.best
        return best is not None and best.index != 0 and self._better(best.score, self.original.score)

    def summary(self):
        """A plain-text table: version, status, score, change, principles."""
        width = max(10, len(self.metric_name))
        lines = [f"{'version':>7}  {'status':<9}  {self.metric_name:>{width}}  {'change':>8}  principles"]
        for version in self.versions:
            score = "-" if version.score is None else f"{version.score:.3f}"
            change = self.change(version)
            change = "" if change is None else f"{change:+.3f}"
            lines.append(
                f"{version.index:>7}  {version.status:<9}  {score:>{width}}  {change:>8}  "
                f"{len(version.principles)}"
            )
        best = self.best
        verdict = (
            f"best: version {best.index} ({'better than' if self.helped else 'no better than'} the original)"
            if best is not None
            else "no version was scored"
        )
        return "\n".join(lines + [verdict])

    def to_dict(self):
        """Everything as JSON-compatible values."""
        best = self.best
        return {
            "metric": self.metric_name,
            "higher_is_better": self.higher_is_better,
            "helped": self.helped,
            "best_version": None if best is None else best.index,
            "prompts": list(self.prompts),
            "versions": [
                {**version.to_dict(), "change": self.change(version), "helped": self.revision_helped(version)}
                for version in self.versions
            ],
        }

    def _repr_html_(self):
        rows = []
        for version in self.versions:
            score = "" if version.score is None else f"{version.score:.3f}"
            change = self.change(version)
            principles = "".join(f"<li>{html.escape(p)}</li>" for p in version.new_principles)
            notes = "".join(f"<div style='color: #a00'>{html.escape(n)}</div>" for n in version.notes)
            rows.append(
                f"<tr><td>{version.index}</td><td>{version.status}</td><td>{score}</td>"
                f"<td>{'' if change is None else f'{change:+.3f}'}</td>"
                f"<td><ul>{principles}</ul></td>"
                f"<td><pre style='white-space: pre-wrap'>{html.escape(version.text)}</pre>{notes}</td></tr>"
            )
        return (
            "<table><tr><th>version</th><th>status</th>"
            f"<th>{html.escape(self.metric_name)}</th><th>change</th><th>new principles</th>"
            f"<th>template</th></tr>{''.join(rows)}</table>"
        )
