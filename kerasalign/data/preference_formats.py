"""Converters of preference-pair records (see `kerasalign.data.formats`).

Examples:

>>> pair = convert_hh_rlhf({
...     "chosen": "\\n\\nHuman: Hi\\n\\nAssistant: Hello!",
...     "rejected": "\\n\\nHuman: Hi\\n\\nAssistant: Go away.",
... }, {"source": None, "line": None})
>>> pair.prompt, pair.chosen, pair.rejected
('Hi', 'Hello!', 'Go away.')
"""

import re

from kerasalign.data.record_fields import (
    PREFERENCE_CARRIED,
    context_fields,
    split_fields,
    text_field,
    with_context,
)
from kerasalign.data.schema import PreferenceExample, normalize_messages
from kerasalign.errors import DataError

LABELS = ("safer", "better")

_HH_TURN = re.compile(r"(?:^|\n\n)(Human|Assistant):[ \t]?")


def _final_response(value, field, where):
    """Split a response (string or message list) into its text and prefix."""
    if value is None:
        raise DataError("missing", field=field, **where)
    if not isinstance(value, list):
        return value, []
    messages = normalize_messages(value, field=field, **where)
    if messages[-1]["role"] != "assistant":
        raise DataError(
            "a message list must end with the assistant response",
            field=field,
            **where,
        )
    return messages[-1]["content"], messages[:-1]


def convert_prompt_chosen_rejected(record, where):
    chosen, chosen_prefix = _final_response(record.get("chosen"), "chosen", where)
    rejected, rejected_prefix = _final_response(
        record.get("rejected"), "rejected", where
    )
    if chosen_prefix != rejected_prefix:
        raise DataError(
            "chosen and rejected differ before the final assistant message",
            field="rejected",
            **where,
        )
    prompt = record.get("prompt")
    consumed = {"chosen", "rejected", "prompt"}
    if chosen_prefix:
        context = context_fields(chosen_prefix)
        _check_prompt_matches(prompt, chosen_prefix, where)
    elif record.get("messages") is not None:
        if prompt is not None:
            raise DataError(
                "give either prompt or messages, not both", field="prompt", **where
            )
        consumed.add("messages")
        context = context_fields(normalize_messages(record["messages"], **where))
    elif prompt is None:
        raise DataError("missing", field="prompt", **where)
    elif isinstance(prompt, list):
        context = context_fields(normalize_messages(prompt, field="prompt", **where))
    else:
        context = {"prompt": prompt}
    kwargs = split_fields(record, consumed, PREFERENCE_CARRIED, where)
    return _preference(context, chosen, rejected, kwargs, where)


def _check_prompt_matches(prompt, prefix, where):
    if prompt is None:
        return
    if isinstance(prompt, list):
        expected = normalize_messages(prompt, field="prompt", **where)
        matches = prefix[-len(expected) :] == expected
    else:
        user_turns = [m["content"] for m in prefix if m["role"] == "user"]
        matches = bool(user_turns) and str(prompt).strip() == user_turns[-1].strip()
    if not matches:
        raise DataError(
            "does not match the conversation given in chosen", field="prompt", **where
        )


def _preference(context, chosen, rejected, kwargs, where):
    return with_context(
        PreferenceExample, context, kwargs, where, chosen=chosen, rejected=rejected
    )


def parse_transcript(text, *, field="chosen", source=None, line=None):
    """Split an HH-RLHF transcript into chat messages.

    Args:
        text: str. Turns introduced by `"\\n\\nHuman:"` and `"\\n\\nAssistant:"`.
        field: str. Field name for error messages. Defaults to `"chosen"`.
        source: str. File name for error messages. Defaults to `None`.
        line: int. Line number for error messages. Defaults to `None`.

    Returns:
        A list of `{"role", "content"}` dicts, contents stripped.

    Examples:

    >>> parse_transcript("\\n\\nHuman: Hi\\n\\nAssistant: Hello!")
    [{'role': 'user', 'content': 'Hi'}, {'role': 'assistant', 'content': 'Hello!'}]
    """
    where = {"source": source, "line": line}
    if not isinstance(text, str):
        raise DataError(
            f"expected a string, got {type(text).__name__}", field=field, **where
        )
    matches = list(_HH_TURN.finditer(text))
    if not matches or text[: matches[0].start()].strip():
        raise DataError(
            'expected a transcript of "\\n\\nHuman:" / "\\n\\nAssistant:" turns',
            field=field,
            **where,
        )
    turns = []
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        role = "user" if match.group(1) == "Human" else "assistant"
        turns.append({"role": role, "content": text[match.end() : end].strip()})
    return turns


def convert_hh_rlhf(record, where):
    prompt = text_field(record, "prompt", where, required=False) or ""
    transcripts = {}
    for field in ("chosen", "rejected"):
        turns = parse_transcript(
            prompt + text_field(record, field, where), field=field, **where
        )
        if turns[-1]["role"] != "assistant":
            raise DataError(
                "the transcript must end with an Assistant turn", field=field, **where
            )
        if len(turns) < 2:
            raise DataError(
                "no Human turn before the final Assistant turn", field=field, **where
            )
        transcripts[field] = turns
    chosen_turns, rejected_turns = transcripts["chosen"], transcripts["rejected"]
    if chosen_turns[:-1] != rejected_turns[:-1]:
        turn = next(
            (
                i + 1
                for i, (a, b) in enumerate(
                    zip(chosen_turns, rejected_turns, strict=False)
                )
                if a != b
            ),
            min(len(chosen_turns), len(rejected_turns)),
        )
        raise DataError(
            f"the chosen and rejected transcripts differ at turn {turn}, before "
            "the final Assistant turn; an HH-RLHF pair must share the conversation",
            field="rejected",
            **where,
        )
    kwargs = split_fields(
        record, {"chosen", "rejected", "prompt"}, PREFERENCE_CARRIED, where
    )
    return _preference(
        context_fields(chosen_turns[:-1]),
        chosen_turns[-1]["content"],
        rejected_turns[-1]["content"],
        kwargs,
        where,
    )


def convert_pku(record, label, where):
    if label not in LABELS:
        raise ValueError(f"label must be one of {list(LABELS)}. Received: {label=}")
    id_field = f"{label}_response_id"
    prompt = text_field(record, "prompt", where)
    responses = [text_field(record, f"response_{i}", where) for i in (0, 1)]
    chosen_id = record.get(id_field)
    if chosen_id is None:
        raise DataError("missing", field=id_field, **where)
    if isinstance(chosen_id, str) and chosen_id.strip() in ("0", "1"):
        chosen_id = int(chosen_id)
    if isinstance(chosen_id, bool) or chosen_id not in (0, 1):
        raise DataError(f"expected 0 or 1, got {chosen_id!r}", field=id_field, **where)
    # The ids stay in metadata, so the other label is still there to inspect.
    kwargs = split_fields(
        record, {"prompt", "response_0", "response_1"}, PREFERENCE_CARRIED, where
    )
    chosen = responses[int(chosen_id)]
    rejected = responses[1 - int(chosen_id)]
    return _preference({"prompt": prompt}, chosen, rejected, kwargs, where)
