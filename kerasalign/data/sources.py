"""Raw records from files, Python lists and Hugging Face datasets.

A source yields `(line, record)` pairs: `line` is the 1-based line of the
record in its file (or its 1-based index in a list or dataset) and `record` is
a `dict`, or a `DataError` when that one record cannot be parsed (a truncated
JSON line, bytes that are not UTF-8). Problems with the whole source (a missing
file, an unknown file format, a JSON file that does not parse) raise
`DataError` at once. Turning a raw dict into an example is the job of
`kerasalign.data.formats`.

Examples:

>>> source = open_source([{"prompt": "Hi", "response": "Hello!"}])
>>> source.name, source.file_format
('<list>', None)
>>> list(source.records())
[(1, {'prompt': 'Hi', 'response': 'Hello!'})]
"""

import csv
import gzip
import io
import json
import os

from kerasalign.errors import DataError

FILE_FORMATS = ("jsonl", "json", "csv", "tsv", "parquet")

# A guard against reading a whole corrupt file as one "line" into memory.
# Records of several megabytes are fine; a single line longer than this is an
# error that names the line.
MAX_LINE_BYTES = 64 * 1024 * 1024

# Fields that a CSV cell may hold as JSON text (lists of chat messages, objects).
CSV_JSON_FIELDS = (
    "messages",
    "conversations",
    "variables",
    "metadata",
    "prompt",
    "chosen",
    "rejected",
    "response",
)
CSV_NUMBER_FIELDS = ("margin", "safer_response_id", "better_response_id")

_EXTENSIONS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".jsonlines": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
}

# Signatures of binary files people pass by mistake.
_BINARY_SIGNATURES = {
    b"PAR1": "a Parquet file (pass format='parquet')",
    b"PK\x03\x04": "a zip archive",
    b"\x89PNG": "a PNG image",
    b"%PDF": "a PDF document",
    b"\x7fELF": "an executable",
    b"SQLite format 3": "an SQLite database",
    b"\x93NUMPY": "a NumPy array file",
}


class RawSource:
    """Raw records of one source, with the name and file format to report.

    Args:
        name: str. How errors name the source: a path, `"<list>"` or
            `"<dataset>"`.
        file_format: str. One of `FILE_FORMATS`, or `None` for in-memory
            sources.
        records: callable. Returns an iterator of `(line, dict or DataError)`.
    """

    def __init__(self, name, file_format, records):
        self.name = name
        self.file_format = file_format
        self._records = records

    def records(self):
        """Iterate over `(line, dict or DataError)` pairs."""
        return self._records()


def open_source(source, file_format=None):
    """Open a path, a list of dicts or a `datasets.Dataset` as a `RawSource`.

    Args:
        source: str, `os.PathLike`, list of dict, or `datasets.Dataset`. A
            file (`.jsonl`, `.json`, `.csv`, `.tsv`, `.parquet`, optionally
            `.gz`-compressed) or records already in memory. Nothing is ever
            downloaded: load a Hub dataset with `datasets.load_dataset`
            yourself and pass the `Dataset`.
        file_format: str. One of `FILE_FORMATS` to override the detection
            from the file name and contents. Defaults to `None`.

    Returns:
        A `RawSource`.

    Examples:

    >>> open_source("no/such/file.jsonl")
    Traceback (most recent call last):
    ...
    kerasalign.errors.DataError: no/such/file.jsonl: file not found
    """
    if file_format is not None and file_format not in FILE_FORMATS:
        raise DataError(
            f"unknown file format {file_format!r}; known file formats: "
            f"{list(FILE_FORMATS)}"
        )
    if isinstance(source, (str, os.PathLike)):
        return _open_path(os.fspath(source), file_format)
    if isinstance(source, bytes):
        raise DataError("expected a path or records, got bytes")
    if isinstance(source, dict):
        hint = ""
        if type(source).__name__ == "DatasetDict":
            hint = f": pick a split, e.g. source[{next(iter(source), 'train')!r}]"
        raise DataError(
            f"expected a path, a list of records or a Dataset, got a "
            f"{type(source).__name__}{hint}"
        )
    if _is_hf_dataset(source):
        return RawSource("<dataset>", None, lambda: _iterate_objects(source))
    if hasattr(source, "__iter__"):
        return RawSource("<list>", None, lambda: _iterate_objects(source))
    raise DataError(
        "expected a path, a list of records or a datasets.Dataset, got "
        f"{type(source).__name__}"
    )


