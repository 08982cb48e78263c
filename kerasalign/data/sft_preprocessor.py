"""`SFTPreprocessor`: examples -> `(x, y, sample_weight)` with response-only loss.

This is the collate step of supervised fine-tuning: render each example with
a template, tokenize the prompt and response separately, add the start token,
shift by one to make next-token targets, and give every target a weight: 1
for response tokens (and the turn's end marker or the end-of-sequence token
that follows the response), 0 for prompt and padding tokens. With
`mask_prompt=False` the prompt tokens are weighted 1 too.

Examples:

>>> import kerasalign
>>> model = kerasalign.load_causal_lm("tiny_gemma")
>>> preprocessor = SFTPreprocessor(model.preprocessor.tokenizer, "gemma", 64)
>>> x, y, sample_weight = preprocessor({"prompt": "Hi", "response": "Hello!"})
>>> sorted(x), x["token_ids"].shape == y.shape == sample_weight.shape
(['padding_mask', 'token_ids'], True)
>>> batch_x, batch_y, batch_w = preprocessor.batch(
...     [{"prompt": "Hi", "response": "Hello!"}, {"prompt": "2+2?", "response": "4"}])
>>> batch_x["token_ids"].shape[0]
2
"""

import dataclasses
import logging

import numpy as np

from kerasalign.data.schema import SFTExample
from kerasalign.data.tokenization import (
    padded_length,
    tokenize_segments,
    truncate_keeping_response,
)
from kerasalign.errors import DataError
from kerasalign.templates import get as get_template
from kerasalign.templates.prompt_template import PromptTemplate

logger = logging.getLogger(__name__)

_SFT_FIELDS = {field.name for field in dataclasses.fields(SFTExample)}


@dataclasses.dataclass
class PreprocessingReport:
    """What preprocessing did to a set of examples.

    Attributes:
        examples: int. Examples received.
        kept: int. Examples in the output.
        truncated_prompt: int. Examples whose prompt was shortened.
        truncated_response: int. Examples whose response was cut at the end.
        dropped: int. Examples left with no response token (not in output).
        dropped_indices: list of int. Their positions in the input.
        response_tokens: int. Tokens carrying loss in the output.
    """

    examples: int = 0
    kept: int = 0
    truncated_prompt: int = 0
    truncated_response: int = 0
    dropped: int = 0
    dropped_indices: list = dataclasses.field(default_factory=list)
    response_tokens: int = 0

    def summary(self):
        """A one-line description for logs."""
        return (
            f"{self.kept}/{self.examples} examples kept, "
            f"{self.truncated_prompt} with the prompt shortened, "
            f"{self.truncated_response} with the response cut, "
            f"{self.dropped} dropped (no response token fits), "
            f"{self.response_tokens} response tokens"
        )


def to_sft_example(record, index=None):
    """Turn a dict (or an `SFTExample`) into a validated `SFTExample`."""
    if isinstance(record, SFTExample):
        return record.validate(line=index)
    if not isinstance(record, dict):
        raise DataError(
            f"expected an SFTExample or a dict, got {type(record).__name__}",
            source="<examples>",
            line=index,
        )
    known = {key: value for key, value in record.items() if key in _SFT_FIELDS}
    extra = {key: value for key, value in record.items() if key not in _SFT_FIELDS}
    example = SFTExample(**known)
    example.metadata = {**extra, **(example.metadata or {})}
    return example.validate(source="<examples>", line=index)


