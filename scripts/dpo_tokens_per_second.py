"""Tokens per second of a DPO training step (and of the reference pass).

Builds preference batches of full-length synthetic sequences (half prompt,
half response, no padding), precomputes the reference log-probs, compiles
the train step with one warm-up epoch, then times `fit` over several steps.
A step processes `2 x batch x length` tokens (chosen and rejected).

    KERAS_BACKEND=jax python scripts/dpo_tokens_per_second.py --preset tiny_gemma
    KERAS_BACKEND=tensorflow python scripts/dpo_tokens_per_second.py \\
        --preset gemma3_270m_gguf --batch-size 2 --length 256 --steps 4

Prints one JSON object.
"""

import argparse
import json
import os
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import kerasalign  # noqa: E402
from kerasalign.trainers.dpo_trainer import DPOTrainer  # noqa: E402


def synthetic_pairs(vocabulary_size, pairs, length, seed=0):
    rng = np.random.default_rng(seed)
    x = {}
    prompt = rng.integers(10, vocabulary_size, size=(pairs, length // 2))
    for side in ("chosen", "rejected"):
        response = rng.integers(10, vocabulary_size, size=(pairs, length - length // 2))
        token_ids = np.concatenate([prompt, response], axis=1).astype("int32")
        token_ids[:, 0] = 2
        response_mask = np.zeros((pairs, length), dtype=bool)
        response_mask[:, length // 2 :] = True
        x[f"{side}_token_ids"] = token_ids
        x[f"{side}_padding_mask"] = np.ones((pairs, length), dtype=bool)
        x[f"{side}_response_mask"] = response_mask
    x["margin"] = np.zeros(pairs, dtype="float32")
    return x


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="tiny_gemma")
    parser.add_argument("--batch-size", type=int, default=8, help="pairs per step")
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--steps", type=int, default=8, help="timed steps")
    parser.add_argument("--lora-rank", type=int, default=8)
    parser.add_argument("--lora-targets", default="query_value")
    parser.add_argument("--chunk-size", type=int, default=None)
    parser.add_argument("--remat", action="store_true")
    parser.add_argument("--dtype", default=None)
    args = parser.parse_args()

    start = time.perf_counter()
    policy = kerasalign.load_causal_lm(
        args.preset,
        lora_rank=args.lora_rank,
        lora_targets=args.lora_targets,
        sequence_length=args.length,
        dtype=args.dtype,
    )
    load_seconds = time.perf_counter() - start
    pairs = args.batch_size * args.steps
    x = synthetic_pairs(policy.backbone.vocabulary_size, pairs, args.length)
    trainer = DPOTrainer(policy, chunk_size=args.chunk_size, remat=args.remat)
    trainer.compile(learning_rate=1e-5)
    tokens_per_step = 2 * args.batch_size * args.length

    start = time.perf_counter()
    x = trainer.precompute_reference_logprobs(x, batch_size=args.batch_size)
    reference_seconds = time.perf_counter() - start  # includes compiling the pass

    warm_up = {key: value[: args.batch_size] for key, value in x.items()}
    start = time.perf_counter()
    trainer.fit(warm_up, batch_size=args.batch_size, epochs=1, verbose=0, shuffle=False)
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    trainer.fit(x, batch_size=args.batch_size, epochs=1, verbose=0, shuffle=False)
    seconds = time.perf_counter() - start
    result = {
        "backend": keras.config.backend(),
        "preset": args.preset,
        "dtype": args.dtype or keras.config.floatx(),
        "lora": f"rank {args.lora_rank} on {args.lora_targets}",
        "pairs_per_step": args.batch_size,
        "sequence_length": args.length,
        "tokens_per_step": tokens_per_step,
        "timed_steps": args.steps,
        "step_seconds": seconds / args.steps,
        "tokens_per_second": tokens_per_step * args.steps / seconds,
        "reference_pass_tokens_per_second_with_compile": tokens_per_step * args.steps / reference_seconds,
        "first_step_seconds_with_compile": compile_seconds,
        "load_seconds": load_seconds,
        "load_average": os.getloadavg()[0],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
