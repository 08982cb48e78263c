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

from kerasalign.data import preference_formats, sft_formats
from kerasalign.data.preference_formats import LABELS, parse_transcript
from kerasalign.data.record_fields import PROMPT_FIELDS, RESPONSE_FIELDS
from kerasalign.data.schema import ROLE_ALIASES

SFT_FORMATS = ("prompt_response", "alpaca", "messages", "sharegpt", "variables")
PREFERENCE_FORMATS = ("prompt_chosen_rejected", "hh_rlhf", "pku_saferlhf")
PROMPT_FORMATS = ("prompt_only",)
RECORD_FORMATS = SFT_FORMATS + PREFERENCE_FORMATS + PROMPT_FORMATS


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
        return preference_formats.convert_pku(record, label, where)
    return _CONVERTERS[format](record, where)


_CONVERTERS = {
    "prompt_response": sft_formats.convert_prompt_response,
    "alpaca": sft_formats.convert_alpaca,
    "messages": sft_formats.convert_messages,
    "sharegpt": sft_formats.convert_sharegpt,
    "variables": sft_formats.convert_variables,
    "prompt_only": sft_formats.convert_prompt_only,
    "prompt_chosen_rejected": preference_formats.convert_prompt_chosen_rejected,
    "hh_rlhf": preference_formats.convert_hh_rlhf,
}

__all__ = [
    "LABELS",
    "PREFERENCE_FORMATS",
    "PROMPT_FORMATS",
    "RECORD_FORMATS",
    "SFT_FORMATS",
    "convert",
    "detect_format",
    "format_kind",
    "parse_transcript",
]
