"""`kerasalign data`: check, deduplicate, split, cover and convert datasets.

Every action reads its FILE with the same readers as `kerasalign.data`
(`--kind`, `--format`, `--errors`, `--label`), prints a readable report, or
with `--json` one JSON object, and writes its outputs atomically (a temporary
file renamed into place), so a failure never leaves half a file.

Examples:

    kerasalign data check pairs.jsonl --kind preferences
    kerasalign data dedup sft.jsonl --output sft.dedup.jsonl --near 0.8
    kerasalign data split sft.jsonl --output-dir splits --fractions 0.8,0.1,0.1
    kerasalign data coverage sft.jsonl --min-per-policy 20 --json
    kerasalign data convert hh.parquet --to jsonl --output hh.jsonl
"""

import argparse
import contextlib
import os
import shutil
import tempfile

from kerasalign.data import quality
from kerasalign.data.quality.coverage import DEFAULT_MIN_PER_POLICY
from kerasalign.data.readers import load_records
from kerasalign.data.writers import write_jsonl
from kerasalign.errors import DataError

KIND_NOUNS = {
    "sft": "SFT examples",
    "preferences": "preference pairs",
    "prompts": "prompts",
}
SPLIT_FILES = "{name}.jsonl"


def register(subparsers, common):
    """Add `kerasalign data ACTION ...` to the command line."""
    parser = subparsers.add_parser(
        "data",
        help="check, deduplicate, split, report coverage of and convert datasets",
        description=__doc__.split("\n\n")[1],
    )
    actions = parser.add_subparsers(dest="data_command", metavar="ACTION")
    actions.required = True
    source = argparse.ArgumentParser(add_help=False)
    source.add_argument("file", help="a .jsonl, .json, .csv, .tsv or .parquet file")
    source.add_argument(
        "--kind",
        choices=["auto", "sft", "preferences", "prompts"],
        default="auto",
        help="what the file holds (default: decided from the fields); "
        "prompts keeps only the prompts of any data",
    )
    source.add_argument(
        "--format",
        default="auto",
        help="record format (alpaca, messages, sharegpt, hh_rlhf, pku_saferlhf, ...) "
        "or file format (jsonl, json, csv, tsv, parquet); default: auto",
    )
    source.add_argument(
        "--errors",
        choices=["raise", "skip"],
        default="raise",
        help="stop at the first bad record (raise) or skip and count bad records",
    )
    source.add_argument(
        "--label",
        choices=["safer", "better"],
        default="safer",
        help="which PKU-SafeRLHF label makes the chosen response",
    )
    parents = [common, source]

    check = actions.add_parser(
        "check", parents=parents, help="detect the format, count records, list errors"
    )
    check.set_defaults(handler=run, data_action=_check)

    dedup = actions.add_parser(
        "dedup", parents=parents, help="remove exact (and near) duplicates"
    )
    dedup.add_argument("--output", required=True, help="the deduplicated JSONL file")
    dedup.add_argument(
        "--near",
        type=_fraction,
        metavar="THRESHOLD",
        help="also remove near duplicates with this Jaccard similarity (0-1)",
    )
    dedup.set_defaults(handler=run, data_action=_dedup)

    split = actions.add_parser(
        "split", parents=parents, help="stratified train/validation/test split"
    )
    split.add_argument("--output-dir", required=True, help="directory for the splits")
    split.add_argument(
        "--fractions",
        type=_fractions,
        default=(0.8, 0.1, 0.1),
        help="two or three fractions adding up to 1 (default: 0.8,0.1,0.1)",
    )
    split.add_argument("--seed", type=int, default=0, help="shuffle seed (default 0)")
    split.add_argument(
        "--stratify",
        choices=["policy", "use_case", "none"],
        default="policy",
        help="field to stratify on (default: policy)",
    )
    split.set_defaults(handler=run, data_action=_split)

    coverage = actions.add_parser(
        "coverage", parents=parents, help="examples per policy and use case"
    )
    coverage.add_argument(
        "--min-per-policy",
        type=int,
        default=DEFAULT_MIN_PER_POLICY,
        help="flag policies with fewer examples (default: %(default)s)",
    )
    coverage.add_argument(
        "--require",
        type=_names,
        default=None,
        metavar="POLICY,...",
        help="policies that must be present",
    )
    coverage.set_defaults(handler=run, data_action=_coverage)

    convert = actions.add_parser(
        "convert", parents=parents, help="convert to canonical JSONL"
    )
    convert.add_argument("--to", choices=["jsonl"], default="jsonl")
    convert.add_argument("--output", required=True, help="the output file")
    convert.set_defaults(handler=run, data_action=_convert)


def run(args):
    """Run one `data` action; returns its result as a dict."""
    return args.data_action(args)


def _fraction(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in (0, 1], got {value}")
    return value


def _fractions(text):
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected numbers separated by commas, got {text!r}"
        ) from None
    if len(values) not in (2, 3) or any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(
            f"expected two or three non-negative fractions, got {text!r}"
        )
    if abs(sum(values) - 1.0) > 1e-6:
        raise argparse.ArgumentTypeError(f"fractions must add up to 1, got {text!r}")
    return values


