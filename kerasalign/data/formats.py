"""Record formats: detect the layout of a raw dict and convert it to an example.

SFT formats:

- `prompt_response`: `prompt`/`response`; also `instruction`/`output` (no
  `input`), `question`/`answer`, `query`, `completion`. A TRL-style
  conversational `prompt` (a list of messages) becomes `messages`.
- `alpaca`: `instruction`, `input`, `output`; a non-empty `input` is appended
  to the instruction after a blank line.
- `messages`: chat `messages` with `role`/`content` (plus an optional
  `response`, the final assistant turn).
- `sharegpt`: `conversations` with `from`/`value` (`human`, `gpt`, `system`).
- `variables`: template `variables` (an object), an optional `template` (the
  name or text of the prompt template) and a `response`.

Preference formats:

- `prompt_chosen_rejected`: `prompt` (or `messages`) with `chosen` and
  `rejected` given as strings or as message lists that end with the
  assistant message (TRL's conversational format, with or without an
  explicit prompt).
- `hh_rlhf`: Anthropic HH-RLHF transcripts: `chosen`/`rejected` strings of
  `"\\n\\nHuman: ..."` / `"\\n\\nAssistant: ..."` turns. The shared turns become the
  prompt (`messages` when there are several) and the two final assistant
  turns the responses.
- `pku_saferlhf`: PKU-SafeRLHF: `prompt`, `response_0`, `response_1`,
  `safer_response_id`, `better_response_id`; `label` chooses which id.

Prompt format (evaluation and RL prompts, no response):

- `prompt_only`: a `prompt` (or `instruction`, `question`, `query`; a string
  or a message list) or chat `messages` / `conversations` ending with a user
  turn.

Every format carries `policy`, `use_case`, `source` and `system` (for SFT
also `template`, for pairs `margin` and `rejected_kind`); a `metadata` object and any other field
end up in `metadata`.

Examples:

>>> detect_format({"instruction": "Add 2 and 3.", "input": "", "output": "5"})
('sft', 'alpaca')
>>> record = convert({"question": "2+2?", "answer": "4", "id": 7},
...                  "prompt_response")
>>> record.prompt, record.response, record.metadata
('2+2?', '4', {'id': 7})
"""

import re

from kerasalign.data.prompt_example import PromptExample
from kerasalign.data.schema import (
    ROLE_ALIASES,
    PreferenceExample,
    SFTExample,
    normalize_messages,
)
from kerasalign.errors import DataError

SFT_FORMATS = ("prompt_response", "alpaca", "messages", "sharegpt", "variables")
PREFERENCE_FORMATS = ("prompt_chosen_rejected", "hh_rlhf", "pku_saferlhf")
PROMPT_FORMATS = ("prompt_only",)
RECORD_FORMATS = SFT_FORMATS + PREFERENCE_FORMATS + PROMPT_FORMATS
LABELS = ("safer", "better")

PROMPT_FIELDS = ("prompt", "instruction", "question", "query")
RESPONSE_FIELDS = ("response", "output", "answer", "completion")
SFT_CARRIED = ("policy", "use_case", "source", "system", "template")
PROMPT_CARRIED = ("policy", "use_case", "source", "system")
PREFERENCE_CARRIED = (
    "policy",
    "use_case",
    "source",
    "system",
    "margin",
    "rejected_kind",
)

_HH_TURN = re.compile(r"(?:^|\n\n)(Human|Assistant):[ \t]?")


def format_kind(format):
    """`"sft"`, `"preferences"` or `"prompts"` for a record format name."""
    if format in SFT_FORMATS:
        return "sft"
    return "preferences" if format in PREFERENCE_FORMATS else "prompts"


