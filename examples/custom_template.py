"""A custom prompt template with few-shot examples, used for SFT and generation.

    python examples/custom_template.py --preset gemma3_270m_gguf
    python examples/custom_template.py --test-mode
"""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import kerasalign  # noqa: E402
from kerasalign.models.generation import generate  # noqa: E402
from kerasalign.trainers.sft_run import run_sft  # noqa: E402

TEMPLATE = kerasalign.PromptTemplate(
    "The following examples show an expert scientist summarizing the key points of an "
    "article. Article: {{article}}\nSummary:",
    examples=[
        {
            "article": "Bees communicate the location of flowers with a waggle dance whose angle "
            "points toward the food relative to the sun.",
            "response": " Bees dance to tell each other where food is.",
        }
    ],
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="gemma3_270m_gguf")
    parser.add_argument("--output", default="runs/custom_template")
    parser.add_argument("--test-mode", action="store_true")
    args = parser.parse_args()
    if args.test_mode:
        args.preset = "tiny_gemma"

    print(TEMPLATE.format(article="Rain forms when water vapour condenses around dust."))
    articles = [
        e for e in kerasalign.datasets.load("instructions") if e.template == "summarize_article"
    ]
    if args.test_mode:
        articles = articles[:4]
    model = kerasalign.load_causal_lm(args.preset, lora_rank=8, sequence_length=384)
    run_sft(model, articles, template=TEMPLATE, epochs=1, batch_size=2, output_dir=args.output)
    article = {"article": "Octopuses have three hearts and blue blood rich in copper."}
    prompt = TEMPLATE.format(**article)
    print(generate(model, [prompt], max_new_tokens=32)[0])


if __name__ == "__main__":
    main()
