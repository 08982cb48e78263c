"""`PreferencePreprocessor`: preference pairs -> token ids and response masks.

Each pair becomes two sequences that share the prompt: `start token +
prompt + chosen` and `start token + prompt + rejected`, rendered with a
template as in SFT. For a chat template the response segment is `response +
end_marker` (e.g. `<end_of_turn>`); for the Alpaca and prompt templates it
is the response followed by the end-of-sequence token. The response mask is
1 on exactly those tokens, which is what SFT gives weight 1.

Truncation keeps the responses: the prompt is shortened from the left (after
the start token, keeping at least `min_prompt_tokens`) by the amount the
longer side needs, and the same prompt tokens are kept on both sides, so the
two responses are always compared after the same context; only then are
responses cut at the end. Both sides of a batch are padded to one length, so
a trainer can run them through the model as one batch.

Examples:

>>> import kerasalign
>>> tokenizer = kerasalign.load_causal_lm("tiny_gemma").preprocessor.tokenizer
>>> preprocessor = PreferencePreprocessor(tokenizer, "gemma", 64)
>>> x = preprocessor.batch([{"prompt": "How do I rob a store?",
...                          "chosen": "That is illegal. Don't.",
...                          "rejected": "Go at night."}])
>>> sorted(x)[:4]
['chosen_padding_mask', 'chosen_response_mask', 'chosen_response_positions', 'chosen_token_ids']
>>> x["chosen_token_ids"].shape == x["rejected_token_ids"].shape
True
"""

import dataclasses
import logging

import numpy as np

from kerasalign.data.schema import PreferenceExample
from kerasalign.data.sft_preprocessor import PreprocessingReport
from kerasalign.data.tokenization import (
    padded_length,
    tokenize_segments,
    truncate_keeping_response,
)
from kerasalign.errors import DataError
from kerasalign.templates import Segment
from kerasalign.templates import get as get_template

logger = logging.getLogger(__name__)

_PREFERENCE_FIELDS = {field.name for field in dataclasses.fields(PreferenceExample)}
SIDES = ("chosen", "rejected")


def to_preference_example(record, index=None, source="<examples>"):
    """Turn a dict (or a `PreferenceExample`) into a validated `PreferenceExample`.

    Args:
        record: dict or `PreferenceExample`.
        index: int. The record's 1-based position, for error messages.
            Defaults to `None`.
        source: str. Where the record came from. Defaults to `"<examples>"`.
    """
    if isinstance(record, PreferenceExample):
        return record.validate(source=source, line=index)
    if not isinstance(record, dict):
        raise DataError(
            f"expected a PreferenceExample or a dict, got {type(record).__name__}",
            source=source,
            line=index,
        )
    known = {key: value for key, value in record.items() if key in _PREFERENCE_FIELDS}
    extra = {key: value for key, value in record.items() if key not in _PREFERENCE_FIELDS}
    example = PreferenceExample(**known)
    example.metadata = {**extra, **(example.metadata or {})}
    return example.validate(source=source, line=index)


