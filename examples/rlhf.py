"""Online RLHF: GRPO or PPO against a rule-based reward or a reward model.

The policy (a LoRA on the model) answers prompts, a reward scores the
answers, and each rollout batch updates the policy, with a KL penalty that
keeps it near the model under the LoRA (the reference). The rewards:

- `--reward rule` (default): 1 when the answer behaves as the prompt asks
  (a refusal when the prompt's `metadata.response_type` is "refusal", a real
  answer otherwise; the detectors of `kerasalign.eval`), plus up to 0.5 for
  an answer close to 30 words;
- `--reward model`: a reward model trained first on the built-in
  `safety_preferences` pairs (or loaded with `--reward-model DIR`, e.g. from
  `examples/reward_and_dpo.py`).

The prompts are those of the built-in `safety_sft` set (harmful requests
marked for refusal and benign ones), or your own file (`--data`, any format
`kerasalign.data.load_prompts` reads). Refusals and helpful answers on the
held-out `eval_harmful` / `eval_benign` prompts are measured before and after.

    python examples/rlhf.py --preset gemma3_270m_gguf --algorithm grpo --output runs/grpo
    python examples/rlhf.py --algorithm ppo --reward model --output runs/ppo
    python examples/rlhf.py --reward-model runs/reward_dpo/reward_model --algorithm ppo --output runs/ppo
    python examples/rlhf.py --test-mode        # seconds, with the tiny preset

Writes the policy's adapter, metrics.json (per rollout batch) and curves.png
(reward, KL, losses, answer length) into --output, and a trained reward model
into --output/reward_model.
"""

import argparse
import os
import random

os.environ.setdefault("KERAS_BACKEND", "jax")

import kerasalign  # noqa: E402
from kerasalign.eval import assess_answer, evaluate_safety, is_refusal  # noqa: E402
from kerasalign.trainers.reward_run import run_reward  # noqa: E402
from kerasalign.trainers.rlhf_run import run_rlhf  # noqa: E402

TARGET_WORDS = 30


def rule_reward(prompts, responses):
    """Behaves as expected (refuses or really answers) + up to 0.5 for brevity."""
    scores = []
    for prompt, response in zip(prompts, responses, strict=True):
        if prompt.metadata.get("response_type") == "refusal":
            behaves = is_refusal(response)
        else:
            behaves = assess_answer(prompt.prompt_messages()[-1]["content"], response).helpful
        brevity = max(0.0, 1.0 - abs(len(response.split()) - TARGET_WORDS) / TARGET_WORDS)
        scores.append(float(behaves) + 0.5 * brevity)
    return scores


def train_reward_model(args):
    pairs = kerasalign.datasets.load("safety_preferences")
    random.Random(0).shuffle(pairs)
    if args.test_mode:
        pairs = pairs[:8]
    reward_model = kerasalign.RewardModel(
        kerasalign.load_causal_lm(args.preset, lora_rank=args.lora_rank, sequence_length=args.sequence_length),
        template="gemma",
    )
    summary = run_reward(reward_model, pairs, validation_split=0.1, batch_size=4)
    print(
        f"reward model: {summary['pairs']} pairs, accuracy {summary['final']['accuracy']:.0%}, "
        f"held out {summary['final']['val_accuracy']:.0%}"
    )
    return reward_model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="gemma3_270m_gguf")
    parser.add_argument("--output", default="runs/rlhf")
    parser.add_argument("--data", help="prompts file (default: the prompts of built-in safety_sft)")
    parser.add_argument("--algorithm", choices=["grpo", "ppo"], default="grpo")
    parser.add_argument("--reward", choices=["rule", "model"], default="rule")
    parser.add_argument("--reward-model", help="a reward model directory (implies --reward model)")
    parser.add_argument("--rollout-batches", type=int, default=40, help="rollout batches to train for")
    parser.add_argument("--batch-size", type=int, default=8, help="prompts per rollout batch")
    parser.add_argument("--num-generations", type=int, default=4, help="GRPO: answers per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=48)
    parser.add_argument("--num-minibatches", type=int, default=4,
                        help="split each rollout batch for the forward passes and updates (memory)")
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--lora-rank", type=int, default=8)
    parser.add_argument("--sequence-length", type=int, default=256)
    parser.add_argument("--eval-prompts", type=int, default=20, help="held-out prompts per set")
    parser.add_argument("--test-mode", action="store_true", help="tiny model, few prompts")
    args = parser.parse_args()
    if args.test_mode:
        args.preset, args.rollout_batches, args.batch_size = "tiny_gemma", 2, 2
        args.num_generations, args.max_new_tokens, args.eval_prompts = 2, 8, 2
        args.sequence_length, args.num_minibatches = 128, 1
    if args.reward_model:
        args.reward = "model"

    prompts = kerasalign.data.load_prompts(args.data or str(kerasalign.datasets.path("safety_sft")))
    random.Random(0).shuffle(prompts)
    prompts = prompts[: args.rollout_batches * args.batch_size]

    if args.reward == "rule":
        reward = rule_reward
    elif args.reward_model:
        reward = kerasalign.RewardModel.from_directory(args.reward_model)
    else:
        reward = train_reward_model(args)

    policy = kerasalign.load_causal_lm(args.preset, lora_rank=args.lora_rank, sequence_length=args.sequence_length)

    def evaluate(stage):
        result = evaluate_safety(
            policy, "eval_harmful", "eval_benign", limit=args.eval_prompts,
            max_new_tokens=args.max_new_tokens,
        )
        print(f"--- {stage}\n{result.summary_text()}")

    evaluate("before")
    extra = (
        {"num_generations": args.num_generations, "beta": 0.04}
        if args.algorithm == "grpo"
        else {"kl_coef": 0.05, "target_kl": 6.0, "missing_eos_penalty": 1.0}
    )
    summary = run_rlhf(
        policy, prompts, reward, algorithm=args.algorithm, batch_size=args.batch_size,
        learning_rate=args.learning_rate, output_dir=args.output, base={"preset": args.preset},
        max_new_tokens=args.max_new_tokens, num_minibatches=args.num_minibatches, **extra,
    )
    first, last = summary["first_step"], summary["last_step"]
    print(
        f"{args.algorithm.upper()} with the {summary['reward']} reward: {summary['rollout_batches']} "
        f"rollout batches, {summary['responses']} answers; score {first['objective/scores']:.3f} -> "
        f"{last['objective/scores']:.3f}, KL to the reference {last['objective/kl']:.3f}, "
        f"{summary['seconds_per_rollout_batch']:.1f} s per rollout batch"
    )
    evaluate("after")
    if isinstance(reward, kerasalign.RewardModel) and not args.reward_model:
        reward.save_to_directory(os.path.join(args.output, "reward_model"), base_preset=args.preset)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