def detect_format(record, kind=None):
    """Guess the record format from the fields of one raw record.

    A record with a user query and no response (`prompt` alone, or chat
    messages ending with a user turn) is a prompt (`"prompt_only"`), unless
    `kind` says the source holds SFT examples or preference pairs: then it is
    read in that kind's format, so the missing response is reported.

    Args:
        record: dict. One raw record.
        kind: str. `"sft"` or `"preferences"` when the source is known to
            hold that kind. Defaults to `None`.

    Returns:
        A `(kind, format)` tuple with `kind` in `("sft", "preferences",
        "prompts")`, or `None` when no known format matches.

    Examples:

    >>> detect_format({"chosen": "\\n\\nHuman: Hi\\n\\nAssistant: Hello",
    ...                "rejected": "\\n\\nHuman: Hi\\n\\nAssistant: Go away"})
    ('preferences', 'hh_rlhf')
    >>> detect_format({"conversations": [{"from": "human", "value": "Hi"},
    ...                                  {"from": "gpt", "value": "Hello"}]})
    ('sft', 'sharegpt')
    >>> detect_format({"prompt": "Hi"}), detect_format({"prompt": "Hi"}, "sft")
    (('prompts', 'prompt_only'), ('sft', 'prompt_response'))
    """
    keys = {key for key, value in record.items() if value is not None}
    if keys & {"response_0", "safer_response_id", "better_response_id"}:
        return "preferences", "pku_saferlhf"
    if keys & {"chosen", "rejected"}:
        if _looks_like_transcript(record):
            return "preferences", "hh_rlhf"
        return "preferences", "prompt_chosen_rejected"
    has_response = bool(keys & set(RESPONSE_FIELDS))
    if kind == "preferences" and not has_response:
        if keys & set(PROMPT_FIELDS + ("messages",)):
            return "preferences", "prompt_chosen_rejected"
        return None
    for chat_field, chat_format in (
        ("messages", "messages"),
        ("conversations", "sharegpt"),
    ):
        if chat_field in keys:
            if (
                kind != "sft"
                and not has_response
                and _ends_with_user(record[chat_field])
            ):
                return "prompts", "prompt_only"
            return "sft", chat_format
    if "variables" in keys:
        return "sft", "variables"
    if "instruction" in keys and "input" in record:  # An empty input is Alpaca.
        return "sft", "alpaca"
    if has_response:
        return "sft", "prompt_response"
    if keys & set(PROMPT_FIELDS):
        if kind == "sft":
            return "sft", "prompt_response"
        return "prompts", "prompt_only"
    return None


def _ends_with_user(messages):
    if not isinstance(messages, list) or not messages:
        return False
    last = messages[-1]
    if not isinstance(last, dict):
        return False
    role = last.get("role", last.get("from"))
    return isinstance(role, str) and ROLE_ALIASES.get(role.lower()) == "user"


def _looks_like_transcript(record):
    if "messages" in record:
        return False
    prompt = record.get("prompt")
    if prompt is not None:
        return isinstance(prompt, str) and _starts_transcript(prompt)
    chosen = record.get("chosen")
    return isinstance(chosen, str) and _starts_transcript(chosen)


def _starts_transcript(text):
    return text.lstrip(" \n").startswith("Human:")


def convert(record, format, *, source=None, line=None, label="safer"):
    """Convert one raw record of a known format to an (unvalidated) example.

    Args:
        record: dict. One raw record.
        format: str. One of `RECORD_FORMATS`.
        source: str. File name for error messages. Defaults to `None`.
        line: int. Line number for error messages. Defaults to `None`.
        label: str. For `pku_saferlhf`, which preference to use: `"safer"`
            or `"better"`. Defaults to `"safer"`.

    Returns:
        An `SFTExample` or a `PreferenceExample`; call `.validate()` on it.
    """
    where = {"source": source, "line": line}
    if format == "pku_saferlhf":
        return _convert_pku(record, label, where)
    return _CONVERTERS[format](record, where)


def _rest(record, consumed, carried, where):
    """Split the fields that a converter did not use into kwargs and metadata."""
    metadata = {}
    given = record.get("metadata")
    if given is not None:
        if not isinstance(given, dict):
            raise DataError(
                f"expected an object, got {type(given).__name__}",
                field="metadata",
                **where,
            )
        metadata.update(given)
    kwargs = {}
    for key, value in record.items():
        if key in consumed or key == "metadata" or value is None:
            continue
        if key in carried:
            kwargs[key] = value
        else:
            metadata[key] = value
    kwargs["metadata"] = metadata
    return kwargs


def _first_field(record, fields):
    return next((f for f in fields if record.get(f) is not None), None)


