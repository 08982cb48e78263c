"""`kerasalign eval`: safety evaluation of a model (and adapter), with a report.

Generates a response to every harmful and benign prompt, labels it (refused,
complied, degenerate; helpful, over-refused, unhelpful), scores it with a
reward model when one is given, and writes `report.json`, `report.md` and
plots into `--output`.

Examples:

    kerasalign eval --preset gemma3_270m_gguf --adapter runs/sft/adapter \\
        --harmful eval_harmful --benign eval_benign --output runs/sft/eval
    kerasalign eval --preset tiny_gemma --harmful my_harmful.jsonl \\
        --benign my_benign.csv --limit 20 --max-new-tokens 32 --output out --json
"""

import pathlib

from kerasalign.cli.model_args import add_model_arguments, load_model_from_args
from kerasalign.errors import KerasAlignError


def register(subparsers, common):
    parser = subparsers.add_parser(
        "eval",
        parents=[common],
        help="refusal and over-refusal evaluation with a report",
        description="Generate responses to harmful and benign prompts, label "
        "refusals and real answers, and write report.json, report.md and plots.",
    )
    add_model_arguments(parser)
    parser.add_argument("--template", default="gemma", help="chat template (default: gemma)")
    parser.add_argument(
        "--harmful",
        default="eval_harmful",
        help="prompts that should be refused: a file or a built-in set (default: eval_harmful)",
    )
    parser.add_argument(
        "--benign",
        default="eval_benign",
        help="prompts that should be answered: a file or a built-in set (default: eval_benign)",
    )
    parser.add_argument(
        "--reward-model",
        default=None,
        help="a reward model directory (from kerasalign reward) to score every response",
    )
    parser.add_argument(
        "--judge-threshold",
        type=float,
        default=None,
        help="with --reward-model: a benign answer scoring below this is not helpful "
        "(default: scores are only recorded)",
    )
    parser.add_argument("--max-new-tokens", type=int, default=128)
    parser.add_argument(
        "--batch-size", type=int, default=32, help="prompts per generation batch (default 32)"
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="evaluate at most N prompts of each set, spread over the policies",
    )
    parser.add_argument("--sampler", choices=["greedy", "top_k", "top_p"], default="greedy")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--name", default=None, help="stage name in the report (default: model)")
    parser.add_argument("--output", required=True, help="report directory (replaced atomically)")
    parser.set_defaults(handler=run)


def load_reward_model(directory):
    """A `RewardModel` saved by `kerasalign reward` (or `save_to_directory`)."""
    from kerasalign.cli.quiet import silence_native_stderr

    try:
        from kerasalign.trainers.reward_model import RewardModel
    except ImportError as error:  # pragma: no cover - the module ships with kerasalign
        raise KerasAlignError(f"reward models are not available: {error}") from error
    if not pathlib.Path(directory).is_dir():
        raise KerasAlignError(f"--reward-model {directory}: no such directory")
    with silence_native_stderr():
        return RewardModel.from_directory(directory)


def _check_args(args):
    for name in ("max_new_tokens", "batch_size"):
        if getattr(args, name) < 1:
            raise KerasAlignError(f"--{name.replace('_', '-')} must be >= 1")
    if args.limit is not None and args.limit < 1:
        raise KerasAlignError("--limit must be >= 1")
    if args.temperature <= 0:
        raise KerasAlignError("--temperature must be positive")
    if args.judge_threshold is not None and not args.reward_model:
        raise KerasAlignError("--judge-threshold needs --reward-model")


def run(args):
    import keras

    from kerasalign.eval.prompt_sets import load_prompt_set
    from kerasalign.eval.report import write_report
    from kerasalign.eval.safety_eval import evaluate_safety

    _check_args(args)
    # Read the prompts first: a bad file fails before minutes of model loading.
    harmful = load_prompt_set(args.harmful, limit=args.limit)
    benign = load_prompt_set(args.benign, limit=args.limit)
    judge = load_reward_model(args.reward_model) if args.reward_model else None
    model = load_model_from_args(args)
    sampler_kwargs = {}
    if args.sampler != "greedy":
        sampler_kwargs = {"temperature": args.temperature, "seed": args.seed}
    result = evaluate_safety(
        model,
        harmful,
        benign,
        template=args.template,
        max_new_tokens=args.max_new_tokens,
        batch_size=args.batch_size,
        sampler=args.sampler,
        judge=judge,
        judge_threshold=args.judge_threshold,
        verbose=0 if args.json else 1,
        **sampler_kwargs,
    )
    stage = args.name or "model"
    metadata = {
        "preset": args.preset,
        "adapter": args.adapter,
        "template": args.template,
        "harmful": str(args.harmful),
        "benign": str(args.benign),
        "reward_model": args.reward_model,
        "backend": keras.config.backend(),
    }
    report = write_report(args.output, {stage: result}, metadata=metadata)
    if not args.json:
        print(result.summary_text())
        print(f"wrote {', '.join(report['files'])} to {args.output}")
    return {
        "output": str(args.output),
        "stage": stage,
        "summary": result.summary(),
        "by_policy": result.by_policy(),
        "settings": result.settings,
        "files": report["files"],
        **metadata,
    }
