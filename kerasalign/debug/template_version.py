"""`TemplateVersion`: one version of a template in a refinement history."""

import dataclasses

STATUSES = ("original", "accepted", "repaired", "rejected", "unchanged")


@dataclasses.dataclass
class TemplateVersion:
    """A template version, the principles behind it, and how it scored.

    Args:
        index: int. The version number (0 is the original).
        template: `PromptTemplate`. The template, or for a rejected revision
            its parent's template.
        principles: list of str. Every principle the version follows (its
            parent's and the new ones).
        status: str. `"original"`, `"accepted"`, `"repaired"` (the revision
            dropped a placeholder and was repaired), `"rejected"` (not
            usable; not evaluated) or `"unchanged"` (same text as its parent).
        parent: int. The version it was revised from. Defaults to `None`.
        new_principles: list of str. The principles added in this version.
            Defaults to `[]`.
        feedback: list of `Feedback`. The feedback that led to this version.
            Defaults to `[]`.
        notes: list of str. Repairs and reasons for rejection.
            Defaults to `[]`.
        revision_text: str. The LLM's raw rewrite. Defaults to `None`.
        outputs: list of str. The outputs on the evaluation prompts.
            Defaults to `None` (not evaluated).
        score: float. The metric on those outputs. Defaults to `None`.
    """

    index: int
    template: object
    principles: list
    status: str
    parent: int = None
    new_principles: list = dataclasses.field(default_factory=list)
    feedback: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)
    revision_text: str = None
    outputs: list = None
    score: float = None

    @property
    def text(self):
        """The template text."""
        return self.template.text

    @property
    def usable(self):
        """Whether the version can be used (it was not rejected)."""
        return self.status != "rejected"

    def to_dict(self):
        """The version as JSON-compatible values."""
        return {
            "index": self.index,
            "status": self.status,
            "parent": self.parent,
            "text": self.text,
            "principles": list(self.principles),
            "new_principles": list(self.new_principles),
            "feedback": [dataclasses.asdict(item) for item in self.feedback],
            "notes": list(self.notes),
            "revision_text": self.revision_text,
            "outputs": None if self.outputs is None else list(self.outputs),
            "score": self.score,
        }