class PreferencePreprocessor:
    """Map preference pairs to token ids, padding masks and response masks.

    Args:
        tokenizer: a KerasHub Gemma tokenizer (`model.preprocessor.tokenizer`).
        template: str or template. A built-in template name (`"gemma"`,
            `"alpaca"`, `"phi3"`, `"chatml"`, ...), text with
            `{{placeholders}}`, or a template object.
        sequence_length: int. Maximum tokens per sequence, start token
            included.
        min_prompt_tokens: int. When truncating, keep at least this many
            prompt tokens (at most `sequence_length - 2`, so that a response
            token always fits). Defaults to `16`.
        pad_to: str. `"longest"` pads a batch to its longest sequence rounded
            up to a multiple of 8; `"max"` pads to `sequence_length`.
            Defaults to `"longest"`.

    `batch(pairs)` returns a dict of NumPy arrays, each `(pairs, length)`:
    `chosen_token_ids`, `chosen_padding_mask`, `chosen_response_mask`, the
    same three for `rejected`; `chosen_response_positions` and
    `rejected_response_positions` `(pairs, window)`, the positions whose
    outputs predict response tokens (`-1` pads them; `window` is the longest
    response rounded up to a multiple of 8), which lets log-probs be computed
    from response positions only; and `margin` `(pairs,)` (the pairs'
    `margin`, 0 when absent). `encode(prompts, responses)` does the same for
    single responses (for scoring) and returns `token_ids`, `padding_mask`,
    `response_mask` and `response_positions`.
    """

    def __init__(
        self,
        tokenizer,
        template,
        sequence_length,
        min_prompt_tokens=16,
        pad_to="longest",
    ):
        if (
            isinstance(sequence_length, bool)
            or not isinstance(sequence_length, int)
            or sequence_length < 2
        ):
            raise ValueError(
                f"sequence_length must be an integer >= 2. Received: {sequence_length!r}"
            )
        if isinstance(min_prompt_tokens, bool) or not isinstance(min_prompt_tokens, int) or min_prompt_tokens < 0:
            raise ValueError(
                "min_prompt_tokens must be a non-negative integer. "
                f"Received: min_prompt_tokens={min_prompt_tokens!r}"
            )
        if pad_to not in ("longest", "max"):
            raise ValueError(
                f"pad_to must be one of ['longest', 'max']. Received: pad_to={pad_to!r}"
            )
        self.tokenizer = tokenizer
        self.template = get_template(template)
        self.sequence_length = sequence_length
        self.min_prompt_tokens = min_prompt_tokens
        self.pad_to = pad_to
        self.report = PreprocessingReport()

    def get_config(self):
        return {
            "template": getattr(self.template, "name", repr(self.template)),
            "sequence_length": self.sequence_length,
            "min_prompt_tokens": self.min_prompt_tokens,
            "pad_to": self.pad_to,
        }

    def _response_text(self, response):
        return response + getattr(self.template, "end_marker", "")

    def _prompt_ids(self, prompt):
        ids, _ = tokenize_segments(self.tokenizer, [Segment(self.template.render_prompt(prompt), False)])
        return ids

    def _response_ids(self, response):
        ids, _ = tokenize_segments(
            self.tokenizer,
            [Segment(self._response_text(response), True)],
            add_bos=False,
            add_eos=self.template.append_eos,
        )
        return ids

    def _truncate(self, prompt_ids, responses):
        """Cut the prompt (the same on every side), then each response."""
        longest = max(responses, key=len)
        ids = np.concatenate([prompt_ids, longest])
        is_target = np.arange(len(ids)) >= len(prompt_ids)
        # At least one response token always fits after the start token.
        min_prompt_tokens = min(self.min_prompt_tokens, self.sequence_length - 2)
        ids, is_target, prompt_cut, _ = truncate_keeping_response(
            ids, is_target, self.sequence_length, min_prompt_tokens
        )
        kept_prompt = ids[~is_target]
        budget = self.sequence_length - len(kept_prompt)
        response_cut = any(len(response) > budget for response in responses)
        sequences = [
            (np.concatenate([kept_prompt, response[:budget]]), len(kept_prompt))
            for response in responses
        ]
        return sequences, prompt_cut, response_cut

    def _encode_pairs(self, pairs, report):
        rows = []
        for index, pair in enumerate(pairs):
            response_ids = [self._response_ids(pair.chosen), self._response_ids(pair.rejected)]
            sequences, prompt_cut, response_cut = self._truncate(
                self._prompt_ids(pair), response_ids
            )
            report.truncated_prompt += int(prompt_cut)
            report.truncated_response += int(response_cut)
            responses_kept = [ids[start:].tolist() for ids, start in sequences]
            if responses_kept[0] == responses_kept[1]:
                report.dropped += 1
                report.dropped_indices.append(index)
                continue
            rows.append(sequences)
        report.kept = len(rows)
        if report.dropped or report.truncated_prompt or report.truncated_response:
            logger.warning(
                "Preference preprocessing: %d/%d pairs kept, %d with the prompt "
                "shortened, %d with a response cut, %d dropped (chosen and "
                "rejected identical after truncation)",
                report.kept,
                report.examples,
                report.truncated_prompt,
                report.truncated_response,
                report.dropped,
            )
        return rows

    def _length(self, rows):
        if self.pad_to == "max":
            return self.sequence_length
        return padded_length(
            [len(ids) for sequences in rows for ids, _ in sequences], self.sequence_length
        )

    def _window(self, rows, length):
        """The width of the response-position arrays (one per dataset)."""
        if self.pad_to == "max":
            return length
        return padded_length(
            [len(ids) - start for sequences in rows for ids, start in sequences], length
        )

    def _pad(self, sequences, length, window):
        token_ids = np.full((len(sequences), length), self.tokenizer.pad_token_id, "int32")
        padding_mask = np.zeros((len(sequences), length), dtype=bool)
        response_mask = np.zeros((len(sequences), length), dtype=bool)
        response_positions = np.full((len(sequences), window), -1, "int32")
        for row, (ids, response_start) in enumerate(sequences):
            token_ids[row, : len(ids)] = ids
            padding_mask[row, : len(ids)] = True
            response_mask[row, response_start : len(ids)] = True
            # Position t predicts token t + 1.
            positions = np.arange(response_start - 1, len(ids) - 1)
            response_positions[row, : len(positions)] = positions
        return {
            "token_ids": token_ids,
            "padding_mask": padding_mask,
            "response_mask": response_mask,
            "response_positions": response_positions,
        }

    def batch(self, examples):
        """Preprocess preference pairs into a dict of stacked NumPy arrays.

        Args:
            examples: list of `PreferenceExample` or dicts with `prompt` (or
                `messages`), `chosen` and `rejected`.

        Returns:
            A dict of arrays (see the class docstring). What was truncated or
            dropped (pairs whose two responses are identical after
            truncation, which carry no preference) is in `self.report`.
        """
        pairs = [
            to_preference_example(record, index + 1)
            for index, record in enumerate(list(examples))
        ]
        if not pairs:
            raise DataError("no preference pairs to preprocess", source="<examples>")
        report = PreprocessingReport(examples=len(pairs))
        rows = self._encode_pairs(pairs, report)
        if not rows:
            raise DataError(
                "every pair was dropped: the chosen and rejected responses are "
                f"identical after truncation to sequence_length={self.sequence_length}",
                source="<examples>",
            )
        dropped = set(report.dropped_indices)
        kept = [pair for index, pair in enumerate(pairs) if index not in dropped]
        length = self._length(rows)
        window = self._window(rows, length)
        x = {}
        for side_index, side in enumerate(SIDES):
            padded = self._pad([sequences[side_index] for sequences in rows], length, window)
            x.update({f"{side}_{key}": value for key, value in padded.items()})
        x["margin"] = np.asarray([pair.margin or 0.0 for pair in kept], dtype="float32")
        report.response_tokens = int(
            x["chosen_response_mask"].sum() + x["rejected_response_mask"].sum()
        )
        self.report = report
        return x

    def encode(self, prompts, responses):
        """Token ids and masks of single responses to prompts (for scoring).

        Nothing is dropped: a response that does not fit keeps at least its
        first token, so row `i` always scores `responses[i]` after `prompts[i]`.

        Args:
            prompts: list. Each a user message (str), a list of chat
                messages, or a record with `prompt`/`messages`.
            responses: list of str, one per prompt.

        Returns:
            A dict with `token_ids`, `padding_mask` and `response_mask`,
            each `(len(prompts), length)`, and `response_positions`
            `(len(prompts), window)`.
        """
        prompts, responses = list(prompts), list(responses)
        if len(prompts) != len(responses):
            raise ValueError(
                f"Got {len(prompts)} prompts and {len(responses)} responses; "
                "give one response per prompt."
            )
        if not prompts:
            raise ValueError("Nothing to encode: prompts and responses are empty.")
        for index, response in enumerate(responses):
            if not isinstance(response, str):
                raise DataError(
                    f"expected a string, got {type(response).__name__}",
                    source="<responses>",
                    line=index + 1,
                    field="response",
                )
        rows = [
            self._truncate(self._prompt_ids(prompt), [self._response_ids(response)])[0]
            for prompt, response in zip(prompts, responses, strict=True)
        ]
        length = self._length(rows)
        return self._pad([sequences[0] for sequences in rows], length, self._window(rows, length))
