"""What `kerasalign reward` and `kerasalign dpo` share: data and model loading."""

from kerasalign.cli.model_args import load_model_from_args
from kerasalign.cli.training_args import lora_targets


def load_pairs(args):
    """The training pairs (with their load report) and the validation pairs."""
    from kerasalign.data.readers import load_preferences

    pairs, report = load_preferences(
        args.data, format=args.format, errors=args.errors, return_report=True
    )
    eval_pairs = None
    if args.eval_data:
        eval_pairs = load_preferences(args.eval_data, format=args.format, errors=args.errors)
    return pairs, report, eval_pairs


def load_trainable_model(args):
    """The model to train: `--adapter` is continued as it is, else a new LoRA.

    A loaded adapter keeps its own rank and targets (`--lora-rank` and
    `--lora-targets` then do not apply); without one, `--lora-rank 0` means
    full fine-tuning.
    """
    if getattr(args, "adapter", None):
        return load_model_from_args(args)
    return load_model_from_args(
        args,
        lora_rank=args.lora_rank or None,
        lora_alpha=args.lora_alpha,
        lora_targets=lora_targets(args.lora_targets),
    )


def describe_change(name, first, final, key):
    """`"name 0.50 -> 0.95 (val 0.90)"` from the first step and last epoch."""
    text = f"{name} {first.get(key, float('nan')):.4f} -> {final.get(key, float('nan')):.4f}"
    if f"val_{key}" in final:
        text += f" (val {final[f'val_{key}']:.4f})"
    return text
