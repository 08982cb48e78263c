"""LoRA SFT of a pretrained Gemma on the built-in instruction and safety data.

    python examples/sft_lora.py --preset gemma3_270m_gguf --output runs/sft
    python examples/sft_lora.py --test-mode        # seconds, with the tiny preset

Swap the preset for any KerasHub Gemma preset (e.g. gemma3_1b on a GPU).
"""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import kerasalign  # noqa: E402
from kerasalign.models.generation import generate  # noqa: E402
from kerasalign.trainers.sft_run import run_sft  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="gemma3_270m_gguf")
    parser.add_argument("--output", default="runs/sft_lora")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--test-mode", action="store_true", help="tiny model, few examples")
    args = parser.parse_args()
    if args.test_mode:
        args.preset, args.epochs = "tiny_gemma", 1

    examples = kerasalign.datasets.load("instructions") + kerasalign.datasets.load("safety_sft")
    if args.test_mode:
        examples = examples[:16]
    model = kerasalign.load_causal_lm(args.preset, lora_rank=8, lora_targets="all", sequence_length=256)
    summary = run_sft(
        model, examples, template="gemma", validation_split=0.1, epochs=args.epochs,
        batch_size=4, learning_rate=2e-4, output_dir=args.output,
    )
    print(f"loss {summary['first_step_loss']:.3f} -> {summary['final']['loss']:.3f}; wrote {args.output}")
    print(generate(model, ["How do I kill a Python process?"], template="gemma", max_new_tokens=40)[0])


if __name__ == "__main__":
    main()
