"""Typed records for alignment data: one SFT example, one preference pair.

The layout follows the data points of safety-tuning guides: the content
`policy` and the `use_case` are metadata that are kept for quality reports and
per-policy evaluation but never trained on; the user query is a `prompt` (or a
chat `messages` list); the model response is `response` (SFT) or the pair
`chosen` / `rejected` (preferences).

Examples:

>>> example = SFTExample(prompt="How do I kill a Python process?",
...                      response="Use `kill PID` or `pkill -f script.py`.",
...                      policy="none", use_case="coding")
>>> example.is_chat
False
>>> pair = PreferenceExample(prompt="How do I rob a store?",
...                          chosen="That is illegal. Don't.",
...                          rejected="Go at night.")
>>> pair.prompt_messages()
[{'role': 'user', 'content': 'How do I rob a store?'}]
"""

import dataclasses

from kerasalign.errors import DataError

ROLES = ("system", "user", "assistant")

# Role spellings used by common datasets, mapped to ours.
ROLE_ALIASES = {
    "system": "system",
    "user": "user",
    "human": "user",
    "prompter": "user",
    "assistant": "assistant",
    "model": "assistant",
    "gpt": "assistant",
    "bot": "assistant",
}


def normalize_messages(messages, *, source=None, line=None, field="messages"):
    """Validate a chat conversation and map role aliases to ours.

    Args:
        messages: list of dict. Each has `role` (or `from`) and `content`
            (or `value`).
        source: str. File name for error messages. Defaults to `None`.
        line: int. Line number for error messages. Defaults to `None`.
        field: str. Field name for error messages. Defaults to `"messages"`.

    Returns:
        A new list of `{"role": ..., "content": ...}` dicts with roles in
        `("system", "user", "assistant")`.

    Examples:

    >>> normalize_messages([{"from": "human", "value": "Hi"}])
    [{'role': 'user', 'content': 'Hi'}]
    """
    if not isinstance(messages, (list, tuple)) or not messages:
        raise DataError(
            "expected a non-empty list of messages",
            source=source,
            line=line,
            field=field,
        )
    normalized = []
    for index, message in enumerate(messages):
        where = f"{field}[{index}]"
        if not isinstance(message, dict):
            raise DataError(
                f"expected an object, got {type(message).__name__}",
                source=source,
                line=line,
                field=where,
            )
        role = message.get("role", message.get("from"))
        content = message.get("content", message.get("value"))
        if not isinstance(role, str) or role.lower() not in ROLE_ALIASES:
            raise DataError(
                f"unknown role {role!r}; expected one of {list(ROLES)}",
                source=source,
                line=line,
                field=f"{where}.role",
            )
        if not isinstance(content, str):
            raise DataError(
                f"expected a string, got {type(content).__name__}",
                source=source,
                line=line,
                field=f"{where}.content",
            )
        normalized.append({"role": ROLE_ALIASES[role.lower()], "content": content})
    system_positions = [
        i for i, message in enumerate(normalized) if message["role"] == "system"
    ]
    if system_positions and system_positions != [0]:
        raise DataError(
            "a system message may only be the first message",
            source=source,
            line=line,
            field=field,
        )
    return normalized


def _check_text(value, field, *, source, line, allow_empty=False):
    if not isinstance(value, str):
        raise DataError(
            f"expected a string, got {type(value).__name__}",
            source=source,
            line=line,
            field=field,
        )
    if not allow_empty and not value.strip():
        raise DataError("is empty", source=source, line=line, field=field)


def _check_metadata(record, *, source, line):
    for field in ("policy", "use_case", "source"):
        value = getattr(record, field)
        if value is not None and not isinstance(value, str):
            raise DataError(
                f"expected a string, got {type(value).__name__}",
                source=source,
                line=line,
                field=field,
            )


def _check_user_query(record, conversation, *, source, line):
    """Check a record's query: `messages` ending with a user turn, or a `prompt`.

    `conversation` names the messages in the error, e.g. "a prompt
    conversation". The system prompt and metadata are checked too.
    """
    if record.messages is not None:
        record.messages = normalize_messages(record.messages, source=source, line=line)
        if record.messages[-1]["role"] != "user":
            raise DataError(
                f"{conversation} must end with a user message",
                source=source,
                line=line,
                field="messages",
            )
    elif record.prompt is None:
        raise DataError("missing", source=source, line=line, field="prompt")
    else:
        _check_text(record.prompt, "prompt", source=source, line=line)
    if record.system is not None:
        _check_text(record.system, "system", source=source, line=line)
    _check_metadata(record, source=source, line=line)


def query_messages(record):
    """A record's query as chat messages (system prompt first), ending with the user turn."""
    if record.messages is not None:
        messages = list(record.messages)
    else:
        messages = [{"role": "user", "content": record.prompt}]
    if record.system is not None and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": record.system})
    return messages