class SFTPreprocessor:
    """Map SFT examples to `(x, y, sample_weight)` for `fit`.

    Args:
        tokenizer: a KerasHub Gemma tokenizer (`model.preprocessor.tokenizer`).
        template: str or template. A built-in template name (`"gemma"`,
            `"alpaca"`, `"phi3"`, `"chatml"`, ...), text with
            `{{placeholders}}`, or a template object.
        sequence_length: int. Length of `x["token_ids"]`; longer examples
            are truncated, keeping the response.
        mask_prompt: bool. Give prompt tokens weight 0 so the loss covers
            only responses. Defaults to `True`.
        min_prompt_tokens: int. When truncating, keep at least this many
            prompt tokens before the response. Defaults to `16`.
        pad_to: str. `"longest"` pads a batch to its longest example rounded
            up to a multiple of 8 (one shape per call, fewer wasted
            positions); `"max"` always pads to `sequence_length`.
            Defaults to `"longest"`.
    """

    def __init__(
        self,
        tokenizer,
        template,
        sequence_length,
        mask_prompt=True,
        min_prompt_tokens=16,
        pad_to="longest",
    ):
        if isinstance(sequence_length, bool) or not isinstance(sequence_length, int) or sequence_length < 2:
            raise ValueError(f"sequence_length must be an integer >= 2. Received: {sequence_length!r}")
        if pad_to not in ("longest", "max"):
            raise ValueError(f"pad_to must be one of ['longest', 'max']. Received: pad_to={pad_to!r}")
        self.tokenizer = tokenizer
        self.template = get_template(template)
        self.sequence_length = sequence_length
        self.mask_prompt = mask_prompt
        self.min_prompt_tokens = min_prompt_tokens
        self.pad_to = pad_to
        self.report = PreprocessingReport()

    def get_config(self):
        return {
            "template": getattr(self.template, "name", repr(self.template)),
            "sequence_length": self.sequence_length,
            "mask_prompt": self.mask_prompt,
            "min_prompt_tokens": self.min_prompt_tokens,
            "pad_to": self.pad_to,
        }

    def _with_rendered_prompt(self, example):
        """Render `variables` through the example's own prompt template."""
        if example.prompt is not None or not example.variables:
            return example
        if isinstance(self.template, PromptTemplate) or self.template.name == "alpaca":
            return example
        if example.template is None:
            raise DataError(
                "has template variables but no `template` to render them "
                f"before the {self.template.name} chat template",
                source="<examples>",
                field="variables",
            )
        prompt = get_template(example.template).format(**example.variables)
        return dataclasses.replace(example, prompt=prompt, variables=None)

    def tokenize(self, example, index=None):
        """Tokenize one example: `(ids, is_target)` before truncation."""
        example = self._with_rendered_prompt(to_sft_example(example, index))
        segments = self.template.segments(example)
        ids, is_target = tokenize_segments(
            self.tokenizer, segments, add_eos=self.template.append_eos
        )
        return ids, is_target

    def _encode(self, records):
        report = PreprocessingReport(examples=len(records))
        rows = []
        for index, record in enumerate(records):
            ids, is_target = self.tokenize(record, index)
            ids, is_target, prompt_cut, response_cut = truncate_keeping_response(
                ids, is_target, self.sequence_length + 1, self.min_prompt_tokens
            )
            report.truncated_prompt += int(prompt_cut)
            report.truncated_response += int(response_cut)
            if not is_target[1:].any():
                report.dropped += 1
                report.dropped_indices.append(index)
                continue
            rows.append((ids, is_target))
        report.kept = len(rows)
        return rows, report

    def batch(self, examples):
        """Preprocess a list of examples into stacked NumPy arrays.

        Returns:
            `(x, y, sample_weight)` with `x = {"token_ids", "padding_mask"}`,
            all of shape `(num_kept_examples, length)`. The report of what
            was truncated or dropped is in `self.report`.
        """
        examples = list(examples)
        if not examples:
            raise DataError("no examples to preprocess", source="<examples>")
        rows, report = self._encode(examples)
        if not rows:
            raise DataError(
                f"every example was dropped: no response token fits in "
                f"sequence_length={self.sequence_length}",
                source="<examples>",
            )
        if self.pad_to == "max":
            length = self.sequence_length
        else:
            length = padded_length([len(ids) - 1 for ids, _ in rows], self.sequence_length)
        token_ids = np.full((len(rows), length), self.tokenizer.pad_token_id, "int32")
        padding_mask = np.zeros((len(rows), length), dtype=bool)
        labels = np.full((len(rows), length), self.tokenizer.pad_token_id, "int32")
        sample_weight = np.zeros((len(rows), length), dtype="float32")
        for row, (ids, is_target) in enumerate(rows):
            n = len(ids) - 1
            token_ids[row, :n] = ids[:-1]
            padding_mask[row, :n] = True
            labels[row, :n] = ids[1:]
            weights = is_target[1:] if self.mask_prompt else np.ones(n, dtype=bool)
            sample_weight[row, :n] = weights
        report.response_tokens = int(sample_weight.sum())
        self.report = report
        if report.dropped or report.truncated_prompt or report.truncated_response:
            logger.warning("SFT preprocessing: %s", report.summary())
        return {"token_ids": token_ids, "padding_mask": padding_mask}, labels, sample_weight

    def __call__(self, example):
        """Preprocess one example (padded like `batch` of one)."""
        x, y, sample_weight = self.batch([example])
        return (
            {key: value[0] for key, value in x.items()},
            y[0],
            sample_weight[0],
        )


def loss_positions(sample_weight):
    """The positions that carry loss, row by row, padded with -1.

    `SFTTrainer(chunk_size=...)` computes logits only at these positions
    when `x["loss_positions"]` holds them: with a large vocabulary the output
    layer is most of a step's compute, and prompt and padding positions need
    none of it. The width is the largest count of a row.

    Examples:

    >>> import numpy as np
    >>> loss_positions(np.array([[0, 1, 1, 0], [1, 0, 0, 0]], "float32"))
    array([[ 1,  2],
           [ 0, -1]], dtype=int32)
    """
    weighted = np.asarray(sample_weight) > 0
    width = max(int(weighted.sum(axis=1).max()), 1) if len(weighted) else 1
    positions = np.full((len(weighted), width), -1, "int32")
    for row, mask in enumerate(weighted):
        found = np.flatnonzero(mask)
        positions[row, : len(found)] = found
    return positions