def _is_hf_dataset(source):
    module = type(source).__module__ or ""
    return module.split(".")[0] == "datasets" and hasattr(source, "column_names")


def _iterate_objects(records):
    yield from enumerate(records, start=1)


def _open_path(path, file_format):
    if not os.path.exists(path):
        hint = ""
        if "/" in path and not os.path.isabs(path) and path.count("/") == 1:
            hint = (
                " (kerasalign never downloads: for a Hugging Face Hub dataset "
                "call datasets.load_dataset(...) yourself and pass the Dataset)"
            )
        raise DataError(f"file not found{hint}", source=path)
    if os.path.isdir(path):
        raise DataError("is a directory, expected a data file", source=path)
    if not os.access(path, os.R_OK):
        raise DataError("permission denied", source=path)
    explicit = file_format is not None
    if file_format is None:
        file_format = _format_from_name(path) or _sniff_format(path)
    if file_format == "jsonl":
        return RawSource(path, "jsonl", lambda: _read_jsonl(path))
    if file_format == "json":
        return _open_json(path, fall_back_to_jsonl=not explicit)
    if file_format in ("csv", "tsv"):
        delimiter = "\t" if file_format == "tsv" else ","
        return RawSource(path, file_format, lambda: _read_csv(path, delimiter))
    return RawSource(path, "parquet", lambda: _read_parquet(path))


def _format_from_name(path):
    name = path.lower()
    if name.endswith(".gz"):
        name = name[: -len(".gz")]
    return _EXTENSIONS.get(os.path.splitext(name)[1])


def _open_binary(path):
    if path.lower().endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def _sniff_format(path):
    with _open_binary(path) as file:
        head = file.read(4096)
    _check_not_binary(head, path)
    start = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if start == b"[":
        return "json"
    if start == b"{":
        return "jsonl"
    raise DataError(
        f"cannot tell the file format from the name; pass format= one of "
        f"{list(FILE_FORMATS)}",
        source=path,
    )


def _check_not_binary(head, path):
    for signature, what in _BINARY_SIGNATURES.items():
        if head.startswith(signature):
            raise DataError(f"this is {what}, not text records", source=path)
    if head.startswith(b"\x1f\x8b"):
        raise DataError(
            "this is gzip-compressed; name it *.jsonl.gz (or .json.gz, .csv.gz)",
            source=path,
        )


