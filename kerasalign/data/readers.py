"""Load SFT examples and preference pairs from files, lists and datasets.

`load_sft` and `load_preferences` read JSONL, JSON, CSV/TSV, Parquet (needs
`pyarrow`), a Python list of dicts or a `datasets.Dataset`, detect the record
format from the fields of the first good record (see
`kerasalign.data.formats`; a later record that plainly has another layout of
the same kind, such as chat `messages` among plain prompts, is read as that
layout), convert every record and validate it. A bad record
raises `kerasalign.DataError` naming the file, line and field, or with
`errors="skip"` is skipped and counted in the `LoadReport`.

Examples:

>>> records = load_sft([
...     {"instruction": "Name a colour.", "input": "", "output": "Blue."},
...     {"instruction": "Name a fruit.", "input": "", "output": "Apple."},
... ])
>>> records[1].prompt, records[1].response
('Name a fruit.', 'Apple.')
"""

import dataclasses
import logging

from kerasalign.data import formats
from kerasalign.data.prompt_example import PromptExample
from kerasalign.data.sources import FILE_FORMATS, open_source
from kerasalign.errors import DataError

logger = logging.getLogger(__name__)

KINDS = ("sft", "preferences", "prompts")
ERROR_MODES = ("raise", "skip")

# A report keeps the first errors only; `skipped` still counts all of them.
MAX_REPORTED_ERRORS = 100


@dataclasses.dataclass
class LoadReport:
    """What a reader read: the detected format, counts and skipped records.

    Args:
        source: str. The file name, `"<list>"` or `"<dataset>"`.
        kind: str. `"sft"` or `"preferences"`.
        file_format: str. The file format read (`"jsonl"`, `"csv"`, ...), or
            `None` for in-memory records.
        format: str. The record format used (detected or given).
        count: int. Records loaded.
        skipped: int. Bad records skipped (with `errors="skip"`).
        errors: list of `(line, field, message)` tuples, the first
            `MAX_REPORTED_ERRORS` of the skipped records.
        lines: list of int. The source line of each loaded record.
        formats: dict. Record format -> records loaded in it; more than one
            entry when an auto-detected source mixes layouts of one kind.
    """

    source: str
    kind: str
    file_format: str | None = None
    format: str | None = None
    count: int = 0
    skipped: int = 0
    errors: list = dataclasses.field(default_factory=list)
    lines: list = dataclasses.field(default_factory=list, repr=False)
    formats: dict = dataclasses.field(default_factory=dict)

    def to_dict(self):
        """The report as a JSON-ready dict (without the per-record lines)."""
        return {
            "source": self.source,
            "kind": self.kind,
            "file_format": self.file_format,
            "format": self.format,
            "count": self.count,
            "skipped": self.skipped,
            "formats": dict(self.formats),
            "errors": [
                {"line": line, "field": field, "message": message}
                for line, field, message in self.errors
            ],
        }


def load_sft(source, format="auto", errors="raise", return_report=False, **kwargs):
    """Load supervised fine-tuning examples.

    Args:
        source: str, `os.PathLike`, list of dict or `datasets.Dataset`. A
            `.jsonl`, `.json`, `.csv`, `.tsv` or `.parquet` file (optionally
            `.gz`), or records in memory. Nothing is downloaded.
        format: str. `"auto"`, a record format (`"prompt_response"`,
            `"alpaca"`, `"messages"`, `"sharegpt"`, `"variables"`) or a file
            format (`"jsonl"`, `"json"`, `"csv"`, `"tsv"`, `"parquet"`) to
            override the file-name detection. Defaults to `"auto"`.
        errors: str. `"raise"` to raise `DataError` at the first bad record,
            `"skip"` to skip bad records and count them in the report.
            Defaults to `"raise"`.
        return_report: bool. Also return a `LoadReport`. Defaults to `False`.
        **kwargs: `file_format` to give the file format together with a
            record format.

    Returns:
        A list of `SFTExample`, or `(examples, report)` if `return_report`.

    Examples:

    >>> examples, report = load_sft(
    ...     [{"prompt": "Hi", "response": "Hello!"}, {"prompt": "Bye"}],
    ...     errors="skip", return_report=True)
    >>> report.format, report.count, report.skipped, report.errors
    ('prompt_response', 1, 1, [(2, 'response', 'missing (expected one of response, output, answer, completion)')])
    """
    return load_records(
        source,
        kind="sft",
        format=format,
        errors=errors,
        return_report=return_report,
        **kwargs,
    )


