"""Data files as bytes: compression, binary files and UTF-8 with positions.

Every text reader decodes through here, so bytes that are not UTF-8 are
reported with their line and byte offset, and binary files that people pass
by mistake (Parquet, zip, images) are named instead of parsed.

Examples:

>>> decode_line(b"caf\\xc3\\xa9", source="a.jsonl", line=3)
'café'
>>> str(decode_line(b"caf\\xe9", source="a.jsonl", line=3))
'a.jsonl, line 3: not UTF-8 text: invalid byte 0xe9 at byte 4 of the line (is this a binary file, or another encoding? save it as UTF-8)'
"""

import gzip

from kerasalign.errors import DataError

# A guard against reading a whole corrupt file as one "line" into memory.
# Records of several megabytes are fine; a single line longer than this is an
# error that names the line.
MAX_LINE_BYTES = 64 * 1024 * 1024

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


def open_binary(path):
    if path.lower().endswith(".gz"):
        return gzip.open(path, "rb")
    return open(path, "rb")


def check_not_binary(head, path):
    for signature, what in _BINARY_SIGNATURES.items():
        if head.startswith(signature):
            raise DataError(f"this is {what}, not text records", source=path)
    if head.startswith(b"\x1f\x8b"):
        raise DataError(
            "this is gzip-compressed; name it *.jsonl.gz (or .json.gz, .csv.gz)",
            source=path,
        )


def decode_line(raw, *, source, line, offset_in_file=None):
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


def read_text(path):
    with open_binary(path) as file:
        raw = file.read()
    check_not_binary(raw[:4096], path)
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