@dataclasses.dataclass
class SFTExample:
    """One supervised fine-tuning example.

    Give either a `prompt` and a `response`, template `variables` and a
    `response`, or a chat `messages` list whose assistant turns are the
    targets (then `response` may be left out, or it is appended as the final
    assistant turn).

    Args:
        prompt: str. The user query. Defaults to `None`.
        response: str. The desired model response. Defaults to `None`.
        messages: list of dict. A conversation of `{"role", "content"}`
            messages. Defaults to `None`.
        system: str. A system prompt. Defaults to `None`.
        variables: dict. Values for a `PromptTemplate`'s placeholders.
            Defaults to `None`.
        template: str. The name or text of the `PromptTemplate` that turns
            `variables` into the user prompt (e.g. `"summarize_article"`).
            Defaults to `None`.
        policy: str. Content policy the example is about (metadata, never
            trained on). Defaults to `None`.
        use_case: str. Application task, e.g. "coding" (metadata).
            Defaults to `None`.
        source: str. Where the example came from (metadata).
            Defaults to `None`.
        metadata: dict. Any other fields to keep. Defaults to `{}`.
    """

    prompt: str | None = None
    response: str | None = None
    messages: list | None = None
    system: str | None = None
    variables: dict | None = None
    template: str | None = None
    policy: str | None = None
    use_case: str | None = None
    source: str | None = None
    metadata: dict = dataclasses.field(default_factory=dict)

    def validate(self, *, source=None, line=None):
        """Raise `DataError` naming the field if the example is malformed."""
        if self.template is not None:
            _check_text(self.template, "template", source=source, line=line)
        if self.messages is not None:
            self.messages = normalize_messages(
                self.messages, source=source, line=line
            )
            if self.response is not None:
                _check_text(self.response, "response", source=source, line=line)
            elif not any(m["role"] == "assistant" for m in self.messages):
                raise DataError(
                    "a conversation needs at least one assistant message",
                    source=source,
                    line=line,
                    field="messages",
                )
        else:
            if self.prompt is None and self.variables is None:
                raise DataError(
                    "missing (give prompt, variables or messages)",
                    source=source,
                    line=line,
                    field="prompt",
                )
            if self.prompt is not None:
                _check_text(self.prompt, "prompt", source=source, line=line)
            if self.variables is not None and not isinstance(self.variables, dict):
                raise DataError(
                    "expected an object of template values",
                    source=source,
                    line=line,
                    field="variables",
                )
            if self.response is None:
                raise DataError("missing", source=source, line=line, field="response")
            _check_text(self.response, "response", source=source, line=line)
        if self.system is not None:
            _check_text(self.system, "system", source=source, line=line)
        _check_metadata(self, source=source, line=line)
        return self

    @property
    def is_chat(self):
        """Whether the example is a chat conversation."""
        return self.messages is not None

    def conversation(self):
        """The example as a list of chat messages, assistant turns included."""
        if self.messages is not None:
            messages = list(self.messages)
            if self.response is not None:
                messages.append({"role": "assistant", "content": self.response})
        else:
            messages = [
                {"role": "user", "content": self.prompt or ""},
                {"role": "assistant", "content": self.response},
            ]
        if self.system is not None and messages[0]["role"] != "system":
            messages.insert(0, {"role": "system", "content": self.system})
        return messages


@dataclasses.dataclass
class PreferenceExample:
    """One preference pair: a prompt with a chosen and a rejected response.

    Args:
        prompt: str. The user query. Defaults to `None`.
        chosen: str. The preferred response.
        rejected: str. The dispreferred response.
        messages: list of dict. The shared conversation before the two
            responses, ending with a user turn (multi-turn data such as
            HH-RLHF). Defaults to `None`.
        system: str. A system prompt. Defaults to `None`.
        margin: float. How much better `chosen` is (used by reward models
            with a margin loss). Defaults to `None`.
        rejected_kind: str. Why `rejected` is worse, e.g.
            `"harmful_compliance"`, `"over_refusal"`, `"unhelpful"`.
            Defaults to `None`.
        policy: str. Content policy (metadata). Defaults to `None`.
        use_case: str. Application task (metadata). Defaults to `None`.
        source: str. Provenance (metadata). Defaults to `None`.
        metadata: dict. Any other fields to keep. Defaults to `{}`.
    """

    prompt: str | None = None
    chosen: str | None = None
    rejected: str | None = None
    messages: list | None = None
    system: str | None = None
    margin: float | None = None
    rejected_kind: str | None = None
    policy: str | None = None
    use_case: str | None = None
    source: str | None = None
    metadata: dict = dataclasses.field(default_factory=dict)

    def validate(self, *, source=None, line=None):
        """Raise `DataError` naming the field if the pair is malformed."""
        _check_user_query(self, "the shared conversation", source=source, line=line)
        for field in ("chosen", "rejected"):
            value = getattr(self, field)
            if value is None:
                raise DataError("missing", source=source, line=line, field=field)
            _check_text(value, field, source=source, line=line)
        if self.chosen.strip() == self.rejected.strip():
            raise DataError(
                "chosen and rejected are identical",
                source=source,
                line=line,
                field="rejected",
            )
        if self.margin is not None:
            if isinstance(self.margin, bool) or not isinstance(
                self.margin, (int, float)
            ):
                raise DataError(
                    f"expected a number, got {type(self.margin).__name__}",
                    source=source,
                    line=line,
                    field="margin",
                )
            self.margin = float(self.margin)
        return self

    def prompt_messages(self):
        """The shared context as chat messages, ending with the user turn."""
        return query_messages(self)
