"""`kerasalign sft`: supervised fine-tuning (LoRA or full) from a data file."""

from kerasalign.cli.model_args import add_model_arguments, load_model_from_args
from kerasalign.cli.training_args import (
    add_training_arguments,
    check_training_args,
    lora_targets,
)


def register(subparsers, common):
    parser = subparsers.add_parser(
        "sft",
        parents=[common],
        help="supervised fine-tuning with response-only loss",
        description="Fine-tune a model on prompt/response data. Writes the "
        "adapter (or the full model with --lora-rank 0), metrics.json and loss.png.",
    )
    add_model_arguments(parser)
    add_training_arguments(parser)
    parser.add_argument(
        "--pack",
        action="store_true",
        help="pack short examples end to end into full rows (faster; a token may "
        "attend to the examples packed before it)",
    )
    parser.set_defaults(handler=run)


def run(args):
    from kerasalign.data.readers import load_sft
    from kerasalign.trainers.sft_run import run_sft

    check_training_args(args)
    examples, report = load_sft(args.data, format=args.format, errors=args.errors, return_report=True)
    eval_examples = None
    if args.eval_data:
        eval_examples = load_sft(args.eval_data, format=args.format, errors=args.errors)
    model = load_model_from_args(
        args,
        lora_rank=args.lora_rank or None,
        lora_alpha=args.lora_alpha,
        lora_targets=lora_targets(args.lora_targets),
    )
    summary = run_sft(
        model,
        examples,
        template=args.template,
        eval_examples=eval_examples,
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
        pack=args.pack,
    )
    summary["data"] = report.to_dict()
    final = summary["final"]
    if not args.json:
        print(
            f"trained {summary['epochs_run']} epochs on {summary['examples']} examples: "
            f"loss {summary['first_step_loss']:.4f} -> {final.get('loss', float('nan')):.4f}"
            + (f", val_loss {final['val_loss']:.4f}" if "val_loss" in final else "")
        )
        if summary["packing"]:
            print(f"{summary['packing']['rows_in']} examples packed into "
                  f"{summary['packing']['rows_out']} rows")
        print(f"wrote {', '.join(summary['files'])} to {args.output}")
    return summary
