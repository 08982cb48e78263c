"""Fine-tune on your own JSONL file, after checking and cleaning it.

Each line is one example in any format kerasalign reads (prompt/response,
Alpaca instruction/input/output, chat `messages`, ShareGPT). The script checks
the file, removes duplicates and near-duplicates, removes anything that
overlaps the built-in evaluation prompts, and fine-tunes with LoRA.

    python examples/own_jsonl.py my_data.jsonl --preset gemma3_270m_gguf --output runs/mine
    python examples/own_jsonl.py --test-mode
"""

import argparse
import json
import os
import tempfile

os.environ.setdefault("KERAS_BACKEND", "jax")

import kerasalign  # noqa: E402
from kerasalign.data import quality  # noqa: E402
from kerasalign.trainers.sft_run import run_sft  # noqa: E402

SAMPLE = [
    {"instruction": "Name a colour of the sky.", "input": "", "output": "Blue."},
    {"instruction": "Name a colour of the sky.", "input": "", "output": "Blue."},
    {"instruction": "Summarize the text.", "input": "Cats sleep a lot. They nap in sunny spots.", "output": "Cats sleep often, in the sun."},
    {"instruction": "What is 6 times 7?", "input": "", "output": "6 times 7 is 42."},
    {"instruction": "Give a synonym for happy.", "input": "", "output": "Joyful."},
]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?")
    parser.add_argument("--preset", default="gemma3_270m_gguf")
    parser.add_argument("--output", default="runs/own_jsonl")
    parser.add_argument("--test-mode", action="store_true")
    args = parser.parse_args()
    if args.test_mode or args.data is None:
        args.preset = "tiny_gemma" if args.test_mode else args.preset
        args.data = os.path.join(tempfile.mkdtemp(), "sample.jsonl")
        with open(args.data, "w") as file:
            file.write("\n".join(json.dumps(row) for row in SAMPLE) + "\n")

    examples, report = kerasalign.data.load_sft(args.data, errors="skip", return_report=True)
    print(f"{args.data}: format {report.format}, {report.count} examples, {report.skipped} skipped")
    examples, removed = quality.deduplicate(examples)
    print(removed.summary())
    examples, near = quality.near_duplicates(examples, threshold=0.8)
    print(near.summary())
    held_out = [p.prompt for p in kerasalign.datasets.load("eval_harmful") + kerasalign.datasets.load("eval_benign")]
    examples, contaminated = quality.filter_contamination(examples, held_out)
    print(contaminated.summary())

    model = kerasalign.load_causal_lm(args.preset, lora_rank=8, sequence_length=256)
    summary = run_sft(model, examples, template="gemma", epochs=1, batch_size=2, output_dir=args.output)
    print(f"trained on {summary['examples']} examples; wrote {args.output}")


if __name__ == "__main__":
    main()