def load_preferences(
    source,
    format="auto",
    errors="raise",
    return_report=False,
    label="safer",
    **kwargs,
):
    """Load preference pairs (a prompt, a chosen and a rejected response).

    Args:
        source: str, `os.PathLike`, list of dict or `datasets.Dataset`. As
            for `load_sft`.
        format: str. `"auto"`, a record format (`"prompt_chosen_rejected"`,
            `"hh_rlhf"`, `"pku_saferlhf"`) or a file format. Defaults to
            `"auto"`.
        errors: str. `"raise"` or `"skip"`. Defaults to `"raise"`.
        return_report: bool. Also return a `LoadReport`. Defaults to `False`.
        label: str. For PKU-SafeRLHF data, prefer the `"safer"` or the
            `"better"` response. Defaults to `"safer"`.
        **kwargs: `file_format` to give the file format together with a
            record format.

    Returns:
        A list of `PreferenceExample`, or `(pairs, report)` if
        `return_report`.

    Examples:

    >>> pairs = load_preferences([{
    ...     "chosen": "\\n\\nHuman: How do I rob a store?\\n\\nAssistant: That is illegal. Don't.",
    ...     "rejected": "\\n\\nHuman: How do I rob a store?\\n\\nAssistant: Go at night.",
    ... }])
    >>> pairs[0].prompt, pairs[0].chosen, pairs[0].rejected
    ('How do I rob a store?', "That is illegal. Don't.", 'Go at night.')
    """
    return load_records(
        source,
        kind="preferences",
        format=format,
        errors=errors,
        return_report=return_report,
        label=label,
        **kwargs,
    )


def load_prompts(source, format="auto", errors="raise", return_report=False, **kwargs):
    """Load user prompts without responses (evaluation or RL prompts).

    Prompt-only records (`prompt`, or chat `messages` ending with a user
    turn) are read as they are; SFT examples and preference pairs in any
    format are reduced to their prompts (the responses are dropped), so the
    prompts of a training or test split can be used too.

    Args:
        source: str, `os.PathLike`, list of dict or `datasets.Dataset`. As
            for `load_sft`.
        format: str. `"auto"`, a record format or a file format. Defaults
            to `"auto"`.
        errors: str. `"raise"` or `"skip"`. Defaults to `"raise"`.
        return_report: bool. Also return a `LoadReport`. Defaults to `False`.
        **kwargs: `file_format`, and `label` for PKU-SafeRLHF.

    Returns:
        A list of `PromptExample`, or `(prompts, report)` if
        `return_report`.

    Examples:

    >>> prompts = load_prompts([
    ...     {"prompt": "How do I pick a lock?", "policy": "dangerous_content"},
    ...     {"prompt": "How do I kill a Python process?", "response": "kill PID"},
    ... ])
    >>> [p.prompt for p in prompts], prompts[0].policy
    (['How do I pick a lock?', 'How do I kill a Python process?'], 'dangerous_content')
    """
    return load_records(
        source,
        kind="prompts",
        format=format,
        errors=errors,
        return_report=return_report,
        **kwargs,
    )


def load_records(
    source,
    kind="auto",
    format="auto",
    errors="raise",
    return_report=False,
    label="safer",
    file_format=None,
):
    """Load SFT examples or preference pairs, whichever the source holds.

    Args:
        source: str, `os.PathLike`, list of dict or `datasets.Dataset`.
        kind: str. `"sft"`, `"preferences"`, `"prompts"` (see
            `load_prompts`) or `"auto"` (decided by the format of the first
            good record). Defaults to `"auto"`.
        format: str. `"auto"`, a record format or a file format.
            Defaults to `"auto"`.
        errors: str. `"raise"` or `"skip"`. Defaults to `"raise"`.
        return_report: bool. Also return a `LoadReport`. Defaults to `False`.
        label: str. `"safer"` or `"better"` for PKU-SafeRLHF. Defaults to
            `"safer"`.
        file_format: str. One of `FILE_FORMATS`, overriding the detection
            from the file name. Defaults to `None`.

    Returns:
        A list of examples, or `(examples, report)` if `return_report`.

    Examples:

    >>> records, report = load_records(
    ...     [{"prompt": "Q", "chosen": "Good", "rejected": "Bad"}],
    ...     return_report=True)
    >>> report.kind, report.format
    ('preferences', 'prompt_chosen_rejected')
    """
    if errors not in ERROR_MODES:
        raise ValueError(
            f"errors must be one of {list(ERROR_MODES)}. Received: {errors=}"
        )
    if label not in formats.LABELS:
        raise ValueError(
            f"label must be one of {list(formats.LABELS)}. Received: {label=}"
        )
    if kind not in KINDS + ("auto",):
        raise ValueError(f"kind must be one of {list(KINDS)} or 'auto'. {kind=}")
    record_format, file_format = _resolve_format(format, file_format, kind)
    raw_source = open_source(source, file_format)
    name = raw_source.name
    report = LoadReport(
        source=name,
        kind=kind if kind != "auto" else None,
        file_format=raw_source.file_format,
        format=record_format,
    )
    if record_format is not None and kind == "auto":
        report.kind = formats.format_kind(record_format)
    reduce_to_prompts = kind == "prompts"
    detect_each = record_format is None
    records = []
    seen_any = False
    for line, raw in raw_source.records():
        seen_any = True
        if report.format is None and isinstance(raw, dict):
            _detect(raw, report, kind, name, line)
        try:
            if isinstance(raw, DataError):
                raise raw
            if not isinstance(raw, dict):
                raise DataError(
                    f"expected a record (dict), got {type(raw).__name__}",
                    source=name,
                    line=line,
                )
            if report.format is None:
                raise _undetected(raw, kind, name, line)
            used_format = report.format
            if detect_each:
                used_format = _record_format(raw, report, reduce_to_prompts)
            record = formats.convert(
                raw, used_format, source=name, line=line, label=label
            )
            record.validate(source=name, line=line)
            if reduce_to_prompts and not isinstance(record, PromptExample):
                record = PromptExample.from_example(record, source=name, line=line)
                record.validate(source=name, line=line)
        except DataError as error:
            if errors == "raise":
                raise
            _count_skip(report, error, line)
            continue
        records.append(record)
        report.lines.append(line)
        report.formats[used_format] = report.formats.get(used_format, 0) + 1
    if not seen_any:
        raise DataError("no records: the source is empty", source=name)
    report.count = len(records)
    logger.info(
        "%s: loaded %d %s records (format %r, file format %s), skipped %d",
        name,
        report.count,
        report.kind or "",
        report.format,
        report.file_format,
        report.skipped,
    )
    if report.skipped:
        logger.warning("%s: skipped %d bad records", name, report.skipped)
    return (records, report) if return_report else records


