"""`run_dpo`: the whole preference-tuning job used by `kerasalign dpo`.

Preprocess the pairs, precompute the reference log-probs (one pass, timed
apart from training), train with `DPOTrainer.fit` (progress bar, validation,
early stopping, NaN guard), then write the adapter (or the full model), the
metrics history and the curves (loss, reward margins and accuracies) into an
output directory, atomically.

Examples:

>>> import kerasalign, tempfile
>>> policy = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
>>> pairs = [{"prompt": "Hi", "chosen": "Hello!", "rejected": "Go away."}] * 4
>>> summary = run_dpo(policy, pairs, epochs=1, batch_size=2,
...                   output_dir=tempfile.mkdtemp() + "/dpo", verbose=0)
>>> sorted(summary["files"])
['adapter', 'curves.png', 'metrics.json']
"""

import time

import keras

from kerasalign.data.preference_preprocessor import PreferencePreprocessor
from kerasalign.models import lora
from kerasalign.trainers.compile_defaults import adamw_for_run
from kerasalign.trainers.dpo_trainer import DPOTrainer, memory_saving_logprobs
from kerasalign.trainers.training_run import (
    fit_with_guards,
    save_model_weights,
    train_and_validation,
    write_run_outputs,
)

CURVES = ["loss", "rewards/margins", "rewards/accuracies", "learning_rate"]


def run_dpo(
    policy,
    examples,
    *,
    reference=None,
    loss="sigmoid",
    beta=None,
    label_smoothing=None,
    gamma=None,
    rpo_alpha=0.0,
    reference_lora="off",
    template="gemma",
    eval_examples=None,
    validation_split=None,
    epochs=1,
    batch_size=4,
    sequence_length=None,
    learning_rate=5e-5,
    early_stopping_patience=None,
    output_dir=None,
    callbacks=None,
    verbose="auto",
    seed=0,
    bucket_multiple=None,
    gradient_accumulation_steps=None,
    lr_schedule="constant",
    warmup_ratio=0.0,
):
    """Preference-tune `policy` on pairs and optionally write the outputs.

    Args:
        policy: `keras_hub.models.CausalLM` (LoRA enabled or not).
        examples: list of `PreferenceExample` or dicts.
        reference: `keras_hub.models.CausalLM`. A separate reference
            model. Defaults to `None` (precomputed; see `DPOTrainer`).
        loss, beta, label_smoothing, gamma, rpo_alpha, reference_lora: see
            `DPOTrainer`.
        template: str or template. Defaults to `"gemma"`.
        eval_examples: list. Validation pairs. Defaults to `None`.
        validation_split: float. Fraction of `examples` held out for
            validation when `eval_examples` is not given. Defaults to `None`.
        epochs: int. Defaults to `1`.
        batch_size: int. Pairs per step. Defaults to `4`.
        sequence_length: int. Defaults to the policy preprocessor's.
        learning_rate: float. Defaults to `5e-5`.
        early_stopping_patience: int. Defaults to `None`.
        output_dir: str or path. Where to write `adapter/` (or `model/`),
            `metrics.json` and `curves.png`. Defaults to `None`.
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
        A summary dict: final metrics, timing (`reference_seconds`,
        `train_seconds`, `tokens_per_second`), preprocessing report, files.
    """
    keras.utils.set_random_seed(seed)
    examples, eval_examples = train_and_validation(
        examples, eval_examples, validation_split, early_stopping_patience, seed
    )
    length = sequence_length or policy.preprocessor.sequence_length
    preprocessor = PreferencePreprocessor(policy.preprocessor.tokenizer, template, length)
    x = preprocessor.batch(examples)
    train_report = preprocessor.report
    validation_x = preprocessor.batch(eval_examples) if eval_examples else None
    trainer = DPOTrainer(
        policy,
        reference=reference,
        loss=loss,
        beta=beta,
        label_smoothing=label_smoothing,
        gamma=gamma,
        rpo_alpha=rpo_alpha,
        reference_lora=reference_lora,
        **memory_saving_logprobs(policy),
    )
    trainer.compile(
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
    start = time.perf_counter()
    if trainer.needs_reference_logprobs:
        x = trainer.precompute_reference_logprobs(x, batch_size, bucket_multiple)
        if validation_x is not None:
            validation_x = trainer.precompute_reference_logprobs(
                validation_x, batch_size, bucket_multiple
            )
    reference_seconds = time.perf_counter() - start
    history, seconds = fit_with_guards(
        trainer,
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
    final = history["epochs"][-1] if history["epochs"] else {}
    summary = {
        "pairs": train_report.kept,
        "validation_pairs": 0 if validation_x is None else len(validation_x["margin"]),
        "preprocessing": vars(train_report),
        "parameters": lora.parameter_counts(policy),
        "lora": lora.lora_state(policy),
        "epochs_run": len(history["epochs"]),
        "first_step": history["steps"][0] if history["steps"] else {},
        "final": final,
        "reference": (
            "model" if reference is not None else "none" if trainer.reference_free
            else f"precomputed (LoRA {reference_lora})"
        ),
        "reference_seconds": reference_seconds,
        "train_seconds": seconds,
        "tokens_per_second": tokens / seconds if seconds else None,
        "backend": keras.config.backend(),
        "config": {
            "loss": trainer.loss_name,
            "beta": trainer.beta,
            **({"label_smoothing": trainer.label_smoothing} if loss in ("sigmoid", "robust") else {}),
            **({"gamma": trainer.gamma} if loss == "simpo" else {}),
            **({"rpo_alpha": trainer.rpo_alpha} if trainer.rpo_alpha else {}),
            "template": getattr(preprocessor.template, "name", "custom"),
            "epochs": epochs,
            "batch_size": batch_size,
            "sequence_length": length,
            "learning_rate": learning_rate,
            "early_stopping_patience": early_stopping_patience,
            "gradient_accumulation_steps": gradient_accumulation_steps,
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
            {"curves.png": (f"DPO ({trainer.loss_name})", CURVES)},
        )
    return summary
