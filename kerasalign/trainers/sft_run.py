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

import math
import random
import time

import keras

from kerasalign.data.sft_preprocessor import SFTPreprocessor
from kerasalign.errors import KerasAlignError
from kerasalign.models import lora
from kerasalign.trainers.metrics_recorder import MetricsRecorder, write_json
from kerasalign.trainers.output_dir import staged_output_dir
from kerasalign.trainers.plots import plot_training_curves
from kerasalign.trainers.sft_trainer import SFTTrainer


def split_validation(examples, fraction, seed=0):
    """Split off a deterministic, shuffled validation fraction."""
    if not 0 < fraction < 1:
        raise KerasAlignError(f"validation_split must be in (0, 1). Received: {fraction!r}")
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    count = max(1, round(len(examples) * fraction))
    if count >= len(examples):
        raise KerasAlignError(
            f"validation_split={fraction} leaves no training examples out of {len(examples)}."
        )
    validation = [examples[i] for i in sorted(order[:count])]
    train = [examples[i] for i in sorted(order[count:])]
    return train, validation


class NaNGuard(keras.callbacks.Callback):
    """Stop training at the first non-finite loss (nothing will be saved)."""

    def __init__(self):
        super().__init__()
        self.diverged_at = None

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.diverged_at = batch
            self.model.stop_training = True


def save_model_weights(model, directory):
    """Save the adapter when LoRA is on, else the full model as a preset."""
    if lora.lora_state(model) is not None:
        lora.save_adapter(model, directory / "adapter")
        return "adapter"
    model.save_to_preset(str(directory / "model"))
    return "model"


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

    Returns:
        A summary dict: final metrics, timing, preprocessing report, files.
    """
    keras.utils.set_random_seed(seed)
    examples = list(examples)
    if eval_examples is None and validation_split:
        examples, eval_examples = split_validation(examples, validation_split, seed)
    if early_stopping_patience and not eval_examples:
        raise KerasAlignError(
            "early stopping watches the validation loss: give eval data or a validation split."
        )
    length = sequence_length or model.preprocessor.sequence_length
    preprocessor = SFTPreprocessor(model.preprocessor.tokenizer, template, length)
    x, y, sample_weight = preprocessor.batch(examples)
    train_report = preprocessor.report
    validation_data = None
    if eval_examples:
        validation_data = preprocessor.batch(eval_examples)
    recorder = MetricsRecorder()
    nan_guard = NaNGuard()
    all_callbacks = [recorder, nan_guard] + list(callbacks or [])
    if early_stopping_patience:
        all_callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss",
                patience=early_stopping_patience,
                restore_best_weights=True,
            )
        )
    trainer = SFTTrainer(model)
    trainer.compile(learning_rate=learning_rate)
    start = time.perf_counter()
    trainer.fit(
        x,
        y,
        sample_weight=sample_weight,
        batch_size=batch_size,
        epochs=epochs,
        validation_data=validation_data,
        callbacks=all_callbacks,
        shuffle=True,
        verbose=verbose,
    )
    seconds = time.perf_counter() - start
    if nan_guard.diverged_at is not None or recorder.has_nan():
        raise KerasAlignError(
            "Training diverged (the loss became NaN or infinite); nothing was "
            "saved. Lower the learning rate or check the data."
        )
    history = recorder.history()
    tokens = int(x["padding_mask"].sum()) * len(history["epochs"])
    summary = {
        "examples": train_report.kept,
        "validation_examples": 0 if validation_data is None else len(validation_data[1]),
        "preprocessing": vars(train_report),
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
        },
        "files": [],
    }
    if output_dir is not None:
        with staged_output_dir(output_dir) as staging:
            weights = save_model_weights(model, staging)
            plot_training_curves(history, staging / "loss.png", title="SFT")
            summary["files"] = sorted([weights, "metrics.json", "loss.png"])
            write_json(staging / "metrics.json", {"summary": summary, "history": history})
        summary["output_dir"] = str(output_dir)
    return summary
