"""Arguments shared by the training commands (sft, reward, dpo, rlhf)."""


def add_training_arguments(parser, *, epochs=3, learning_rate=2e-4, batch_size=4):
    parser.add_argument("--data", required=True, help="training data file (jsonl, json, csv, parquet)")
    parser.add_argument("--format", default="auto", help="record or file format (default: auto-detect)")
    parser.add_argument("--errors", choices=["raise", "skip"], default="raise",
                        help="stop at the first bad record, or skip and count bad records")
    parser.add_argument("--eval-data", default=None, help="validation data file")
    parser.add_argument("--validation-split", type=float, default=None,
                        help="fraction of --data held out for validation")
    parser.add_argument("--early-stopping-patience", type=int, default=None,
                        help="stop after N epochs without a lower validation loss")
    parser.add_argument("--template", default="gemma")
    parser.add_argument("--lora-rank", type=int, default=8, help="0 means full fine-tuning")
    parser.add_argument("--lora-alpha", type=float, default=None)
    parser.add_argument("--lora-targets", default="query_value",
                        help="query_value, attention, all, or comma-separated layer names")
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--gradient-accumulation-steps", type=int, default=1,
                        help="update the weights once every N batches with their averaged "
                             "gradients: the memory of --batch-size, the update of N times it")
    parser.add_argument("--learning-rate", type=float, default=learning_rate)
    add_schedule_arguments(parser, lr_schedule="constant", warmup_ratio=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--bucket-multiple", type=int, default=None,
                        help="batch examples of similar length, each batch trimmed to a "
                             "multiple of N tokens (faster when lengths vary; e.g. 32)")
    parser.add_argument("--output", required=True, help="output directory (replaced atomically)")


# `kerasalign.trainers.learning_rate_schedules.SCHEDULES`, written out: the
# parser is built before keras is imported (a test checks they agree).
LR_SCHEDULES = ("constant", "linear", "cosine")


def add_schedule_arguments(parser, *, lr_schedule, warmup_ratio):
    """`--lr-schedule` and `--warmup-ratio` (see `learning_rate_schedules`)."""
    parser.add_argument("--lr-schedule", choices=LR_SCHEDULES, default=lr_schedule,
                        help="the learning rate over the run's updates: constant, or a linear "
                             "or cosine decay to zero at the last update (default: constant)")
    parser.add_argument("--warmup-ratio", type=float, default=warmup_ratio,
                        help="fraction of the updates that warm the learning rate up "
                             "linearly (default: 0)")


def check_warmup_ratio(value):
    """A one-line error unless `--warmup-ratio` is in [0, 1) (or not given)."""
    from kerasalign.errors import KerasAlignError

    if value is not None and not 0 <= value < 1:
        raise KerasAlignError(f"--warmup-ratio must be >= 0 and < 1, got {value}")


def lora_targets(value):
    """`"query_value"` stays a group name; `"a,b"` becomes a list of layers."""
    return value.split(",") if "," in value else value


def check_training_args(args):
    """Reject nonsensical numbers with a one-line error."""
    from kerasalign.errors import KerasAlignError

    for name in ("epochs", "batch_size", "gradient_accumulation_steps"):
        if getattr(args, name) < 1:
            raise KerasAlignError(f"--{name.replace('_', '-')} must be >= 1")
    if args.lora_rank < 0:
        raise KerasAlignError("--lora-rank must be >= 0 (0 means full fine-tuning)")
    if args.learning_rate <= 0:
        raise KerasAlignError("--learning-rate must be positive")
    check_warmup_ratio(args.warmup_ratio)
    if args.bucket_multiple is not None and args.bucket_multiple < 1:
        raise KerasAlignError("--bucket-multiple must be >= 1")
    if args.eval_data and args.validation_split:
        raise KerasAlignError("give --eval-data or --validation-split, not both")
    if args.early_stopping_patience is not None and args.early_stopping_patience < 1:
        raise KerasAlignError("--early-stopping-patience must be >= 1")
