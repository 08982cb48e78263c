"""The parts every training job shares: split, fit with guards, write outputs.

`run_sft`, `run_reward` and `run_dpo` each preprocess their data, build a
trainer, and then call `fit_with_guards` (progress bar, metrics recorder,
NaN guard, optional early stopping on the validation loss) and
`write_run_outputs` (weights, `metrics.json` and plots, written atomically).

Examples:

>>> train, validation = split_validation(list(range(10)), 0.2)
>>> len(train), len(validation)
(8, 2)
"""

import math
import random
import time

import keras

from kerasalign.errors import KerasAlignError
from kerasalign.models import lora
from kerasalign.trainers.metrics_recorder import MetricsRecorder, write_json
from kerasalign.trainers.output_dir import staged_output_dir
from kerasalign.trainers.plots import plot_training_curves


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


def train_and_validation(examples, eval_examples, validation_split, early_stopping_patience, seed):
    """Training and validation examples, checking that early stopping has data."""
    examples = list(examples)
    if eval_examples is None and validation_split:
        examples, eval_examples = split_validation(examples, validation_split, seed)
    if early_stopping_patience and not eval_examples:
        raise KerasAlignError(
            "early stopping watches the validation loss: give eval data or a validation split."
        )
    return examples, eval_examples


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


def fit_with_guards(
    trainer,
    x,
    y=None,
    *,
    sample_weight=None,
    validation_data=None,
    epochs=1,
    batch_size=None,
    early_stopping_patience=None,
    callbacks=None,
    verbose="auto",
    bucket_multiple=None,
    seed=0,
):
    """`trainer.fit` with a recorder, a NaN guard and optional early stopping.

    With `bucket_multiple`, the rows are batched by length (`LengthBuckets`):
    each batch is trimmed to its longest row rounded up to that many tokens,
    instead of every batch carrying the padding of the longest row of the
    whole dataset. The compiled step is traced once per batch length.

    Returns:
        `(history, seconds)`: the recorded history (see `MetricsRecorder`)
        and the wall time of `fit`.

    Raises:
        KerasAlignError: the loss became NaN or infinite.
    """
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
    # Keras shuffles arrays. Length buckets shuffle their batches themselves,
    # from `seed` and the epoch, so that one seed gives one batch order on
    # every backend: Keras would shuffle them again with Python's global
    # `random` on JAX and PyTorch, and cannot shuffle the `tf.data.Dataset`
    # they become on TensorFlow.
    if bucket_multiple:
        from kerasalign.data.length_buckets import LengthBuckets

        buckets = LengthBuckets(
            x, y, sample_weight, batch_size=batch_size or 32, multiple=bucket_multiple, seed=seed
        )
        x = buckets.keras_input()
        y = sample_weight = batch_size = None
    start = time.perf_counter()
    trainer.fit(
        x,
        y,
        sample_weight=sample_weight,
        batch_size=batch_size,
        epochs=epochs,
        validation_data=validation_data,
        callbacks=all_callbacks,
        shuffle=not bucket_multiple,
        verbose=verbose,
    )
    seconds = time.perf_counter() - start
    if nan_guard.diverged_at is not None or recorder.has_nan():
        raise KerasAlignError(
            "Training diverged (the loss became NaN or infinite); nothing was "
            "saved. Lower the learning rate or check the data."
        )
    return recorder.history(), seconds


def write_run_outputs(output_dir, save_weights, history, summary, plots):
    """Write weights, plots and `metrics.json` into `output_dir` atomically.

    Args:
        output_dir: str or path. Replaced only when everything is written.
        save_weights: callable `(staging_dir) -> list of file names`.
        history: dict. The recorded history.
        summary: dict. Updated in place with `files` and `output_dir`, and
            written with the history to `metrics.json`.
        plots: dict. PNG file name -> `(title, metric keys or None)`.
    """
    with staged_output_dir(output_dir) as staging:
        files = list(save_weights(staging))
        for file_name, (title, keys) in plots.items():
            plot_training_curves(history, staging / file_name, title=title, keys=keys)
            files.append(file_name)
        summary["files"] = sorted(files + ["metrics.json"])
        write_json(staging / "metrics.json", {"summary": summary, "history": history})
    summary["output_dir"] = str(output_dir)
    return summary
