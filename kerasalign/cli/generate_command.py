"""`kerasalign generate`: complete a prompt with a model (and adapter)."""

from kerasalign.cli.model_args import add_model_arguments, load_model_from_args


def register(subparsers, common):
    parser = subparsers.add_parser(
        "generate", parents=[common], help="generate a completion for a prompt"
    )
    add_model_arguments(parser)
    parser.add_argument(
        "--template",
        default=None,
        help="chat/prompt template (gemma, alpaca, phi3, chatml); none: the prompt as is",
    )
    parser.add_argument("--prompt", required=True, action="append", help="repeat for several prompts")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--sampler", choices=["greedy", "top_k", "top_p"], default="greedy")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-k", type=int, default=50)
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=None)
    parser.set_defaults(handler=run)


def run(args):
    from kerasalign.models.generation import generate

    model = load_model_from_args(args)
    completions = generate(
        model,
        args.prompt,
        template=args.template,
        max_new_tokens=args.max_new_tokens,
        sampler=args.sampler,
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        seed=args.seed,
    )
    for prompt, completion in zip(args.prompt, completions, strict=True):
        if not args.json:
            print(f">>> {prompt}\n{completion}\n")
    return {
        "preset": args.preset,
        "adapter": args.adapter,
        "template": args.template,
        "sampler": args.sampler,
        "completions": [
            {"prompt": prompt, "completion": completion}
            for prompt, completion in zip(args.prompt, completions, strict=True)
        ],
    }
