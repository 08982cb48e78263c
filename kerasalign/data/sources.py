"""Raw records from files, Python lists and Hugging Face datasets.

A source yields `(line, record)` pairs: `line` is the 1-based line of the
record in its file (or its 1-based index in a list or dataset) and `record` is
a `dict`, or a `DataError` when that one record cannot be parsed (a truncated
JSON line, bytes that are not UTF-8). Problems with the whole source (a missing
file, an unknown file format, a JSON file that does not parse) raise
`DataError` at once. The parsing lives in `json_files` and `csv_files`, the
byte-level checks (compression, binary files, UTF-8) in `file_bytes`; turning
a raw dict into an example is the job of `kerasalign.data.formats`.

Examples:

>>> source = open_source([{"prompt": "Hi", "response": "Hello!"}])
>>> source.name, source.file_format
('<list>', None)
>>> list(source.records())
[(1, {'prompt': 'Hi', 'response': 'Hello!'})]
"""

import os

from kerasalign.data import file_bytes
from kerasalign.data.csv_files import read_csv
from kerasalign.data.json_files import open_json, read_jsonl
from kerasalign.errors import DataError

FILE_FORMATS = ("jsonl", "json", "csv", "tsv", "parquet")

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
        return RawSource(path, "jsonl", lambda: read_jsonl(path))
    if file_format == "json":
        read_format, records = open_json(path, fall_back_to_jsonl=not explicit)
        return RawSource(path, read_format, records)
    if file_format in ("csv", "tsv"):
        delimiter = "\t" if file_format == "tsv" else ","
        return RawSource(path, file_format, lambda: read_csv(path, delimiter))
    return RawSource(path, "parquet", lambda: _read_parquet(path))


def _format_from_name(path):
    name = path.lower()
    if name.endswith(".gz"):
        name = name[: -len(".gz")]
    return _EXTENSIONS.get(os.path.splitext(name)[1])


def _sniff_format(path):
    with file_bytes.open_binary(path) as file:
        head = file.read(4096)
    file_bytes.check_not_binary(head, path)
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
