"""The `kerasalign` command line.

Each subcommand lives in its own module `kerasalign/cli/<name>_command.py`
that exposes `register(subparsers, common)`: it adds its parser (with
`parents=[common]`, which gives `--json`) and sets `handler=run`. `run(args)`
returns a dict, the command's result: with `--json` it is printed as one JSON
object on the last line of stdout. A `KerasAlignError` (bad user input) exits
with code 2 and a one-line message on stderr, never a traceback.

Examples:

    kerasalign info --json
    kerasalign generate --preset tiny_gemma --prompt "Hello" --max-new-tokens 8
"""

import argparse
import importlib
import json
import os
import sys

from kerasalign.cpu_malloc import restart_command
from kerasalign.xla_cpu_schedule import prefer_memory_schedule

# The command line runs on JAX, the default backend, unless KERAS_BACKEND
# says otherwise: Keras' own fallback (~/.keras/keras.json, written on first
# import) is TensorFlow.
os.environ.setdefault("KERAS_BACKEND", "jax")
# `import kerasalign` ran before the line above chose the backend.
prefer_memory_schedule()

# Commands that need no deep-learning backend start faster without it.
COMMANDS_WITHOUT_BACKEND = {"data"}

# Subcommand modules, in the order `--help` lists them.
COMMAND_MODULES = [
    "info",
    "generate",
    "perplexity",
    "data",
    "sft",
    "reward",
    "dpo",
    "rlhf",
    "eval",
    "align",
    "debug",
]


def _available_command_modules():
    modules = []
    for name in COMMAND_MODULES:
        module_name = f"kerasalign.cli.{name}_command"
        try:
            modules.append(importlib.import_module(module_name))
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
    return modules


def build_parser():
    """Build the argument parser with every available subcommand."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json",
        action="store_true",
        help="print the result as one JSON object on the last line of stdout",
    )
    parser = argparse.ArgumentParser(
        prog="kerasalign",
        description=(
            "Align Gemma-style language models with Keras 3 and KerasHub "
            "(set KERAS_BACKEND=jax|tensorflow|torch to choose the backend)."
        ),
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in _available_command_modules():
        module.register(subparsers, common)
    return parser


def _print_json(result):
    print(json.dumps(result, default=_json_default, sort_keys=False))


def _json_default(value):
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
    except ImportError:  # pragma: no cover - numpy is a dependency
        pass
    return str(value)


def main(argv=None):
    """Run the command line; returns the process exit code."""
    if argv is None:
        # Run as the `kerasalign` program: on a CPU-only Linux host, restart
        # once with glibc told to reuse freed memory (kerasalign.cpu_malloc).
        restart_command()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from kerasalign.errors import KerasAlignError

    try:
        if args.command not in COMMANDS_WITHOUT_BACKEND:
            from kerasalign.cli.quiet import preload_backend

            preload_backend()
        result = args.handler(args)
    except KerasAlignError as error:
        message = " ".join(str(error).split("\n"))
        print(f"kerasalign {args.command}: error: {message}", file=sys.stderr)
        return 2
    except FileNotFoundError as error:
        print(f"kerasalign {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"kerasalign {args.command}: interrupted", file=sys.stderr)
        return 130
    if args.json:
        _print_json(result if result is not None else {})
    return 0


if __name__ == "__main__":
    sys.exit(main())
