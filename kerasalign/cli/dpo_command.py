"""`kerasalign dpo`: preference tuning with DPO or a variant.

Examples:

    kerasalign dpo --preset gemma3_270m_gguf --adapter runs/sft/adapter \\
        --data safety_pairs.jsonl --beta 0.1 --validation-split 0.1 --output runs/dpo
    kerasalign dpo --preset tiny_gemma --data pairs.jsonl --loss simpo --beta 2 \\
        --gamma 0.5 --output runs/simpo --json
"""

from kerasalign.cli.model_args import add_model_arguments
from kerasalign.cli.preference_args import (
    describe_change,
    load_pairs,
    load_trainable_model,
)
from kerasalign.cli.training_args import add_training_arguments, check_training_args

# The names of kerasalign.trainers.losses.LOSSES, kept here so that building
# the parser does not import Keras (a test checks they agree).
LOSS_NAMES = ["sigmoid", "ipo", "hinge", "robust", "simpo", "orpo"]


def register(subparsers, common):
    parser = subparsers.add_parser(
        "dpo",
        parents=[common],
        help="preference tuning: DPO, IPO, hinge, robust DPO, SimPO or ORPO",
        description="Train a policy on chosen/rejected pairs. The reference "
        "log-probs are computed once before training from the starting model "
        "(with --adapter: the model with that adapter, e.g. after SFT), or come "
        "from --reference. Writes the adapter (or the full model with "
        "--lora-rank 0), metrics.json and curves.png.",
    )
    add_model_arguments(parser)
    add_training_arguments(parser, epochs=1, learning_rate=5e-5)
    parser.add_argument("--loss", choices=LOSS_NAMES, default="sigmoid",
                        help="sigmoid is DPO (default); simpo and orpo need no reference")
    parser.add_argument("--beta", type=float, default=None,
                        help="default: 2.0 for simpo, 0.1 otherwise (orpo: lambda)")
    parser.add_argument("--label-smoothing", type=float, default=None,
                        help="label-noise rate for sigmoid (cDPO) and robust")
    parser.add_argument("--gamma", type=float, default=None, help="SimPO's target margin (0.5)")
    parser.add_argument("--rpo-alpha", type=float, default=0.0,
                        help="add this weight times the chosen responses' NLL to the loss "
                        "(RPO; keeps chosen answers likely; not with orpo). Default 0")
    parser.add_argument("--reference", default=None,
                        help="a separate reference model preset (default: precomputed "
                        "from the starting model, no second copy in memory)")
    parser.add_argument("--reference-lora", choices=["on", "off"], default="on",
                        help="precomputed reference with the LoRA update on (the starting "
                        "model, default) or off (the base weights under --adapter)")
    parser.set_defaults(handler=run)


def run(args):
    from kerasalign.models import load_causal_lm
    from kerasalign.trainers.dpo_run import run_dpo

    check_training_args(args)
    pairs, report, eval_pairs = load_pairs(args)
    policy = load_trainable_model(args)
    reference = None
    if args.reference:
        reference = load_causal_lm(
            args.reference, sequence_length=args.sequence_length, dtype=args.dtype
        )
    summary = run_dpo(
        policy,
        pairs,
        reference=reference,
        loss=args.loss,
        beta=args.beta,
        label_smoothing=args.label_smoothing,
        gamma=args.gamma,
        rpo_alpha=args.rpo_alpha,
        reference_lora=args.reference_lora,
        template=args.template,
        eval_examples=eval_pairs,
        validation_split=args.validation_split,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        early_stopping_patience=args.early_stopping_patience,
        output_dir=args.output,
        verbose=0 if args.json else "auto",
        seed=args.seed,
        bucket_multiple=args.bucket_multiple,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        lr_schedule=args.lr_schedule,
        warmup_ratio=args.warmup_ratio,
    )
    summary["data"] = report.to_dict()
    if not args.json:
        first, final = summary["first_step"], summary["final"]
        print(
            f"trained {summary['epochs_run']} epochs on {summary['pairs']} pairs "
            f"({summary['config']['loss']}, beta {summary['config']['beta']}): "
            + ", ".join(
                describe_change(name.split("/")[-1], first, final, name)
                for name in ("loss", "rewards/accuracies", "rewards/margins")
            )
        )
        print(f"wrote {', '.join(summary['files'])} to {args.output}")
    return summary
