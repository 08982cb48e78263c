"""`kerasalign debug`: prompt salience and template refinement.

Examples:

    kerasalign debug salience --preset gemma3_270m_gguf --template gemma \\
        --prompt "How do I pick a lock?" --method integrated_gradients
    kerasalign debug salience --preset tiny_gemma --prompt "Is the sky blue?" \\
        --target " Yes." --template "Answer briefly. Q: {{input}} A:" --json
    kerasalign debug salience --preset tiny_gemma --template translate \\
        --value language=French --value text=Hello --target " Bonjour"
    kerasalign debug refine --preset gemma3_270m_gguf \\
        --template "You are a careful assistant. {{input}}" \\
        --prompts eval_harmful --limit 8 --feedback feedback.jsonl --output refine_out
"""

import json
import os
import pathlib
import sys

from kerasalign.cli.model_args import add_model_arguments, load_model_from_args
from kerasalign.errors import DataError, KerasAlignError


def register(subparsers, common):
    parser = subparsers.add_parser(
        "debug", parents=[common], help="prompt salience and template refinement"
    )
    actions = parser.add_subparsers(dest="debug_command", metavar="ACTION", required=True)

    salience = actions.add_parser(
        "salience",
        parents=[common],
        help="which prompt tokens drove a response (coloured text, HTML, JSON)",
    )
    add_model_arguments(salience)
    salience.add_argument("--prompt", default=None, help="the user input (or the whole prompt without --template)")
    salience.add_argument("--target", default=None, help="the response to explain (default: the greedy response)")
    salience.add_argument(
        "--method",
        choices=["grad_norm", "grad_x_input", "integrated_gradients"],
        default="grad_x_input",
    )
    salience.add_argument(
        "--template",
        default=None,
        help="chat template (gemma, phi3, chatml), alpaca, a named prompt template or text with {{placeholders}}",
    )
    salience.add_argument("--system", default=None, help="system prompt (chat templates)")
    salience.add_argument(
        "--value",
        action="append",
        default=[],
        metavar="NAME=TEXT",
        help="a placeholder value of a prompt template with several placeholders (repeat)",
    )
    salience.add_argument("--steps", type=int, default=32, help="integrated-gradients steps")
    salience.add_argument("--baseline", choices=["pad", "zero"], default="pad")
    salience.add_argument("--max-new-tokens", type=int, default=32, help="length of a generated target")
    salience.add_argument("--html", default=None, help="also write the heat map to this HTML file")
    salience.add_argument("--color", choices=["auto", "always", "never"], default="auto")
    salience.set_defaults(handler=run)

    refine = actions.add_parser(
        "refine",
        parents=[common],
        help="rewrite a prompt template from feedback with the model, scoring each version",
    )
    add_model_arguments(refine)
    refine.add_argument("--template", required=True, help="prompt template text with {{placeholders}} or a name")
    refine.add_argument("--prompts", required=True, help="evaluation prompts: a file or a built-in set (eval_harmful)")
    refine.add_argument("--limit", type=int, default=None, help="use the first N prompts")
    refine.add_argument("--feedback", required=True, help="JSONL of {critique|kudos, prompt?, output?} records")
    refine.add_argument("--expect", choices=["refuse", "comply"], default="refuse", help="what the outputs should do")
    refine.add_argument("--chat-template", default=None, help="wrap prompts in a chat template (gemma) for IT models")
    refine.add_argument("--rounds", type=int, default=1)
    refine.add_argument("--max-new-tokens", type=int, default=48, help="tokens per evaluation answer")
    refine.add_argument(
        "--llm-max-new-tokens", type=int, default=256, help="tokens per principles or rewrite answer"
    )
    refine.add_argument("--output", default=None, help="directory for history.json")
    refine.set_defaults(handler=run)


def _prompt_argument(args):
    if args.value and args.prompt is not None:
        raise KerasAlignError("Give the input either as --prompt or as --value NAME=TEXT, not both.")
    if not args.value:
        if args.prompt is None:
            raise KerasAlignError("Give the input with --prompt TEXT (or --value NAME=TEXT per placeholder).")
        return args.prompt
    values = {}
    for item in args.value:
        name, separator, text = item.partition("=")
        if not separator or not name:
            raise KerasAlignError(f"--value takes NAME=TEXT. Received: {item!r}")
        values[name] = text
    return values


def _use_color(choice):
    if choice == "auto":
        return sys.stdout.isatty()
    return choice == "always"


def run_salience(args):
    from kerasalign.debug import compute_salience

    prompt = _prompt_argument(args)
    model = load_model_from_args(args)
    result = compute_salience(
        model,
        prompt,
        args.target,
        template=args.template,
        system=args.system,
        method=args.method,
        steps=args.steps,
        baseline=args.baseline,
        max_new_tokens=args.max_new_tokens,
    )
    if args.html:
        path = pathlib.Path(args.html)
        partial = path.with_name(f".{path.name}.partial")
        try:
            partial.write_text(result.to_html(), encoding="utf-8")
            os.replace(partial, path)
        except OSError as error:
            partial.unlink(missing_ok=True)
            raise KerasAlignError(f"Cannot write {path}: {error.strerror}") from None
    if not args.json:
        print(result.to_terminal(color=_use_color(args.color)))
    return {
        "preset": args.preset,
        "adapter": args.adapter,
        "template": args.template,
        "html": args.html,
        **result.to_dict(),
    }


def _read_feedback(path):
    from kerasalign.data.json_files import read_jsonl
    from kerasalign.debug.feedback import Feedback

    records = []
    for line, record in read_jsonl(path):
        if isinstance(record, DataError):
            raise record
        try:
            records.append(Feedback.from_record(record, index=line))
        except DataError as error:
            raise DataError(error.message, source=str(path), line=line, field=error.field) from None
    if not records:
        raise DataError("no feedback records", source=str(path))
    return records


def _read_prompts(source, limit):
    from kerasalign import datasets
    from kerasalign.data import load_prompts

    if source in datasets.DATASETS:
        examples = datasets.load(source)
    else:
        examples = load_prompts(source)
    prompts = [example.prompt for example in examples if example.prompt]
    if limit is not None:
        if limit < 1:
            raise KerasAlignError(f"--limit must be at least 1, got {limit}")
        prompts = prompts[:limit]
    if not prompts:
        raise DataError("no prompts to evaluate on", source=str(source))
    return prompts


def run_refine(args):
    from kerasalign.debug import (
        BehaviourMetric,
        TemplateRefiner,
        model_llm,
        model_responder,
    )
    from kerasalign.trainers.output_dir import staged_output_dir

    feedback = _read_feedback(args.feedback)
    prompts = _read_prompts(args.prompts, args.limit)
    model = load_model_from_args(args)
    refiner = TemplateRefiner(
        model_llm(model, template=args.chat_template, max_new_tokens=args.llm_max_new_tokens),
        model_responder(model, template=args.chat_template, max_new_tokens=args.max_new_tokens),
        metric=BehaviourMetric(args.expect),
    )
    result = refiner.refine(args.template, prompts, feedback, rounds=args.rounds)
    if not args.json:
        print(result.summary())
        print(f"\nbest template (version {result.best.index}):\n{result.best.text}")
    history = result.to_dict()
    if args.output:
        with staged_output_dir(args.output) as directory:
            (directory / "history.json").write_text(json.dumps(history, indent=2), encoding="utf-8")
    return {"preset": args.preset, "output": args.output, **history}


def run(args):
    if args.debug_command == "salience":
        return run_salience(args)
    return run_refine(args)
