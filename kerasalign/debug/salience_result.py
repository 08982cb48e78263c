"""`SalienceResult`: per-token attribution of a response to its prompt.

The scores of `compute_salience` are kept per prompt token together with the
token's text and the template part it came from, and can be summed over
words or over template parts (instructions, few-shot examples, user input),
rendered as an HTML heat map (shown by notebooks on their own) or as
coloured terminal text.

Examples:

>>> import numpy as np
>>> result = SalienceResult(
...     tokens=["Say", " hi", " to", " Bob", ":"],
...     token_ids=np.arange(5),
...     scores=np.array([0.1, 0.5, 0.1, 2.0, -0.3]),
...     kinds=["instructions"] * 3 + ["input", "instructions"],
...     labels=["instructions"] * 3 + ["name", "instructions"],
...     target=" Hi Bob!", method="grad_x_input", log_prob=-2.5)
>>> result.top_tokens(1)
[(3, ' Bob', 2.0)]
>>> [(word, round(score, 2)) for word, score in result.word_scores()]
[('Say', 0.1), ('hi', 0.5), ('to', 0.1), ('Bob', 2.0), (':', -0.3)]
>>> [(s["segment"], round(s["share"], 2)) for s in result.segment_scores()]
[('instructions', 0.33), ('input', 0.67)]
"""

import dataclasses

import numpy as np

from kerasalign.debug import salience_rendering
from kerasalign.errors import KerasAlignError

_REDUCTIONS = {"sum": np.sum, "mean": np.mean, "max": np.max}


@dataclasses.dataclass
class SalienceResult:
    """Attribution scores of a target response, one per prompt token.

    Scores of `"grad_norm"` are gradient norms (never negative); those of
    `"grad_x_input"` and `"integrated_gradients"` are signed: positive
    means the token made the target more likely. Rankings and heat maps use
    the absolute value.

    Args:
        tokens: list of str. The text of each prompt token (the start token
            is not included).
        token_ids: array of int. The prompt token ids.
        scores: array of float. One score per prompt token.
        kinds: list of str. The template part kind of each token
            (`"instructions"`, `"examples"`, `"input"`, `"markup"`).
        labels: list of str. The finer part label of each token.
        target: str. The response whose log-probability was attributed.
        method: str. `"grad_norm"`, `"grad_x_input"` or
            `"integrated_gradients"`.
        log_prob: float. `log p(target | prompt)`, summed over target tokens.
        target_tokens: list of str. The text of each target token.
            Defaults to `[]`.
        details: dict. Method details (e.g. integrated gradients' steps and
            baseline log-probability). Defaults to `{}`.
    """

    tokens: list
    token_ids: np.ndarray
    scores: np.ndarray
    kinds: list
    labels: list
    target: str
    method: str
    log_prob: float
    target_tokens: list = dataclasses.field(default_factory=list)
    details: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        self.token_ids = np.asarray(self.token_ids)
        self.scores = np.asarray(self.scores, dtype="float64")
        lengths = {len(self.tokens), len(self.token_ids), len(self.scores), len(self.kinds), len(self.labels)}
        if len(lengths) != 1:
            raise ValueError(
                "tokens, token_ids, scores, kinds and labels must have one entry "
                f"per prompt token; got lengths {sorted(lengths)}."
            )

    @property
    def prompt(self):
        """The prompt text, as the tokens spell it."""
        return "".join(self.tokens)

    def top_tokens(self, k=5):
        """The `k` tokens with the largest absolute score.

        Returns:
            A list of `(position, token text, score)`, largest first.
        """
        order = np.argsort(-np.abs(self.scores), kind="stable")[:k]
        return [(int(i), self.tokens[i], float(self.scores[i])) for i in order]

    def words(self):
        """Group tokens into words: `[(word text, [token positions])]`.

        A word starts at a token that begins with whitespace or at a template
        part boundary; whitespace-only tokens join the word before them, so
        every token belongs to exactly one word. A word of whitespace only
        (a part that is just a newline) keeps its whitespace as its text.
        """
        groups = []
        for position, text in enumerate(self.tokens):
            starts_word = (
                not groups
                or self.labels[position] != self.labels[position - 1]
                or (text[:1].isspace() and text.strip())
                or (self.tokens[position - 1][-1:].isspace() and text.strip())
            )
            if starts_word:
                groups.append([position])
            else:
                groups[-1].append(position)
        words = []
        for group in groups:
            text = "".join(self.tokens[i] for i in group)
            words.append((text.strip() or text, group))
        return words

    def word_scores(self, reduce="sum"):
        """Scores summed (or averaged, or maxed) over each word.

        Args:
            reduce: str. `"sum"`, `"mean"` or `"max"`. Defaults to `"sum"`.

        Returns:
            A list of `(word, score)` in prompt order.
        """
        reduction = _reduction(reduce)
        return [(word, float(reduction(self.scores[group]))) for word, group in self.words()]

    def segment_scores(self, by="kind"):
        """How much each template part contributed.

        Args:
            by: str. `"kind"` (instructions / examples / input / markup) or
                `"label"` (each few-shot example, each placeholder, ...).
                Defaults to `"kind"`.

        Returns:
            A list of dicts in prompt order with `segment`, `tokens` (count),
            `total` (sum of scores), `mean` (per token) and `share` (the
            part's fraction of the summed absolute scores).
        """
        if by not in ("kind", "label"):
            raise KerasAlignError(f"by must be one of ['kind', 'label']. Received: by={by!r}")
        names = self.kinds if by == "kind" else self.labels
        absolute_total = float(np.abs(self.scores).sum()) or 1.0
        segments = {}
        for name, score in zip(names, self.scores, strict=True):
            segments.setdefault(name, []).append(score)
        return [
            {
                "segment": name,
                "tokens": len(scores),
                "total": float(np.sum(scores)),
                "mean": float(np.mean(scores)),
                "share": float(np.abs(scores).sum()) / absolute_total,
            }
            for name, scores in segments.items()
        ]

    def to_dict(self):
        """Everything as JSON-compatible values."""
        return {
            "method": self.method,
            "target": self.target,
            "log_prob": float(self.log_prob),
            "tokens": [
                {"text": text, "id": int(token_id), "score": float(score), "kind": kind, "label": label}
                for text, token_id, score, kind, label in zip(
                    self.tokens, self.token_ids, self.scores, self.kinds, self.labels, strict=True
                )
            ],
            "words": [{"text": word, "score": score} for word, score in self.word_scores()],
            "segments": self.segment_scores(),
            "target_tokens": list(self.target_tokens),
            "details": dict(self.details),
        }

    def to_html(self):
        """A self-contained HTML heat map of the prompt and a part summary."""
        return salience_rendering.to_html(self)

    def _repr_html_(self):
        return self.to_html()

    def to_terminal(self, color=True):
        """The prompt with ANSI background colours (or scores in brackets)."""
        return salience_rendering.to_terminal(self, color=color)

    def __repr__(self):
        top = ", ".join(f"{text!r}: {score:.3g}" for _, text, score in self.top_tokens(3))
        return (
            f"SalienceResult(method={self.method!r}, tokens={len(self.tokens)}, "
            f"log_prob={self.log_prob:.3f}, top=[{top}])"
        )


def _reduction(reduce):
    if reduce not in _REDUCTIONS:
        raise KerasAlignError(f"reduce must be one of {sorted(_REDUCTIONS)}. Received: reduce={reduce!r}")
    return _REDUCTIONS[reduce]
