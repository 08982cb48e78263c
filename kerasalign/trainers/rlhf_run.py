"""`run_rlhf`: the whole online RLHF job used by `kerasalign rlhf`.

Build a `PPOTrainer` or `GRPOTrainer`, train it on a prompt set with a
progress bar over rollout batches and a metrics recorder, then write the
policy's LoRA adapter, `metrics.json` (per rollout batch and per epoch) and
`curves.png` (reward, KL, losses, response length) into an output
directory, atomically. A loss that becomes NaN or infinite stops training
with an error and nothing is written.

Examples:

>>> import kerasalign, tempfile
>>> policy = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
>>> summary = run_rlhf(policy, ["Hi", "Name a colour."],
...                    kerasalign.trainers.keyword_reward("the"), algorithm="grpo",
...                    batch_size=2, num_generations=2, max_new_tokens=4,
...                    output_dir=tempfile.mkdtemp() + "/rlhf", verbose=0)
>>> sorted(summary["files"]), summary["rollout_batches"]
(['adapter', 'curves.png', 'metrics.json'], 1)
"""

import time

import keras

from kerasalign.errors import KerasAlignError
from kerasalign.models import lora
from kerasalign.trainers.argument_checks import check_integer
from kerasalign.trainers.compile_defaults import adamw_for_run
from kerasalign.trainers.grpo_trainer import GRPOTrainer
from kerasalign.trainers.metrics_recorder import MetricsRecorder
from kerasalign.trainers.online_trainer import check_prompts
from kerasalign.trainers.ppo_trainer import PPOTrainer
from kerasalign.trainers.rewards import reward_name
from kerasalign.trainers.training_run import save_model_weights, write_run_outputs

ALGORITHMS = {"ppo": PPOTrainer, "grpo": GRPOTrainer}
CURVES = {
    "ppo": [
        "objective/scores",
        "objective/kl",
        "objective/rlhf_reward",
        "loss/policy_avg",
        "loss/value_avg",
        "completions/mean_length",
        "learning_rate",
    ],
    "grpo": [
        "objective/scores",
        "objective/kl",
        "objective/rlhf_reward",
        "loss/policy_avg",
        "completions/mean_length",
        "learning_rate",
    ],
}


def run_rlhf(
    policy,
    prompts,
    reward,
    *,
    algorithm="ppo",
    epochs=1,
    batch_size=8,
    learning_rate=5e-5,
    lr_schedule="constant",
    warmup_ratio=0.0,
    output_dir=None,
    base=None,
    callbacks=None,
    verbose="auto",
    seed=0,
    **trainer_kwargs,
):
    """Optimise `policy` against `reward` on `prompts` and optionally write it.

    Args:
        policy: `keras_hub.models.CausalLM` with LoRA enabled. Trained in
            place.
        prompts: list of prompts (strings, chat message lists or
            `PromptExample`s).
        reward: a `kerasalign.RewardModel` or a callable
            `(prompts, responses) -> scores`.
        algorithm: str. `"ppo"` or `"grpo"`. Defaults to `"ppo"`.
        epochs: int. Passes over the prompts. Defaults to 1.
        batch_size: int. Prompts per rollout batch. Defaults to 8.
        learning_rate: float. AdamW learning rate. Defaults to `5e-5`.
        lr_schedule: str. `"constant"`, `"linear"` or `"cosine"`: the
            learning rate after the warmup, over every optimizer update of
            the run (each rollout batch makes `optimization_epochs *
            num_minibatches` of them); linear and cosine decay to zero at
            the last one (see `learning_rate_schedules`). Defaults to
            `"constant"`.
        warmup_ratio: float. Fraction of the updates that warm the rate up
            linearly. Defaults to `0.0`.
        output_dir: str or path. Where to write `adapter/`, `metrics.json`
            and `curves.png`. Defaults to `None` (write nothing).
        base: dict or `None`. How the model under the adapter was made
            (preset, merged adapters), stored in `metrics.json`. Defaults
            to `None`.
        callbacks: list of Keras callbacks. Defaults to `None`.
        verbose: `"auto"`, 0 or 1. Defaults to `"auto"` (a progress bar).
        seed: int. Seed of the prompt order, the sampler and Keras.
            Defaults to 0.
        **trainer_kwargs: passed to `PPOTrainer` or `GRPOTrainer`.

    Returns:
        A summary dict: first and last rollout metrics, per-epoch means,
        timing, configuration and the files written.

    Raises:
        KerasAlignError: bad arguments, a reward returning bad scores, or a
            diverged loss (nothing is written).
    """
    if algorithm not in ALGORITHMS:
        raise KerasAlignError(
            f"algorithm must be one of {list(ALGORITHMS)}. Received: algorithm={algorithm!r}"
        )
    keras.utils.set_random_seed(seed)
    trainer = ALGORITHMS[algorithm](policy, reward, seed=seed, **trainer_kwargs)
    prompts = check_prompts(prompts)
    updates_per_rollout_batch = trainer.optimization_epochs * trainer.num_minibatches
    trainer.compile(
        optimizer=adamw_for_run(
            learning_rate,
            lr_schedule,
            warmup_ratio,
            rows=len(prompts),
            batch_size=batch_size,
            epochs=check_integer("epochs", epochs) * updates_per_rollout_batch,
        )
    )
    recorder = MetricsRecorder()
    start = time.perf_counter()
    trainer.fit(
        prompts,
        epochs=epochs,
        batch_size=batch_size,
        callbacks=[recorder] + list(callbacks or []),
        verbose=verbose,
    )
    seconds = time.perf_counter() - start
    history = recorder.history()
    steps = history["steps"]
    responses = len(steps) * batch_size * trainer.SAMPLES_PER_PROMPT
    summary = {
        "algorithm": algorithm,
        "prompts": len(prompts),
        "reward": reward_name(reward),
        "rollout_batches": len(steps),
        "responses": responses,
        "first_step": steps[0] if steps else {},
        "last_step": steps[-1] if steps else {},
        "final": history["epochs"][-1] if history["epochs"] else {},
        "truncated_prompts": trainer.truncated_prompts,
        "parameters": lora.parameter_counts(policy),
        "lora": lora.lora_state(policy),
        "train_seconds": seconds,
        "seconds_per_rollout_batch": seconds / len(steps) if steps else None,
        "backend": keras.config.backend(),
        "base": base,
        "config": {
            **trainer.get_config(),
            "algorithm": algorithm,
            "epochs": epochs,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "lr_schedule": lr_schedule,
            "warmup_ratio": warmup_ratio,
        },
        "files": [],
    }
    if output_dir is not None:
        write_run_outputs(
            output_dir,
            lambda staging: [save_model_weights(policy, staging)],
            history,
            summary,
            {"curves.png": (f"RLHF ({algorithm.upper()})", CURVES[algorithm])},
        )
    return summary