def _resolve_format(format, file_format, kind):
    known = ["auto", *FILE_FORMATS, *formats.RECORD_FORMATS]
    if not isinstance(format, str) or format not in known:
        raise DataError(f"unknown format {format!r}; known formats: {known}")
    if format in FILE_FORMATS:
        if file_format is not None and file_format != format:
            raise DataError(
                f"format={format!r} and file_format={file_format!r} disagree"
            )
        return None, format
    if format == "auto":
        return None, file_format
    format_kind = formats.format_kind(format)
    if kind in ("sft", "preferences") and format_kind != kind:
        raise DataError(_wrong_kind_message(format, format_kind, kind))
    return format, file_format


_KIND_FORMATS = {
    "sft": formats.SFT_FORMATS,
    "preferences": formats.PREFERENCE_FORMATS,
    "prompts": formats.PROMPT_FORMATS,
}
_KIND_WORDS = {
    "sft": ("SFT examples", "load_sft"),
    "preferences": ("preference pairs", "load_preferences"),
    "prompts": ("prompts without responses", "load_prompts"),
}


def _wrong_kind_message(format, format_kind, kind):
    holds, loader = _KIND_WORDS[format_kind]
    return (
        f"format {format!r} holds {holds}: use {loader} (--kind {format_kind}); "
        f"{_KIND_WORDS[kind][0]} formats are {list(_KIND_FORMATS[kind])}"
    )


def _detect(raw, report, kind, name, line):
    """Set the report's kind and format from the first recognisable record."""
    detected = formats.detect_format(raw, _kind_hint(kind))
    if detected is None:
        return
    detected_kind, detected_format = detected
    if kind in ("sft", "preferences") and detected_kind != kind:
        # The whole file is of the other kind: not a record to skip.
        message = _wrong_kind_message(detected_format, detected_kind, kind)
        raise DataError(
            f"the records look like format {detected_format!r}; "
            + message.split(": ", 1)[1],
            source=name,
            line=line,
        )
    report.kind = kind if kind == "prompts" else detected_kind
    report.format = detected_format
    logger.info("%s: detected record format %r", name, detected_format)


def _kind_hint(kind):
    return kind if kind in ("sft", "preferences") else None


def _record_format(raw, report, reduce_to_prompts):
    """The format of one record of an auto-detected source.

    A source may mix layouts of the same kind, as the canonical JSONL that
    `write_jsonl` writes does (plain prompts, chat messages and template
    variables side by side). A record that looks like another format of the
    same kind (of any kind when only the prompts are wanted) is read as that
    format; anything else is read as the source's format, which then names
    what is missing.
    """
    detected = formats.detect_format(raw, _kind_hint(report.kind))
    if detected is not None and (reduce_to_prompts or detected[0] == report.kind):
        return detected[1]
    return report.format


def _undetected(raw, kind, name, line):
    known = _KIND_FORMATS.get(kind, formats.RECORD_FORMATS)
    return DataError(
        f"cannot tell the record format from the fields {sorted(map(str, raw))}; "
        f"pass format= one of {list(known)}",
        source=name,
        line=line,
    )


def _count_skip(report, error, line):
    report.skipped += 1
    if len(report.errors) < MAX_REPORTED_ERRORS:
        report.errors.append(
            (error.line if error.line is not None else line, error.field, error.message)
        )
