"""Preference tuning: DPO on safety pairs, judged by a reward model trained on them.

Splits preference pairs (the built-in `safety_preferences`, or your own file
with prompt/chosen/rejected records) into training and held-out pairs, then:

1. DPO: trains a LoRA policy directly on the pairs (no reward model needed)
   and reports its implicit reward margins and how often it prefers the
   chosen answer, on training and held-out pairs;
2. a reward model: a scalar head on a LoRA Gemma, trained on the same pairs,
   and how often it ranks held-out pairs correctly;
3. a win rate: the reward model judges the DPO policy's answers against the
   starting model's on held-out evaluation prompts (`--win-rate-prompts 0`
   skips it).

    python examples/reward_and_dpo.py --preset gemma3_270m_gguf --output runs/reward_dpo
    python examples/reward_and_dpo.py my_pairs.jsonl --output runs/mine
    python examples/reward_and_dpo.py --test-mode        # seconds, with the tiny preset

Writes the DPO adapter, metrics.json and curves.png into --output, the reward
model into --output/reward_model (reload it with
kerasalign.RewardModel.from_directory) and the win rate into
--output/win_rate.json.
"""

import argparse
import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import kerasalign  # noqa: E402
from kerasalign.data import quality  # noqa: E402
from kerasalign.eval.win_rate import win_rate  # noqa: E402
from kerasalign.models.generation import generate  # noqa: E402
from kerasalign.trainers.dpo_run import run_dpo  # noqa: E402
from kerasalign.trainers.reward_run import run_reward  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", help="preference pairs (default: built-in safety_preferences)")
    parser.add_argument("--preset", default="gemma3_270m_gguf")
    parser.add_argument("--output", default="runs/reward_and_dpo")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--sequence-length", type=int, default=256)
    parser.add_argument("--lora-rank", type=int, default=8)
    parser.add_argument("--loss", default="sigmoid", help="DPO loss: sigmoid, ipo, hinge, robust, simpo, orpo")
    parser.add_argument("--beta", type=float, default=None, help="DPO beta (default: the loss's own)")
    parser.add_argument("--win-rate-prompts", type=int, default=10,
                        help="held-out prompts per set (harmful, benign) for the win rate; 0 skips it")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--test-mode", action="store_true", help="tiny model, few pairs")
    args = parser.parse_args()
    if args.test_mode:
        args.preset, args.epochs, args.sequence_length = "tiny_gemma", 1, 128
        args.win_rate_prompts, args.max_new_tokens = min(args.win_rate_prompts, 2), 8

    if args.data:
        pairs, report = kerasalign.data.load_preferences(args.data, errors="skip", return_report=True)
        print(f"{args.data}: {report.count} pairs, {report.skipped} skipped")
    else:
        pairs = kerasalign.datasets.load("safety_preferences")
    # Held-out pairs, split by policy so that every kind of harm is in both.
    (train, held_out), _ = quality.split(pairs, fractions=(0.9, 0.1), seed=0)
    if args.test_mode:
        train, held_out = train[:16], held_out[:4]
    print(f"{len(train)} training pairs, {len(held_out)} held out")

    # 1. DPO. The reference is the policy with its LoRA switched off (no second copy).
    policy = kerasalign.load_causal_lm(
        args.preset, lora_rank=args.lora_rank, sequence_length=args.sequence_length
    )
    prompts = []
    if args.win_rate_prompts:
        limit = args.win_rate_prompts
        prompts = [
            p.prompt
            for p in kerasalign.eval.load_prompt_set("eval_harmful", limit=limit)
            + kerasalign.eval.load_prompt_set("eval_benign", limit=limit)
        ]
        # A fresh LoRA changes nothing yet: these are the starting model's answers.
        before = generate(policy, prompts, template="gemma", max_new_tokens=args.max_new_tokens)
    dpo = run_dpo(
        policy, train, eval_examples=held_out, loss=args.loss, beta=args.beta,
        epochs=args.epochs, batch_size=args.batch_size, output_dir=args.output,
    )
    final = dpo["final"]
    print(
        f"DPO ({dpo['config']['loss']}, beta {dpo['config']['beta']}): loss "
        f"{dpo['first_step']['loss']:.3f} -> {final['loss']:.3f}; reward margin "
        f"{final['rewards/margins']:.3f} (held out {final['val_rewards/margins']:.3f}), "
        f"prefers chosen {final['rewards/accuracies']:.0%} (held out "
        f"{final['val_rewards/accuracies']:.0%})"
    )

    # 2. A reward model on the same pairs: an explicit, reusable judge.
    reward_model = kerasalign.RewardModel(
        kerasalign.load_causal_lm(args.preset, lora_rank=args.lora_rank, sequence_length=args.sequence_length),
        template="gemma",
    )
    reward = run_reward(
        reward_model, train, eval_examples=held_out, epochs=args.epochs,
        batch_size=args.batch_size, output_dir=os.path.join(args.output, "reward_model"),
        base_preset=args.preset,
    )
    final = reward["final"]
    print(
        f"reward model: ranks {final['accuracy']:.0%} of training pairs and "
        f"{final['val_accuracy']:.0%} of held-out pairs correctly (held-out margin "
        f"{final['val_margin']:.3f})"
    )

    # 3. Win rate of the DPO policy over the starting model, judged by the reward model.
    if prompts:
        after = generate(policy, prompts, template="gemma", max_new_tokens=args.max_new_tokens)
        result = win_rate(prompts, after, before, reward_model, names=("dpo", "base"))
        print(result.summary_text())
        with open(os.path.join(args.output, "win_rate.json"), "w") as file:
            json.dump(result.to_dict(), file, indent=2)
        print(f">>> {prompts[0]}\nbase: {before[0]!r}\ndpo:  {after[0]!r}")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
