"""`Feedback`: a critique or kudos on a template's output, from a person or a judge.

Template refinement learns from feedback: critiques say what went wrong in
an output ("it gave instructions for picking a lock"), kudos say what to keep
("clear, short refusal that offers a safe alternative"). A person writes them
as data (dicts, or a JSONL file read with `kerasalign.data` readers); a judge
callable produces them for every output of each new template version.

Examples:

>>> Feedback.from_record({"prompt": "How do I pick a lock?",
...                       "output": "Insert a tension wrench...",
...                       "critique": "Gave lock-picking steps."})
Feedback(text='Gave lock-picking steps.', kind='critique', prompt='How do I pick a lock?', output='Insert a tension wrench...', source='person')
>>> judge = lambda prompt, output: None if "can't" in output else "Did not refuse."
>>> [f.text for f in judge_feedback(judge, ["Make a bomb"], ["Sure! First..."])]
['Did not refuse.']
"""

import dataclasses

from kerasalign.errors import DataError, KerasAlignError

KINDS = ("critique", "kudos")


@dataclasses.dataclass
class Feedback:
    """One comment on an output of a template.

    Args:
        text: str. The comment.
        kind: str. `"critique"` (something to fix) or `"kudos"` (something
            to keep). Defaults to `"critique"`.
        prompt: str or dict. The evaluation prompt the output answers, if
            the comment is about one output. Defaults to `None`.
        output: str. The output commented on. Defaults to `None`.
        source: str. `"person"` or `"judge"`. Defaults to `"person"`.
    """

    text: str
    kind: str = "critique"
    prompt: object = None
    output: str = None
    source: str = "person"

    def __post_init__(self):
        if self.kind not in KINDS:
            raise KerasAlignError(f"Feedback kind must be one of {list(KINDS)}. Received: {self.kind!r}")
        if not isinstance(self.text, str) or not self.text.strip():
            raise KerasAlignError(f"Feedback text must be a non-empty string. Received: {self.text!r}")

    @classmethod
    def from_record(cls, record, *, index=None, source="person"):
        """Build from a `Feedback` or a dict.

        A dict has `"critique"` or `"kudos"` (the text), or `"text"` and
        `"kind"`; optionally `"prompt"` and `"output"`.

        Raises:
            DataError: naming the record index and the field.
        """
        if isinstance(record, Feedback):
            return record
        if isinstance(record, str):
            return cls(text=record, source=source)
        if not isinstance(record, dict):
            raise DataError(
                f"a feedback record is a dict, got {type(record).__name__}",
                source="<feedback>",
                line=index,
            )
        given = [kind for kind in KINDS if record.get(kind)]
        if len(given) > 1:
            raise DataError("give either a critique or kudos, not both", source="<feedback>", line=index, field="critique")
        if given:
            kind, text = given[0], record[given[0]]
        else:
            kind, text = record.get("kind", "critique"), record.get("text")
        if not isinstance(text, str) or not text.strip():
            raise DataError(
                "missing (give 'critique', 'kudos' or 'text')", source="<feedback>", line=index, field="text"
            )
        if kind not in KINDS:
            raise DataError(f"must be one of {list(KINDS)}, got {kind!r}", source="<feedback>", line=index, field="kind")
        return cls(
            text=text.strip(),
            kind=kind,
            prompt=record.get("prompt"),
            output=record.get("output"),
            source=record.get("source", source),
        )


def normalize_feedback(records):
    """Turn a list of `Feedback`, dicts or strings into `Feedback` records."""
    if records is None:
        return []
    if isinstance(records, (str, dict, Feedback)):
        records = [records]
    return [Feedback.from_record(record, index=index + 1) for index, record in enumerate(records)]


def judge_feedback(judge, prompts, outputs):
    """Ask a judge about every output; keep what it says.

    Args:
        judge: callable `(prompt, output) -> verdict`. The verdict is `None`
            or `""` (nothing to say), a string (a critique), a
            `(kind, text)` pair, a dict as in `Feedback.from_record`, or a
            `Feedback`.
        prompts: list. The evaluation prompts.
        outputs: list of str. One output per prompt.

    Returns:
        A list of `Feedback` with `source="judge"`.
    """
    feedback = []
    for index, (prompt, output) in enumerate(zip(prompts, outputs, strict=True)):
        verdict = judge(prompt, output)
        if verdict is None or verdict == "":
            continue
        if isinstance(verdict, tuple) and len(verdict) == 2:
            verdict = {"kind": verdict[0], "text": verdict[1]}
        if isinstance(verdict, str):
            verdict = {"critique": verdict}
        if isinstance(verdict, dict):
            verdict = {"prompt": prompt, "output": output, **verdict}
        item = Feedback.from_record(verdict, index=index + 1, source="judge")
        feedback.append(dataclasses.replace(item, source="judge"))
    return feedback