def _text(record, field, where, *, required=True):
    value = record.get(field)
    if value is None:
        if required:
            raise DataError("missing", field=field, **where)
        return None
    if not isinstance(value, str):
        raise DataError(
            f"expected a string, got {type(value).__name__}", field=field, **where
        )
    return value


def _assistant_text(value, field, where):
    """A response given as a string or as a single assistant message."""
    if isinstance(value, list):
        messages = normalize_messages(value, field=field, **where)
        if len(messages) != 1 or messages[0]["role"] != "assistant":
            raise DataError(
                "expected a string or a list with one assistant message",
                field=field,
                **where,
            )
        return messages[0]["content"]
    if not isinstance(value, str):
        raise DataError(
            f"expected a string, got {type(value).__name__}", field=field, **where
        )
    return value


def _convert_prompt_response(record, where):
    prompt_field = _first_field(record, PROMPT_FIELDS)
    response_field = _first_field(record, RESPONSE_FIELDS)
    if prompt_field is None:
        raise DataError(
            f"missing (expected one of {', '.join(PROMPT_FIELDS)})",
            field="prompt",
            **where,
        )
    if response_field is None:
        raise DataError(
            f"missing (expected one of {', '.join(RESPONSE_FIELDS)})",
            field="response",
            **where,
        )
    kwargs = _rest(record, {prompt_field, response_field}, SFT_CARRIED, where)
    prompt = record[prompt_field]
    response = _assistant_text(record[response_field], response_field, where)
    if isinstance(prompt, list):
        messages = normalize_messages(prompt, field=prompt_field, **where)
        return SFTExample(messages=messages, response=response, **kwargs)
    if not isinstance(prompt, str):
        raise DataError(
            f"expected a string, got {type(prompt).__name__}",
            field=prompt_field,
            **where,
        )
    return SFTExample(prompt=prompt, response=response, **kwargs)


def _convert_alpaca(record, where):
    instruction = _text(record, "instruction", where)
    extra_input = _text(record, "input", where, required=False) or ""
    output = _text(record, "output", where)
    kwargs = _rest(record, {"instruction", "input", "output"}, SFT_CARRIED, where)
    prompt = instruction
    if extra_input.strip():
        prompt = f"{instruction}\n\n{extra_input}"
    return SFTExample(prompt=prompt, response=output, **kwargs)


def _convert_messages(record, where):
    kwargs = _rest(record, {"messages", "response"}, SFT_CARRIED, where)
    response = record.get("response")
    if response is not None:
        response = _assistant_text(response, "response", where)
    return SFTExample(messages=record.get("messages"), response=response, **kwargs)


def _convert_sharegpt(record, where):
    kwargs = _rest(record, {"conversations"}, SFT_CARRIED, where)
    messages = normalize_messages(
        record.get("conversations"), field="conversations", **where
    )
    return SFTExample(messages=messages, **kwargs)


def _convert_variables(record, where):
    response_field = _first_field(record, RESPONSE_FIELDS) or "response"
    kwargs = _rest(record, {"variables", response_field}, SFT_CARRIED, where)
    variables = record.get("variables")
    if not isinstance(variables, dict):
        raise DataError(
            f"expected an object of template values, got {type(variables).__name__}",
            field="variables",
            **where,
        )
    response = _text(record, response_field, where)
    return SFTExample(variables=variables, response=response, **kwargs)


def _context_fields(messages):
    """Keep a lone user turn (after an optional system turn) as a plain prompt."""
    roles = [message["role"] for message in messages]
    if roles == ["user"]:
        return {"prompt": messages[0]["content"]}
    if roles == ["system", "user"]:
        return {"system": messages[0]["content"], "prompt": messages[1]["content"]}
    return {"messages": messages}


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


def _convert_prompt_chosen_rejected(record, where):
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
        context = _context_fields(chosen_prefix)
        _check_prompt_matches(prompt, chosen_prefix, where)
    elif record.get("messages") is not None:
        if prompt is not None:
            raise DataError(
                "give either prompt or messages, not both", field="prompt", **where
            )
        consumed.add("messages")
        context = _context_fields(normalize_messages(record["messages"], **where))
    elif prompt is None:
        raise DataError("missing", field="prompt", **where)
    elif isinstance(prompt, list):
        context = _context_fields(normalize_messages(prompt, field="prompt", **where))
    else:
        context = {"prompt": prompt}
    kwargs = _rest(record, consumed, PREFERENCE_CARRIED, where)
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


