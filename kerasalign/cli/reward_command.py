"""`kerasalign reward`: train a reward model on preference pairs.

Examples:

    kerasalign reward --preset gemma3_270m_gguf --data safety_pairs.jsonl \\
        --validation-split 0.1 --epochs 2 --output runs/reward
    kerasalign reward --preset tiny_gemma --data pairs.jsonl --lora-rank 0 \\
        --output runs/reward_full --json
"""

from kerasalign.cli.model_args import add_model_arguments
from kerasalign.cli.preference_args import (
    describe_change,
    load_pairs,
    load_trainable_model,
)
from kerasalign.cli.training_args import add_training_arguments, check_training_args
from kerasalign.errors import KerasAlignError


def register(subparsers, common):
    parser = subparsers.add_parser(
        "reward",
        parents=[common],
        help="train a reward model (Bradley-Terry) on preference pairs",
        description="Train a scalar reward model on chosen/rejected pairs. Writes "
        "the reward model (reward_model.json, reward_head.npz and adapter/ or "
        "model/; load it with kerasalign.RewardModel.from_directory or "
        "kerasalign eval --reward-model), metrics.json and curves.png.",
    )
    add_model_arguments(parser)
    add_training_arguments(parser, epochs=1, learning_rate=1e-4)
    parser.add_argument(
        "--center-rewards-coefficient",
        type=float,
        default=0.0,
        help="weight of the term that keeps rewards near 0 (default 0)",
    )
    parser.set_defaults(handler=run)


def run(args):
    from kerasalign.trainers.reward_model import RewardModel
    from kerasalign.trainers.reward_run import run_reward

    check_training_args(args)
    if args.center_rewards_coefficient < 0:
        raise KerasAlignError("--center-rewards-coefficient must be >= 0")
    pairs, report, eval_pairs = load_pairs(args)
    reward_model = RewardModel(
        load_trainable_model(args),
        template=args.template,
        center_rewards_coefficient=args.center_rewards_coefficient,
    )
    summary = run_reward(
        reward_model,
        pairs,
        eval_examples=eval_pairs,
        validation_split=args.validation_split,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        early_stopping_patience=args.early_stopping_patience,
        output_dir=args.output,
        base_preset=args.preset,
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
            f"trained {summary['epochs_run']} epochs on {summary['pairs']} pairs: "
            + ", ".join(
                describe_change(name, first, final, name) for name in ("loss", "accuracy", "margin")
            )
        )
        print(f"wrote {', '.join(summary['files'])} to {args.output}")
    return summary
