"""`run_sft`: the whole SFT job used by `kerasalign sft` and `kerasalign align`.

Preprocess, train with `SFTTrainer.fit` (progress bar, validation, early
stopping, NaN guard), then write the adapter (or the full model), the metrics
history and a plot of the curves into an output directory, atomically.

Examples:

>>> import kerasalign, tempfile
>>> model = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
>>> examples = [{"prompt": "Hi", "response": "Hello!"}] * 4
>>> summary = run_sft(model, examples, template="gemma", epochs=1, batch_size=2,
...                   output_dir=tempfile.mkdtemp() + "/sft", verbose=0)
>>> sorted(summary["files"])
['adapter', 'loss.png', 'metrics.json']
"""

import keras

from kerasalign.data.packing import pack_sft_rows
from kerasalign.data.sft_preprocessor import SFTPreprocessor, loss_positions
from kerasalign.models import lora
from kerasalign.trainers.compile_defaults import adamw_for_run
from kerasalign.trainers.sft_trainer import SFTTrainer
from kerasalign.trainers.training_run import (  # noqa: F401 (re-exported)
    NaNGuard,
    fit_with_guards,
    save_model_weights,
    split_validation,
    train_and_validation,
    write_run_outputs,
)


def run_sft(
    model,
    examples,
    *,
    template="gemma",
    eval_examples=None,
    validation_split=None,
    epochs=3,
    batch_size=4,
    sequence_length=None,
    learning_rate=2e-4,
    early_stopping_patience=None,
    output_dir=None,
    callbacks=None,
    verbose="auto",
    seed=0,
    bucket_multiple=None,
    gradient_accumulation_steps=None,
    lr_schedule="constant",
    warmup_ratio=0.0,
    chunk_size=None,
    remat=False,
    pack=False,
):
    """Fine-tune `model` on `examples` and optionally write the outputs.

    Args:
        model: `keras_hub.models.CausalLM` (LoRA enabled or not).
        examples: list of `SFTExample` or dicts.
        template: str or template. Defaults to `"gemma"`.
        eval_examples: list. Validation examples. Defaults to `None`.
        validation_split: float. Fraction of `examples` held out for
            validation when `eval_examples` is not given. Defaults to `None`.
        epochs: int. Defaults to `3`.
        batch_size: int. Defaults to `4`.
        sequence_length: int. Defaults to the model preprocessor's.
        learning_rate: float. Defaults to `2e-4`.
        early_stopping_patience: int. Stop after this many epochs without a
            lower validation loss and restore the best weights.
            Defaults to `None` (no early stopping).
        output_dir: str or path. Where to write `adapter/` (or `model/`),
            `metrics.json` and `loss.png`. Defaults to `None` (write nothing).
        callbacks: list of Keras callbacks. Defaults to `None`.
        verbose: Keras verbosity. Defaults to `"auto"` (a progress bar).
        seed: int. Shuffling seed. Defaults to `0`.
        bucket_multiple: int. Batch rows of similar length, each batch
            trimmed to a multiple of this many tokens (see `LengthBuckets`):
            much faster when lengths vary. Defaults to `None` (every batch
            padded to the longest example).
        chunk_size: int. Compute the loss from hidden states this many
            positions at a time, and only at response positions (see
            `SFTTrainer`): much less compute and memory with a large
            vocabulary. Defaults to `None` (full logits).
        remat: bool. With `chunk_size`, recompute each chunk's logits in the
            backward pass. Defaults to `False`.
        pack: bool. Pack the training examples end to end into rows of
            `sequence_length` (see `kerasalign.data.packing`: fewer, full
            rows; a token may attend to the examples packed before it).
            Validation examples are not packed. Defaults to `False`.
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
    length = sequence_length or model.preprocessor.sequence_length
    preprocessor = SFTPreprocessor(model.preprocessor.tokenizer, template, length)
    x, y, sample_weight = preprocessor.batch(examples)
    train_report = preprocessor.report
    packing = None
    if pack:
        (x, y, sample_weight), packing = pack_sft_rows(
            x, y, sample_weight, length, pad_token_id=model.preprocessor.tokenizer.pad_token_id
        )
    validation_data = None
    if eval_examples:
        validation_data = preprocessor.batch(eval_examples)
    if chunk_size is not None:
        x = {**x, "loss_positions": loss_positions(sample_weight)}
        if validation_data is not None:
            vx, vy, vw = validation_data
            validation_data = ({**vx, "loss_positions": loss_positions(vw)}, vy, vw)
    trainer = SFTTrainer(model, chunk_size=chunk_size, remat=remat)
    trainer.compile(
        optimizer=adamw_for_run(
            learning_rate,
            lr_schedule,
            warmup_ratio,
            rows=len(y),
            batch_size=batch_size,
            epochs=epochs,
            gradient_accumulation_steps=gradient_accumulation_steps,
        )
    )
    history, seconds = fit_with_guards(
        trainer,
        x,
        y,
        sample_weight=sample_weight,
        validation_data=validation_data,
        epochs=epochs,
        batch_size=batch_size,
        early_stopping_patience=early_stopping_patience,
        callbacks=callbacks,
        verbose=verbose,
        bucket_multiple=bucket_multiple,
        seed=seed,
    )
    tokens = int(x["padding_mask"].sum()) * len(history["epochs"])
    summary = {
        "examples": train_report.kept,
        "validation_examples": 0 if validation_data is None else len(validation_data[1]),
        "preprocessing": vars(train_report),
        "packing": None if packing is None else vars(packing),
        "parameters": lora.parameter_counts(model),
        "lora": lora.lora_state(model),
        "epochs_run": len(history["epochs"]),
        "final": history["epochs"][-1] if history["epochs"] else {},
        "first_step_loss": history["steps"][0]["loss"] if history["steps"] else None,
        "train_seconds": seconds,
        "tokens_per_second": tokens / seconds if seconds else None,
        "backend": keras.config.backend(),
        "config": {
            "template": getattr(preprocessor.template, "name", "custom"),
            "epochs": epochs,
            "batch_size": batch_size,
            "sequence_length": length,
            "learning_rate": learning_rate,
            "early_stopping_patience": early_stopping_patience,
            "bucket_multiple": bucket_multiple,
            "gradient_accumulation_steps": gradient_accumulation_steps,
            "lr_schedule": lr_schedule,
            "warmup_ratio": warmup_ratio,
            "chunk_size": chunk_size,
            "pack": pack,
        },
        "files": [],
    }
    if output_dir is not None:
        write_run_outputs(
            output_dir,
            lambda staging: [save_model_weights(model, staging)],
            history,
            summary,
            {"loss.png": ("SFT", None)},
        )
    return summary