def _with_context(example_class, context, kwargs, where, **fields):
    """Build an example from its context (prompt/system/messages) and fields."""
    if "system" in context and kwargs.get("system") is not None:
        if context["system"] != kwargs["system"]:
            raise DataError(
                "differs from the system message in the conversation",
                field="system",
                **where,
            )
    kwargs.update(context)
    return example_class(**fields, **kwargs)


def _preference(context, chosen, rejected, kwargs, where):
    return _with_context(
        PreferenceExample, context, kwargs, where, chosen=chosen, rejected=rejected
    )


def _convert_prompt_only(record, where):
    response_field = _first_field(record, RESPONSE_FIELDS + ("chosen", "rejected"))
    if response_field is not None:
        raise DataError(
            "has a response, but the source holds prompts only (its first "
            "record had none): load it as SFT or preference data, or as "
            "kind='prompts' to keep only the prompts",
            field=response_field,
            **where,
        )
    chat_field = _first_field(record, ("messages", "conversations"))
    prompt_field = _first_field(record, PROMPT_FIELDS)
    if chat_field is not None:
        consumed = {chat_field}
        value, field = record[chat_field], chat_field
    elif prompt_field is None:
        raise DataError(
            f"missing (expected one of {', '.join(PROMPT_FIELDS)} or messages)",
            field="prompt",
            **where,
        )
    else:
        consumed = {prompt_field}
        value, field = record[prompt_field], prompt_field
    if isinstance(value, list) or chat_field is not None:
        context = _context_fields(normalize_messages(value, field=field, **where))
    else:
        context = {"prompt": _text(record, field, where)}
    kwargs = _rest(record, consumed, PROMPT_CARRIED, where)
    return _with_context(PromptExample, context, kwargs, where)


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


def _convert_hh_rlhf(record, where):
    prompt = _text(record, "prompt", where, required=False) or ""
    transcripts = {}
    for field in ("chosen", "rejected"):
        turns = parse_transcript(
            prompt + _text(record, field, where), field=field, **where
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
    kwargs = _rest(record, {"chosen", "rejected", "prompt"}, PREFERENCE_CARRIED, where)
    return _preference(
        _context_fields(chosen_turns[:-1]),
        chosen_turns[-1]["content"],
        rejected_turns[-1]["content"],
        kwargs,
        where,
    )


def _convert_pku(record, label, where):
    if label not in LABELS:
        raise ValueError(f"label must be one of {list(LABELS)}. Received: {label=}")
    id_field = f"{label}_response_id"
    prompt = _text(record, "prompt", where)
    responses = [_text(record, f"response_{i}", where) for i in (0, 1)]
    chosen_id = record.get(id_field)
    if chosen_id is None:
        raise DataError("missing", field=id_field, **where)
    if isinstance(chosen_id, str) and chosen_id.strip() in ("0", "1"):
        chosen_id = int(chosen_id)
    if isinstance(chosen_id, bool) or chosen_id not in (0, 1):
        raise DataError(f"expected 0 or 1, got {chosen_id!r}", field=id_field, **where)
    # The ids stay in metadata, so the other label is still there to inspect.
    kwargs = _rest(
        record, {"prompt", "response_0", "response_1"}, PREFERENCE_CARRIED, where
    )
    chosen = responses[int(chosen_id)]
    rejected = responses[1 - int(chosen_id)]
    return _preference({"prompt": prompt}, chosen, rejected, kwargs, where)


_CONVERTERS = {
    "prompt_response": _convert_prompt_response,
    "alpaca": _convert_alpaca,
    "messages": _convert_messages,
    "sharegpt": _convert_sharegpt,
    "variables": _convert_variables,
    "prompt_chosen_rejected": _convert_prompt_chosen_rejected,
    "hh_rlhf": _convert_hh_rlhf,
    "prompt_only": _convert_prompt_only,
}
