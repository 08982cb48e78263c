"""JSON Lines and JSON files as raw records with their line numbers.

JSON Lines are read line by line as bytes, so a bad line (truncated, not
UTF-8, not JSON, longer than `file_bytes.MAX_LINE_BYTES`) becomes a
`DataError` for that line and the next lines are still read. A JSON file is a
list of records or an object with the list under `"data"` or `"examples"`;
each record's error names the line where the record starts.

Examples:

>>> parse_json('{"prompt": "a", "prompt": "b"}')
Traceback (most recent call last):
...
ValueError: duplicate key 'prompt'
"""

import json

from kerasalign.data import file_bytes
from kerasalign.errors import DataError


def _reject_constant(name):
    raise ValueError(f"{name} is not a valid JSON number")


def _unique_object(pairs):
    record = {}
    for key, value in pairs:
        if key in record:
            raise ValueError(f"duplicate key {key!r}")
        record[key] = value
    return record


def parse_json(text):
    """`json.loads` that rejects NaN/Infinity and duplicate keys.

    Raises:
        ValueError or RecursionError: the text is not acceptable JSON.
    """
    return json.loads(
        text, parse_constant=_reject_constant, object_pairs_hook=_unique_object
    )


def _json_error_message(error, text):
    if isinstance(error, RecursionError):
        return "not valid JSON: nested too deeply"
    if not isinstance(error, json.JSONDecodeError):
        return f"not valid JSON: {error}"
    message = f"not valid JSON: {_where(error)}"
    truncated = error.msg.startswith("Unterminated") or (
        error.pos >= len(text.rstrip()) and error.msg != "Extra data"
    )
    if truncated:
        message += " (the line ends early: truncated?)"
    return message


def _where(error):
    """`"Expecting ',' delimiter at column 7"` from a JSONDecodeError."""
    separator = " " if error.msg.endswith(" at") else " at "
    return f"{error.msg}{separator}column {error.colno}"


def read_jsonl(path):
    """Iterate over `(line, dict or DataError)` of a JSON Lines file."""
    with file_bytes.open_binary(path) as file:
        head = file.peek(4096)[:4096] if hasattr(file, "peek") else b""
        file_bytes.check_not_binary(head, path)
        line = 0
        offset = 0
        while True:
            raw = file.readline(file_bytes.MAX_LINE_BYTES + 1)
            if not raw:
                return
            line += 1
            line_offset = offset
            offset += len(raw)
            if len(raw) > file_bytes.MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while True:  # Skip the rest of the line to resynchronise.
                    rest = file.readline(file_bytes.MAX_LINE_BYTES)
                    offset += len(rest)
                    if not rest or rest.endswith(b"\n"):
                        break
                yield (
                    line,
                    DataError(
                        f"line is longer than {file_bytes.MAX_LINE_BYTES} bytes "
                        "(kerasalign.data.file_bytes.MAX_LINE_BYTES)",
                        source=path,
                        line=line,
                    ),
                )
                continue
            if line == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            text = file_bytes.decode_line(
                raw, source=path, line=line, offset_in_file=line_offset
            )
            if isinstance(text, DataError):
                yield line, text
                continue
            if not text.strip():
                continue
            yield line, _parse_jsonl_line(text, path, line)


def _parse_jsonl_line(text, path, line):
    try:
        record = parse_json(text)
    except (ValueError, RecursionError) as error:
        message = _json_error_message(error, text)
        stripped = text.strip()
        if stripped in ("[", "{") or (line == 1 and stripped.startswith("[")):
            message += "; this looks like a JSON document: pass format='json'"
        elif stripped[:1] not in ("{", "[", '"') and ("," in text or "\t" in text):
            message += "; this looks like CSV: pass format='csv'"
        return DataError(message, source=path, line=line)
    if not isinstance(record, dict):
        return DataError(
            f"expected a JSON object per line, got {_json_type(record)}",
            source=path,
            line=line,
        )
    return record


def _json_type(value):
    names = {list: "a list", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


def open_json(path, *, fall_back_to_jsonl):
    """Parse a JSON file; returns `(file_format, records)`.

    Args:
        path: str. The file.
        fall_back_to_jsonl: bool. Read the file as JSON Lines when it holds
            one JSON object per line (a `.json` name on JSON Lines).

    Returns:
        The file format read (`"json"` or `"jsonl"`) and a callable giving
        an iterator of `(line, dict or DataError)`.
    """
    text = file_bytes.read_text(path)
    if not text.strip():
        return "json", lambda: iter(())
    try:
        document = parse_json(text)
    except json.JSONDecodeError as error:
        if error.msg == "Extra data" and fall_back_to_jsonl:
            # One JSON object per line in a file named *.json.
            return "jsonl", lambda: read_jsonl(path)
        raise DataError(
            f"not valid JSON: {_where(error)}",
            source=path,
            line=error.lineno,
        ) from None
    except (ValueError, RecursionError) as error:
        raise DataError(_json_error_message(error, text), source=path) from None
    if isinstance(document, dict):
        key = next((k for k in ("data", "examples") if k in document), None)
        if key is None or not isinstance(document[key], list):
            raise DataError(
                "expected a list of records, or an object with a list under "
                f"'data' or 'examples'; got an object with keys {sorted(document)}",
                source=path,
            )
        records = document[key]
    elif isinstance(document, list):
        records = document
    else:
        raise DataError(
            f"expected a list of records, got {_json_type(document)}", source=path
        )
    try:
        lines = _element_lines(text, len(records))
    except (ValueError, IndexError):  # Only line numbers are lost.
        lines = None

    def iterate():
        for index, record in enumerate(records):
            line = lines[index] if lines else index + 1
            if not isinstance(record, dict):
                yield (
                    line,
                    DataError(
                        f"expected a JSON object, got {_json_type(record)}",
                        source=path,
                        line=line,
                    ),
                )
            else:
                yield line, record

    return "json", iterate


def _element_lines(text, count):
    """Line numbers of the records of the (only) list in a JSON document.

    The document already parsed, so this scanner only needs to find where
    each element of the record list starts. Returns `None` if it cannot.
    """
    decoder = json.JSONDecoder()
    position = _skip_space(text, 0)
    if text.startswith("{", position):
        position = _find_record_list(text, position, decoder)
        if position is None:
            return None
    position = _skip_space(text, position + 1)  # After "[".
    starts = []
    while len(starts) < count:
        starts.append(position)
        _, position = decoder.raw_decode(text, position)
        position = _skip_space(text, _skip_space(text, position) + 1)
    lines = []
    line, last = 1, 0
    for start in starts:
        line += text.count("\n", last, start)
        last = start
        lines.append(line)
    return lines


def _find_record_list(text, position, decoder):
    position = _skip_space(text, position + 1)  # After "{".
    while text[position] == '"':
        key, position = decoder.raw_decode(text, position)
        position = _skip_space(text, _skip_space(text, position) + 1)  # ":"
        if key in ("data", "examples") and text[position] == "[":
            return position
        _, position = decoder.raw_decode(text, position)
        position = _skip_space(text, _skip_space(text, position) + 1)  # ","
    return None


def _skip_space(text, position):
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position
