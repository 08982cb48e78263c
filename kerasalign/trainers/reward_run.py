"""`run_reward`: the whole reward-model job used by `kerasalign reward`.

Preprocess the pairs, train a `RewardModel` in place with `fit` (progress bar,
validation, early stopping, NaN guard), then write the reward model
(`reward_model.json`, `reward_head.npz` and `adapter/` or `model/`, loadable
with `RewardModel.from_directory`), the metrics history and the curves
(loss, accuracy, margin) into an output directory, atomically.

Examples:

>>> import kerasalign, tempfile
>>> reward_model = RewardModel(kerasalign.load_causal_lm("tiny_gemma", lora_rank=4))
>>> pairs = [{"prompt": "Hi", "chosen": "Hello!", "rejected": "Go away."}] * 4
>>> summary = run_reward(reward_model, pairs, epochs=1, batch_size=2,
...                      output_dir=tempfile.mkdtemp() + "/rm", verbose=0)
>>> sorted(summary["files"])
['adapter', 'curves.png', 'metrics.json', 'reward_head.npz', 'reward_model.json']
"""

import keras

from kerasalign.models import lora
from kerasalign.trainers.compile_defaults import adamw_for_run
from kerasalign.trainers.reward_model import RewardModel  # noqa: F401 (doctest)
from kerasalign.trainers.training_run import (
    fit_with_guards,
    train_and_validation,
    write_run_outputs,
)

CURVES = ["loss", "accuracy", "margin", "learning_rate"]


def run_reward(
    reward_model,
    examples,
    *,
    eval_examples=None,
    validation_split=None,
    epochs=1,
    batch_size=4,
    learning_rate=1e-4,
    early_stopping_patience=None,
    output_dir=None,
    base_preset=None,
    callbacks=None,
    verbose="auto",
    seed=0,
    bucket_multiple=None,
    gradient_accumulation_steps=None,
    lr_schedule="constant",
    warmup_ratio=0.0,
):
    """Train a reward model on preference pairs and optionally write it.

    Args:
        reward_model: `RewardModel`. Trained in place; its template and
            sequence length decide the preprocessing.
        examples: list of `PreferenceExample` or dicts.
        eval_examples: list. Validation pairs. Defaults to `None`.
        validation_split: float. Defaults to `None`.
        epochs: int. Defaults to `1`.
        batch_size: int. Pairs per step. Defaults to `4`.
        learning_rate: float. Defaults to `1e-4`.
        early_stopping_patience: int. Defaults to `None`.
        output_dir: str or path. Defaults to `None` (write nothing).
        base_preset: str. Stored so the saved adapter can be reloaded by
            `RewardModel.from_directory` alone. Defaults to `None`.
        callbacks: list of Keras callbacks. Defaults to `None`.
        verbose: Keras verbosity. Defaults to `"auto"`.
        seed: int. Shuffling seed. Defaults to `0`.
        bucket_multiple: int. Batch pairs of similar length, each batch
            trimmed to a multiple of this many tokens (see `LengthBuckets`).
            Defaults to `None` (every batch padded to the longest pair).
        gradient_accumulation_steps: int. Update the weights once every
            this many batches, with their averaged gradients: the memory of
            `batch_size` for the update of `batch_size` times this (see
            `adamw`). Defaults to `None` (an update every batch).
        lr_schedule: str. `"constant"`, `"linear"` or `"cosine"`: the
            learning rate after the warmup (linear and cosine decay to zero
            at the last update; see `learning_rate_schedules`). Defaults to
            `"constant"`.
        warmup_ratio: float. Fraction of the updates that warm the rate up
            linearly. Defaults to `0.0`.

    Returns:
        A summary dict: final metrics, timing, preprocessing report, files.
    """
    keras.utils.set_random_seed(seed)
    examples, eval_examples = train_and_validation(
        examples, eval_examples, validation_split, early_stopping_patience, seed
    )
    preprocessor = reward_model.preprocessor
    x = preprocessor.batch(examples)
    train_report = preprocessor.report
    validation_x = preprocessor.batch(eval_examples) if eval_examples else None
    reward_model.compile(
        optimizer=adamw_for_run(
            learning_rate,
            lr_schedule,
            warmup_ratio,
            rows=train_report.kept,
            batch_size=batch_size,
            epochs=epochs,
            gradient_accumulation_steps=gradient_accumulation_steps,
        )
    )
    history, seconds = fit_with_guards(
        reward_model,
        x,
        validation_data=validation_x,
        epochs=epochs,
        batch_size=batch_size,
        early_stopping_patience=early_stopping_patience,
        callbacks=callbacks,
        verbose=verbose,
        bucket_multiple=bucket_multiple,
        seed=seed,
    )
    real_tokens = int(x["chosen_padding_mask"].sum() + x["rejected_padding_mask"].sum())
    tokens = real_tokens * len(history["epochs"])
    summary = {
        "pairs": train_report.kept,
        "validation_pairs": 0 if validation_x is None else len(validation_x["margin"]),
        "preprocessing": vars(train_report),
        "parameters": lora.parameter_counts(reward_model),
        "lora": lora.lora_state(reward_model.causal_lm),
        "epochs_run": len(history["epochs"]),
        "first_step": history["steps"][0] if history["steps"] else {},
        "final": history["epochs"][-1] if history["epochs"] else {},
        "train_seconds": seconds,
        "tokens_per_second": tokens / seconds if seconds else None,
        "backend": keras.config.backend(),
        "config": {
            "template": reward_model.template,
            "epochs": epochs,
            "batch_size": batch_size,
            "sequence_length": reward_model.sequence_length,
            "learning_rate": learning_rate,
            "center_rewards_coefficient": reward_model.center_rewards_coefficient,
            "early_stopping_patience": early_stopping_patience,
            "gradient_accumulation_steps": gradient_accumulation_steps,
            "lr_schedule": lr_schedule,
            "warmup_ratio": warmup_ratio,
            "base_preset": base_preset,
        },
        "files": [],
    }
    if output_dir is not None:
        write_run_outputs(
            output_dir,
            lambda staging: reward_model.write_files(staging, base_preset),
            history,
            summary,
            {"curves.png": ("Reward model", CURVES)},
        )
    return summary
