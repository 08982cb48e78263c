"""Converters of SFT and prompt-only records (see `kerasalign.data.formats`).

Examples:

>>> example = convert_alpaca(
...     {"instruction": "Summarize.", "input": "A long text.", "output": "Short."},
...     {"source": None, "line": None})
>>> example.prompt
'Summarize.\\n\\nA long text.'
"""

from kerasalign.data.prompt_example import PromptExample
from kerasalign.data.record_fields import (
    PROMPT_CARRIED,
    PROMPT_FIELDS,
    RESPONSE_FIELDS,
    SFT_CARRIED,
    context_fields,
    first_field,
    split_fields,
    text_field,
    with_context,
)
from kerasalign.data.schema import SFTExample, normalize_messages
from kerasalign.errors import DataError


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


def convert_prompt_response(record, where):
    prompt_field = first_field(record, PROMPT_FIELDS)
    response_field = first_field(record, RESPONSE_FIELDS)
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
    kwargs = split_fields(record, {prompt_field, response_field}, SFT_CARRIED, where)
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


def convert_alpaca(record, where):
    instruction = text_field(record, "instruction", where)
    extra_input = text_field(record, "input", where, required=False) or ""
    output = text_field(record, "output", where)
    kwargs = split_fields(
        record, {"instruction", "input", "output"}, SFT_CARRIED, where
    )
    prompt = instruction
    if extra_input.strip():
        prompt = f"{instruction}\n\n{extra_input}"
    return SFTExample(prompt=prompt, response=output, **kwargs)


def convert_messages(record, where):
    kwargs = split_fields(record, {"messages", "response"}, SFT_CARRIED, where)
    response = record.get("response")
    if response is not None:
        response = _assistant_text(response, "response", where)
    return SFTExample(messages=record.get("messages"), response=response, **kwargs)


def convert_sharegpt(record, where):
    kwargs = split_fields(record, {"conversations"}, SFT_CARRIED, where)
    messages = normalize_messages(
        record.get("conversations"), field="conversations", **where
    )
    return SFTExample(messages=messages, **kwargs)


def convert_variables(record, where):
    response_field = first_field(record, RESPONSE_FIELDS) or "response"
    kwargs = split_fields(record, {"variables", response_field}, SFT_CARRIED, where)
    variables = record.get("variables")
    if not isinstance(variables, dict):
        raise DataError(
            f"expected an object of template values, got {type(variables).__name__}",
            field="variables",
            **where,
        )
    response = text_field(record, response_field, where)
    return SFTExample(variables=variables, response=response, **kwargs)


def convert_prompt_only(record, where):
    response_field = first_field(record, RESPONSE_FIELDS + ("chosen", "rejected"))
    if response_field is not None:
        raise DataError(
            "has a response, but the source holds prompts only (its first "
            "record had none): load it as SFT or preference data, or as "
            "kind='prompts' to keep only the prompts",
            field=response_field,
            **where,
        )
    chat_field = first_field(record, ("messages", "conversations"))
    prompt_field = first_field(record, PROMPT_FIELDS)
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
        context = context_fields(normalize_messages(value, field=field, **where))
    else:
        context = {"prompt": text_field(record, field, where)}
    kwargs = split_fields(record, consumed, PROMPT_CARRIED, where)
    return with_context(PromptExample, context, kwargs, where)