def _decode(raw, *, source, line, offset_in_file=None):
    """Decode UTF-8 bytes or raise a DataError naming the line and byte."""
    if b"\x00" in raw:
        column = raw.index(b"\x00") + 1
        return DataError(
            f"not UTF-8 text: a NUL byte at byte {column} of the line "
            "(is this a binary file?)",
            source=source,
            line=line,
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        where = f"byte {error.start + 1} of the line"
        if offset_in_file is not None:
            where += f", byte {offset_in_file + error.start + 1} of the file"
        return DataError(
            f"not UTF-8 text: invalid byte 0x{raw[error.start]:02x} at {where} "
            "(is this a binary file, or another encoding? save it as UTF-8)",
            source=source,
            line=line,
        )


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


def _read_jsonl(path):
    with _open_binary(path) as file:
        head = file.peek(4096)[:4096] if hasattr(file, "peek") else b""
        _check_not_binary(head, path)
        line = 0
        offset = 0
        while True:
            raw = file.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            line += 1
            line_offset = offset
            offset += len(raw)
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while True:  # Skip the rest of the line to resynchronise.
                    rest = file.readline(MAX_LINE_BYTES)
                    offset += len(rest)
                    if not rest or rest.endswith(b"\n"):
                        break
                yield (
                    line,
                    DataError(
                        f"line is longer than {MAX_LINE_BYTES} bytes "
                        "(kerasalign.data.sources.MAX_LINE_BYTES)",
                        source=path,
                        line=line,
                    ),
                )
                continue
            if line == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            text = _decode(raw, source=path, line=line, offset_in_file=line_offset)
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


def _read_text(path):
    with _open_binary(path) as file:
        raw = file.read()
    _check_not_binary(raw[:4096], path)
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise DataError(
            f"not UTF-8 text: invalid byte 0x{raw[error.start]:02x} at byte "
            f"{error.start + 1} of the file (save it as UTF-8)",
            source=path,
            line=line,
        ) from None


def _open_json(path, *, fall_back_to_jsonl):
    text = _read_text(path)
    if not text.strip():
        return RawSource(path, "json", lambda: iter(()))
    try:
        document = parse_json(text)
    except json.JSONDecodeError as error:
        if error.msg == "Extra data" and fall_back_to_jsonl:
            # One JSON object per line in a file named *.json.
            return RawSource(path, "jsonl", lambda: _read_jsonl(path))
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

    return RawSource(path, "json", iterate)


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


def _read_csv(path, delimiter):
    text = _read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    previous_limit = csv.field_size_limit()
    csv.field_size_limit(MAX_LINE_BYTES)
    try:
        header = None
        header_line = 0
        while header is None:
            header_line = reader.line_num + 1
            row = next(reader, None)
            if row is None:
                return
            if any(cell.strip() for cell in row):
                header = [cell.strip() for cell in row]
        if "" in header:
            raise DataError(
                f"the header has an empty column name (column {header.index('') + 1})",
                source=path,
                line=header_line,
            )
        while True:
            line = reader.line_num + 1
            try:
                row = next(reader, None)
            except csv.Error as error:
                yield line, DataError(f"not valid CSV: {error}", source=path, line=line)
                continue
            if row is None:
                return
            if not any(cell.strip() for cell in row):
                continue
            if len(row) > len(header):
                yield (
                    line,
                    DataError(
                        f"{len(row)} columns but the header has {len(header)} "
                        "(a field with a comma needs double quotes)",
                        source=path,
                        line=line,
                    ),
                )
                continue
            yield line, _csv_record(dict(zip(header, row, strict=False)))
    finally:
        csv.field_size_limit(previous_limit)


def _csv_record(row):
    """Read empty cells as missing; decode JSON and number cells of known fields."""
    record = {}
    for key, value in row.items():
        if value == "":
            record[key] = None
            continue
        stripped = value.strip()
        if key in CSV_JSON_FIELDS and stripped[:1] in ("[", "{"):
            try:
                value = parse_json(stripped)
            except (ValueError, RecursionError):
                pass  # Leave it as text; the format reports the wrong type.
        elif key in CSV_NUMBER_FIELDS:
            value = _number(stripped, value)
        record[key] = value
    return record


def _number(text, default):
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            continue
    return default


def _read_parquet(path):
    try:
        import pyarrow.parquet as parquet
    except ImportError:
        raise DataError(
            "reading Parquet needs pyarrow: pip install pyarrow "
            "(or pip install 'kerasalign[data]')",
            source=path,
        ) from None
    import pyarrow

    try:
        parquet_file = parquet.ParquetFile(path)
        line = 0
        for batch in parquet_file.iter_batches(batch_size=1024):
            for record in batch.to_pylist():
                line += 1
                yield line, record
    except (pyarrow.ArrowException, OSError) as error:
        raise DataError(f"cannot read Parquet: {error}", source=path) from None
