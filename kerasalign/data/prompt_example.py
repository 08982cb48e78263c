"""`PromptExample`: a user query without a response.

Evaluation sets (harmful and benign prompts) and the prompts of the RL stage
are user queries only, with the same metadata as the training examples.

Examples:

>>> example = PromptExample(prompt="How do I kill a Python process?",
...                         policy="dangerous_content", use_case="coding")
>>> example.validate().prompt_messages()
[{'role': 'user', 'content': 'How do I kill a Python process?'}]
"""

import dataclasses

from kerasalign.data.schema import (
    PreferenceExample,
    SFTExample,
    _check_user_query,
    query_messages,
)
from kerasalign.errors import DataError


@dataclasses.dataclass
class PromptExample:
    """A user query (or a conversation ending with one), without a response.

    Args:
        prompt: str. The user query. Defaults to `None`.
        messages: list of dict. A conversation ending with a user turn.
            Defaults to `None`.
        system: str. A system prompt. Defaults to `None`.
        policy: str. Content policy (metadata). Defaults to `None`.
        use_case: str. Application task (metadata). Defaults to `None`.
        source: str. Provenance (metadata). Defaults to `None`.
        metadata: dict. Any other fields to keep. Defaults to `{}`.
    """

    prompt: str | None = None
    messages: list | None = None
    system: str | None = None
    policy: str | None = None
    use_case: str | None = None
    source: str | None = None
    metadata: dict = dataclasses.field(default_factory=dict)

    def validate(self, *, source=None, line=None):
        """Raise `DataError` naming the field if the example is malformed."""
        _check_user_query(self, "a prompt conversation", source=source, line=line)
        return self

    def prompt_messages(self):
        """The query as chat messages, ending with the user turn."""
        return query_messages(self)

    @classmethod
    def from_example(cls, example, *, source=None, line=None):
        """The prompt of an `SFTExample` or a `PreferenceExample`.

        The response(s) are dropped. For a chat SFT example the prompt is the
        conversation before its last assistant turn.

        Args:
            example: `SFTExample` or `PreferenceExample`, validated.
            source: str. File name for error messages. Defaults to `None`.
            line: int. Line number for error messages. Defaults to `None`.

        Examples:

        >>> pair = PreferenceExample(prompt="Q", chosen="A", rejected="B",
        ...                          policy="none")
        >>> PromptExample.from_example(pair)
        PromptExample(prompt='Q', messages=None, system=None, policy='none', use_case=None, source=None, metadata={})
        """
        if not isinstance(example, (SFTExample, PreferenceExample)):
            raise TypeError(
                f"expected an SFTExample or a PreferenceExample, got "
                f"{type(example).__name__}"
            )
        prompt, messages = example.prompt, example.messages
        if isinstance(example, SFTExample) and messages is not None:
            if example.response is None:
                last = max(
                    i for i, m in enumerate(messages) if m["role"] == "assistant"
                )
                messages = messages[:last]
            if [m["role"] for m in messages] == ["user"]:
                prompt, messages = messages[0]["content"], None
        if prompt is None and messages is None:
            raise DataError(
                "template variables have no prompt text to keep; render the "
                "template first",
                source=source,
                line=line,
                field="variables",
            )
        return cls(
            prompt=prompt,
            messages=list(messages) if messages is not None else None,
            system=example.system,
            policy=example.policy,
            use_case=example.use_case,
            source=example.source,
            metadata=dict(example.metadata),
        )
