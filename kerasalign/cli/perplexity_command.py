"""`kerasalign perplexity`: perplexity of a model (and adapter) on a text file.

Examples:

    kerasalign perplexity --preset gemma3_270m_gguf --text-file prose.txt --json
    kerasalign perplexity --preset tiny_gemma --adapter out/adapter \\
        --text-file notes.txt --sequence-length 256 --stride 128
"""

from kerasalign.cli.model_args import add_model_arguments, load_model_from_args
from kerasalign.errors import DataError, KerasAlignError


def register(subparsers, common):
    parser = subparsers.add_parser(
        "perplexity",
        parents=[common],
        help="perplexity of a model on a text file (long texts in windows)",
    )
    add_model_arguments(parser)
    parser.add_argument("--text-file", required=True, help="UTF-8 text file to score")
    parser.add_argument(
        "--stride",
        type=int,
        default=None,
        help="tokens between window starts (default: half the sequence length)",
    )
    parser.add_argument("--batch-size", type=int, default=1, help="windows per step")
    parser.set_defaults(handler=run)


def read_text_file(path):
    """The content of a UTF-8 text file; `DataError` if empty or not UTF-8."""
    with open(path, "rb") as handle:
        data = handle.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(
            f"not UTF-8 text (byte {error.start}: {error.reason})", source=str(path)
        ) from error
    if not text.strip():
        raise DataError("the file has no text to score", source=str(path))
    return text


def run(args):
    from kerasalign.eval.perplexity import perplexity

    if args.batch_size < 1:
        raise KerasAlignError(f"--batch-size must be at least 1, got {args.batch_size}")
    text = read_text_file(args.text_file)
    model = load_model_from_args(args)
    sequence_length = model.preprocessor.sequence_length
    if args.stride is not None and not 1 <= args.stride < sequence_length:
        raise KerasAlignError(
            f"--stride must be from 1 to {sequence_length - 1} (the sequence "
            f"length minus the start token), got {args.stride}"
        )
    result = perplexity(model, text, stride=args.stride, batch_size=args.batch_size)
    if not args.json:
        print(
            f"perplexity {result['perplexity']:.3f} over {result['tokens']} tokens "
            f"({result['windows']} window(s) of {sequence_length})"
        )
    return {
        "perplexity": result["perplexity"],
        "tokens": result["tokens"],
        "nll": result["nll"],
        "windows": result["windows"],
        "sequence_length": sequence_length,
        "preset": args.preset,
        "adapter": args.adapter,
        "text_file": str(args.text_file),
    }