def _names(text):
    return [name.strip() for name in text.split(",") if name.strip()]


def _load(args):
    return load_records(
        args.file,
        kind=args.kind,
        format=args.format,
        errors=args.errors,
        label=args.label,
        return_report=True,
    )


def _say(args, text):
    if not args.json:
        print(text)


def _line(report, index):
    return report.lines[index] if index is not None else None


def _write(records, path):
    """Write JSONL atomically; output problems become one-line errors."""
    if os.path.isdir(path):
        raise DataError("is a directory; --output needs a file name", source=path)
    with _output_errors(path):
        return write_jsonl(records, path)


@contextlib.contextmanager
def _output_errors(path):
    try:
        yield
    except OSError as error:
        raise DataError(
            f"cannot write: {error.strerror or error}", source=path
        ) from None


def _check(args):
    _, report = _load(args)
    result = {"file": args.file, "ok": report.skipped == 0, **report.to_dict()}
    del result["source"]
    noun = KIND_NOUNS.get(report.kind, "records")
    lines = [
        f"{args.file}: {report.count} {noun}, format {report.format} "
        f"(file format {report.file_format})"
    ]
    if len(report.formats) > 1:
        lines.append(
            "mixed layouts: "
            + ", ".join(f"{name} {count}" for name, count in report.formats.items())
        )
    if report.skipped:
        lines.append(f"skipped {report.skipped} bad records:")
        for line, field, message in report.errors:
            where = f"line {line}" + (f', field "{field}"' if field else "")
            lines.append(f"  {where}: {message}")
        if report.skipped > len(report.errors):
            lines.append(f"  ... and {report.skipped - len(report.errors)} more")
    _say(args, "\n".join(lines))
    return result


def _dedup(args):
    records, report = _load(args)
    kept, exact = quality.deduplicate(records)
    removed = [
        {
            "line": _line(report, r.index),
            "reason": r.reason,
            "duplicate_of_line": _line(report, r.partner),
        }
        for r in exact.removed
    ]
    if args.near is not None:
        kept, near = quality.near_duplicates(kept, threshold=args.near)
        original = exact.kept_indices  # Positions in `kept` -> in `records`.
        removed += [
            {
                "line": _line(report, original[r.index]),
                "reason": r.reason,
                "duplicate_of_line": _line(report, original[r.partner]),
                "similarity": round(r.detail, 4),
            }
            for r in near.removed
        ]
    _write(kept, args.output)
    lines = [f"{args.file}: kept {len(kept)} of {len(records)}, wrote {args.output}"]
    for item in removed[:20]:
        similarity = (
            f" (Jaccard {item['similarity']:.2f})" if "similarity" in item else ""
        )
        lines.append(
            f"  line {item['line']}: {item['reason'].replace('_', ' ')} of line "
            f"{item['duplicate_of_line']}{similarity}"
        )
    if len(removed) > 20:
        lines.append(f"  ... and {len(removed) - 20} more")
    _say(args, "\n".join(lines))
    return {
        "file": args.file,
        "output": args.output,
        "total": len(records),
        "kept": len(kept),
        "removed": removed,
        "skipped": report.skipped,
    }


def _split(args):
    records, report = _load(args)
    stratify = None if args.stratify == "none" else args.stratify
    splits, result = quality.split(
        records, fractions=args.fractions, seed=args.seed, stratify=stratify
    )
    files = {}
    with (
        _output_directory(args.output_dir) as directory,
        _output_errors(args.output_dir),
    ):
        for name, examples in zip(result.names, splits, strict=True):
            _write(examples, os.path.join(directory, SPLIT_FILES.format(name=name)))
            files[name] = os.path.join(args.output_dir, SPLIT_FILES.format(name=name))
    _say(args, result.summary() + f"\nwrote {', '.join(files.values())}")
    return {"file": args.file, "files": files, **result.to_dict()}


@contextlib.contextmanager
def _output_directory(path):
    """Yield where to write; a new directory appears only when complete."""
    if os.path.isdir(path):
        yield path  # Each file is still written atomically.
        return
    if os.path.exists(path):
        raise DataError("exists and is not a directory", source=path)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(path)}.")
    try:
        yield staging
        os.chmod(staging, 0o755)
        os.replace(staging, path)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _coverage(args):
    records, report = _load(args)
    coverage = quality.coverage_report(
        records, required_policies=args.require, min_per_policy=args.min_per_policy
    )
    _say(args, f"{args.file}: " + coverage.summary())
    return {"file": args.file, "format": report.format, **coverage.to_dict()}


def _convert(args):
    records, report = _load(args)
    count = _write(records, args.output)
    _say(
        args,
        f"{args.file}: converted {count} {KIND_NOUNS.get(report.kind, 'records')} "
        f"from format {report.format} to {args.output}"
        + (f" (skipped {report.skipped})" if report.skipped else ""),
    )
    return {
        "file": args.file,
        "output": args.output,
        "format": report.format,
        "kind": report.kind,
        "count": count,
        "skipped": report.skipped,
    }
