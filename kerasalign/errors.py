"""Errors raised by kerasalign.

Every error a user can cause is a `ValueError` subclass with a message that
names the offending file, line, field, placeholder or preset, so the command
line can print it on one line and Python callers can catch it precisely.
"""


class KerasAlignError(ValueError):
    """Base class of the errors kerasalign raises for bad user input."""


class TemplateError(KerasAlignError):
    """A prompt or chat template is malformed or a value is missing."""


class DataError(KerasAlignError):
    """A data record is malformed.

    Args:
        message: str. What is wrong.
        source: str. The file (or "<list>", "<dataset>") the record came from.
            Defaults to `None`.
        line: int. The 1-based line (or record index) of the record.
            Defaults to `None`.
        field: str. The field that is missing or malformed. Defaults to `None`.

    Examples:

    >>> str(DataError("missing field", source="a.jsonl", line=3, field="response"))
    'a.jsonl, line 3, field "response": missing field'
    """

    def __init__(self, message, *, source=None, line=None, field=None):
        self.message = message
        self.source = source
        self.line = line
        self.field = field
        location = []
        if source is not None:
            location.append(str(source))
        if line is not None:
            location.append(f"line {line}")
        if field is not None:
            location.append(f'field "{field}"')
        prefix = ", ".join(location)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class PresetError(KerasAlignError):
    """A preset name, directory or file cannot be loaded."""


class AdapterError(KerasAlignError):
    """A LoRA adapter does not fit the model it is loaded into."""
