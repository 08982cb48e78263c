"""Examples to and from plain dicts, and atomic JSONL writing.

`to_dict` gives the canonical JSON layout of an example (fields that are
`None` and empty metadata left out); `from_dict` reads it, or any layout the
readers know, back. `write_jsonl` writes to a temporary file next to the
target and renames it into place, so a failed write never leaves half a file.

Examples:

>>> from kerasalign.data.schema import SFTExample
>>> example = SFTExample(prompt="Hi", response="Hello!", policy="none")
>>> to_dict(example)
{'prompt': 'Hi', 'response': 'Hello!', 'policy': 'none'}
>>> from_dict(to_dict(example)) == example
True
"""

import contextlib
import dataclasses
import json
import os
import tempfile

from kerasalign.data.prompt_example import PromptExample
from kerasalign.data.schema import PreferenceExample, SFTExample
from kerasalign.errors import DataError

EXAMPLE_TYPES = (SFTExample, PreferenceExample, PromptExample)


def to_dict(example):
    """The canonical dict of an `SFTExample`, `PreferenceExample` or `PromptExample`.

    Args:
        example: `SFTExample`, `PreferenceExample` or `PromptExample`.

    Returns:
        A dict of the fields that are set, in declaration order; `metadata`
        only when it is not empty. JSON-ready if the values are.
    """
    if not isinstance(example, EXAMPLE_TYPES):
        raise TypeError(
            "expected an SFTExample, a PreferenceExample or a PromptExample, got "
            f"{type(example).__name__}"
        )
    result = {}
    for field in dataclasses.fields(example):
        value = getattr(example, field.name)
        if value is None or (field.name == "metadata" and not value):
            continue
        result[field.name] = value
    return result


def from_dict(data, kind="auto", format="auto", label="safer"):
    """Build a validated example from a dict in any known record format.

    Args:
        data: dict. A record, e.g. the output of `to_dict`.
        kind: str. `"sft"`, `"preferences"`, `"prompts"` or `"auto"`.
            Defaults to `"auto"`.
        format: str. A record format or `"auto"`. Defaults to `"auto"`.
        label: str. `"safer"` or `"better"` for PKU-SafeRLHF records.
            Defaults to `"safer"`.

    Returns:
        An `SFTExample`, a `PreferenceExample` or a `PromptExample`.
    """
    from kerasalign.data.readers import load_records

    if not isinstance(data, dict):
        raise DataError(f"expected a dict, got {type(data).__name__}")
    return load_records([data], kind=kind, format=format, label=label)[0]


def _jsonable(record):
    if isinstance(record, EXAMPLE_TYPES):
        return to_dict(record)
    if isinstance(record, dict):
        return record
    raise TypeError(f"expected examples or dicts, got {type(record).__name__}")


@contextlib.contextmanager
def atomic_open(path, mode="w"):
    """Open a temporary file that replaces `path` only if the block succeeds.

    Args:
        path: str or `os.PathLike`. The file to write; its directory is
            created if needed.
        mode: str. `"w"` (UTF-8 text) or `"wb"`. Defaults to `"w"`.

    Examples:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "out.txt")
    >>> with atomic_open(path) as file:
    ...     _ = file.write("done")
    >>> open(path).read()
    'done'
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp"
    )
    try:
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(descriptor, mode, encoding=encoding) as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        # mkstemp makes the file private; give it the usual permissions.
        os.chmod(temporary, _permissions(path))
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


def _permissions(path):
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        return 0o644


def write_jsonl(records, path):
    """Write examples (or dicts) as JSON Lines, atomically.

    Args:
        records: iterable of `SFTExample`, `PreferenceExample` or dict.
        path: str or `os.PathLike`. The output file.

    Returns:
        The number of records written.

    Examples:

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "pairs.jsonl")
    >>> pair = PreferenceExample(prompt="Q", chosen="Good", rejected="Bad")
    >>> write_jsonl([pair], path)
    1
    >>> open(path).read()
    '{"prompt": "Q", "chosen": "Good", "rejected": "Bad"}\\n'
    """
    count = 0
    with atomic_open(path) as file:
        for record in records:
            file.write(json.dumps(_jsonable(record), ensure_ascii=False))
            file.write("\n")
            count += 1
    return count
