"""Shared pieces of the record converters: field names and carried fields.

A converter reads the fields its format defines, and `split_fields` sorts
the rest: the carried metadata fields (`policy`, `use_case`, ...) become
example attributes, a `metadata` object is merged, and anything else is kept
in `metadata`.

Examples:

>>> split_fields({"prompt": "Q", "policy": "none", "id": 3}, {"prompt"},
...              SFT_CARRIED, {})
{'policy': 'none', 'metadata': {'id': 3}}
"""

from kerasalign.errors import DataError

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


def split_fields(record, consumed, carried, where):
    """Sort the fields a converter did not use into kwargs and metadata.

    Args:
        record: dict. The raw record.
        consumed: set of str. Fields the converter read itself.
        carried: tuple of str. Fields that become example attributes.
        where: dict. `source` and `line` for error messages.

    Returns:
        A dict of keyword arguments for the example, `metadata` included.
        Fields whose value is `None` (empty CSV cells, absent columns) are
        left out.
    """
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


def first_field(record, fields):
    """The first of `fields` that the record has (not `None`), or `None`."""
    return next((f for f in fields if record.get(f) is not None), None)


def text_field(record, field, where, *, required=True):
    """A string field, checked under its own name (`DataError` otherwise)."""
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


def context_fields(messages):
    """Keep a lone user turn (after an optional system turn) as a plain prompt."""
    roles = [message["role"] for message in messages]
    if roles == ["user"]:
        return {"prompt": messages[0]["content"]}
    if roles == ["system", "user"]:
        return {"system": messages[0]["content"], "prompt": messages[1]["content"]}
    return {"messages": messages}


def with_context(example_class, context, kwargs, where, **fields):
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
