"""`kerasalign rlhf`: online RLHF (PPO or GRPO) against a reward model or a rule.

The policy is a fresh LoRA on the model (with `--adapter`, on the model with
that adapter merged in, e.g. after SFT): the reference that the KL penalty
measures against is the model under the new LoRA.

Examples:

    kerasalign reward --preset tiny_gemma --data pairs.jsonl --output runs/rm
    kerasalign rlhf --preset tiny_gemma --data prompts.jsonl \\
        --reward-model runs/rm --algorithm ppo --output runs/ppo
    kerasalign rlhf --preset gemma3_270m_gguf --adapter runs/sft/adapter \\
        --data prompts.jsonl --reward-keyword "I can't help" --algorithm grpo \\
        --num-generations 4 --output runs/grpo --json
"""

from kerasalign.cli.model_args import add_model_arguments, load_model_from_args
from kerasalign.cli.training_args import (
    add_schedule_arguments,
    check_warmup_ratio,
    lora_targets,
)
from kerasalign.errors import KerasAlignError


def register(subparsers, common):
    parser = subparsers.add_parser(
        "rlhf",
        parents=[common],
        help="online RLHF with PPO or GRPO against a reward model or a rule",
        description="Optimise a LoRA policy to raise a reward on a set of prompts, "
        "with a KL penalty to the model under the LoRA. Writes the adapter, "
        "metrics.json and curves.png (reward, KL, losses).",
    )
    add_model_arguments(parser)
    parser.add_argument("--data", required=True,
                        help="prompts file (prompt records, or SFT/preference data reduced to prompts)")
    parser.add_argument("--format", default="auto", help="record or file format (default: auto-detect)")
    parser.add_argument("--errors", choices=["raise", "skip"], default="raise",
                        help="stop at the first bad record, or skip and count bad records")
    parser.add_argument("--algorithm", choices=["ppo", "grpo"], default="ppo")
    reward = parser.add_mutually_exclusive_group(required=True)
    reward.add_argument("--reward-model", help="a reward model directory from `kerasalign reward`")
    reward.add_argument("--reward-keyword",
                        help="a rule: reward 1 when the response contains this text, else 0")
    parser.add_argument("--template", default="gemma")
    parser.add_argument("--lora-rank", type=int, default=8)
    parser.add_argument("--lora-alpha", type=float, default=None)
    parser.add_argument("--lora-targets", default="query_value",
                        help="query_value, attention, all, or comma-separated layer names")
    parser.add_argument("--epochs", type=int, default=1, help="passes over the prompts")
    parser.add_argument("--batch-size", type=int, default=8, help="prompts per rollout batch")
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    add_schedule_arguments(parser, lr_schedule="constant", warmup_ratio=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--max-prompt-length", type=int, default=None,
                        help="prompt tokens kept (default: the longest prompt)")
    parser.add_argument("--sampler", choices=["random", "top_k", "top_p"], default="random")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--num-minibatches", type=int, default=1)
    parser.add_argument("--optimization-epochs", type=int, default=None,
                        help="passes over each rollout batch (default: 4 for PPO, 1 for GRPO)")
    parser.add_argument("--clip-range", type=float, default=0.2)
    parser.add_argument("--missing-eos-penalty", type=float, default=None,
                        help="subtracted from the score of a response cut at --max-new-tokens")
    parser.add_argument("--kl-coef", type=float, default=0.05, help="PPO: KL penalty coefficient")
    parser.add_argument("--target-kl", type=float, default=None,
                        help="PPO: adapt --kl-coef towards this KL per response")
    parser.add_argument("--value-coef", type=float, default=0.1, help="PPO: value loss weight")
    parser.add_argument("--num-generations", type=int, default=4, help="GRPO: responses per prompt")
    parser.add_argument("--beta", type=float, default=0.04, help="GRPO: KL term weight")
    parser.add_argument("--output", required=True, help="output directory (replaced atomically)")
    parser.set_defaults(handler=run)


def _check_args(args):
    for name in ("epochs", "batch_size"):
        if getattr(args, name) < 1:
            raise KerasAlignError(f"--{name.replace('_', '-')} must be >= 1")
    if args.lora_rank < 1:
        raise KerasAlignError(
            "--lora-rank must be >= 1: RLHF trains a LoRA policy and uses the model "
            "under it as the reference"
        )
    if args.learning_rate <= 0:
        raise KerasAlignError("--learning-rate must be positive")
    check_warmup_ratio(args.warmup_ratio)


def _load_policy(args):
    """The model with `--adapter` merged in (the reference) plus a fresh LoRA."""
    from kerasalign.models import enable_lora, merge_adapter

    targets = lora_targets(args.lora_targets)
    base = {"preset": args.preset, "merged_adapter": args.adapter}
    if not args.adapter:
        model = load_model_from_args(
            args, lora_rank=args.lora_rank, lora_alpha=args.lora_alpha, lora_targets=targets
        )
        return model, base
    model = merge_adapter(load_model_from_args(args))
    enable_lora(model, args.lora_rank, alpha=args.lora_alpha, targets=targets)
    return model, base


def _trainer_arguments(args):
    common = {
        "template": args.template,
        "max_new_tokens": args.max_new_tokens,
        "max_prompt_length": args.max_prompt_length,
        "sampler": args.sampler,
        "temperature": args.temperature,
        "num_minibatches": args.num_minibatches,
        "clip_range": args.clip_range,
        "missing_eos_penalty": args.missing_eos_penalty,
    }
    if args.optimization_epochs is not None:
        common["optimization_epochs"] = args.optimization_epochs
    if args.algorithm == "ppo":
        return {
            **common,
            "kl_coef": args.kl_coef,
            "target_kl": args.target_kl,
            "value_coef": args.value_coef,
        }
    return {**common, "num_generations": args.num_generations, "beta": args.beta}


def run(args):
    from kerasalign.data.readers import load_prompts
    from kerasalign.trainers.rewards import keyword_reward
    from kerasalign.trainers.rlhf_run import run_rlhf

    _check_args(args)
    prompts, report = load_prompts(
        args.data, format=args.format, errors=args.errors, return_report=True
    )
    if args.reward_model:
        from kerasalign.cli.quiet import silence_native_stderr
        from kerasalign.trainers.reward_model import RewardModel

        with silence_native_stderr():
            reward = RewardModel.from_directory(args.reward_model)
    else:
        reward = keyword_reward(args.reward_keyword)
    policy, base = _load_policy(args)
    summary = run_rlhf(
        policy,
        prompts,
        reward,
        algorithm=args.algorithm,
        epochs=args.epochs,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        lr_schedule=args.lr_schedule,
        warmup_ratio=args.warmup_ratio,
        output_dir=args.output,
        base=base,
        verbose=0 if args.json else "auto",
        seed=args.seed,
        **_trainer_arguments(args),
    )
    summary["data"] = report.to_dict()
    if args.reward_model:
        summary["reward"] = f"RewardModel({args.reward_model})"
    if not args.json:
        first, last = summary["first_step"], summary["last_step"]
        print(
            f"{args.algorithm.upper()}: {summary['rollout_batches']} rollout batches, "
            f"{summary['responses']} responses: score "
            f"{first['objective/scores']:.4f} -> {last['objective/scores']:.4f}, "
            f"KL {last['objective/kl']:.4f}, mean length "
            f"{last['completions/mean_length']:.1f}"
        )
        print(f"wrote {', '.join(summary['files'])} to {args.output}")
    return summary
