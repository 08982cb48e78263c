"""CSV and TSV files as raw records with their line numbers.

The first non-blank row is the header. Empty cells read as missing; cells of
the fields in `CSV_JSON_FIELDS` that hold JSON (a list of chat messages, an
object) are decoded, and cells of `CSV_NUMBER_FIELDS` become numbers. A
record's line is the line where its row starts (quoted cells may span lines).

Examples:

>>> _csv_record({"prompt": "Hi", "policy": "", "margin": "0.5",
...              "messages": '[{"role": "user", "content": "Hi"}]'})
{'prompt': 'Hi', 'policy': None, 'margin': 0.5, 'messages': [{'role': 'user', 'content': 'Hi'}]}
"""

import csv
import io

from kerasalign.data import file_bytes
from kerasalign.data.json_files import parse_json
from kerasalign.errors import DataError

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


def read_csv(path, delimiter):
    """Iterate over `(line, dict or DataError)` of a CSV (or TSV) file."""
    text = file_bytes.read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    previous_limit = csv.field_size_limit()
    csv.field_size_limit(file_bytes.MAX_LINE_BYTES)
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
