"""The text of an example as the quality tools see it.

Normalisation folds case (`str.casefold`), applies Unicode NFKC, collapses
runs of whitespace to one space and strips punctuation at both ends, so
`"  Hello,   WORLD!! "` and `"hello, world"` compare equal.

Examples:

>>> normalize_text("  Hello,   WORLD!! ")
'hello, world'
>>> words("Don't stop -- now!")
["don't", 'stop', 'now']
"""

import json
import re
import unicodedata

from kerasalign.data.prompt_example import PromptExample
from kerasalign.data.schema import PreferenceExample, SFTExample
from kerasalign.errors import DataError

_WORD = re.compile(r"\w+(?:['’]\w+)*")


def normalize_text(text):
    """Casefold, NFKC-normalise, collapse whitespace, strip end punctuation.

    Args:
        text: str. Any text.

    Returns:
        The normalised string.
    """
    text = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    start, end = 0, len(text)
    while start < end and _is_trimmable(text[start]):
        start += 1
    while end > start and _is_trimmable(text[end - 1]):
        end -= 1
    return text[start:end]


def _is_trimmable(character):
    return character.isspace() or unicodedata.category(character).startswith("P")


def words(text):
    """The casefolded words of a text (letters, digits, inner apostrophes)."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def as_example(record, index=None):
    """Accept an example or a dict (in any format the readers know).

    Args:
        record: `SFTExample`, `PreferenceExample`, `PromptExample` or dict.
        index: int. 1-based position for error messages. Defaults to `None`.
    """
    if isinstance(record, (SFTExample, PreferenceExample, PromptExample)):
        return record
    if isinstance(record, dict):
        from kerasalign.data.writers import from_dict

        try:
            return from_dict(record)
        except DataError as error:
            raise DataError(
                error.message, source="<records>", line=index, field=error.field
            ) from None
    raise TypeError(
        f"expected an SFTExample, a PreferenceExample, a PromptExample or a "
        f"dict, got "
        f"{type(record).__name__}"
    )


def as_examples(records):
    """A list of examples from examples and/or dicts.

    A list of dicts is read like a file: the kind and format come from the
    first record, so a record missing its response is an error, not a prompt.
    """
    records = list(records)
    if records and all(isinstance(record, dict) for record in records):
        from kerasalign.data.readers import load_records

        return load_records(records)
    return [as_example(record, index) for index, record in enumerate(records, 1)]


def prompt_text(record):
    """The prompt side of an example: system, user turns or template values.

    For a chat `messages` list this is every message before the response
    (with the role names); for template `variables` it is the sorted values
    and the template name.
    """
    record = as_example(record)
    parts = []
    if record.system:
        parts.append(f"system: {record.system}")
    if record.messages is not None:
        parts.extend(f"{m['role']}: {m['content']}" for m in record.messages)
    elif getattr(record, "variables", None) is not None:
        template = getattr(record, "template", None)
        if template:
            parts.append(f"template: {template}")
        parts.append(json.dumps(record.variables, sort_keys=True, ensure_ascii=False))
    if record.prompt is not None:
        parts.append(record.prompt)
    return "\n".join(parts)


def user_text(record):
    """Only what the user wrote: the prompt, or the user turns of a chat.

    Contamination checks compare this with evaluation prompts.
    """
    if isinstance(record, str):
        return record
    record = as_example(record)
    if record.prompt is not None:
        return record.prompt
    if record.messages is not None:
        return "\n".join(m["content"] for m in record.messages if m["role"] == "user")
    variables = getattr(record, "variables", None) or {}
    return "\n".join(str(value) for value in variables.values())


def response_texts(record):
    """The responses: `[response]`, `[chosen, rejected]` or `[]` (prompts)."""
    record = as_example(record)
    if isinstance(record, PreferenceExample):
        return [record.chosen, record.rejected]
    if isinstance(record, PromptExample):
        return []
    return [record.response or ""]


def example_text(record):
    """The prompt and the responses, one per line."""
    return "\n".join([prompt_text(record), *response_texts(record)])
