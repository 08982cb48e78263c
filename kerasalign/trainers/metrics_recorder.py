"""`MetricsRecorder`: keep per-step and per-epoch metrics, write them, plot them.

Examples:

>>> recorder = MetricsRecorder()
>>> recorder.on_train_batch_end(0, {"loss": 2.0})
>>> recorder.on_epoch_end(0, {"loss": 2.0, "val_loss": 2.5})
>>> recorder.history()["epochs"][0]["val_loss"]
2.5
"""

import json
import math

import keras

from kerasalign.trainers.learning_rate_schedules import optimizer_schedule


def _plain(logs):
    return {key: float(value) for key, value in (logs or {}).items()}


class MetricsRecorder(keras.callbacks.Callback):
    """A callback that records every training step and epoch.

    The history it keeps is what `metrics.json` holds: `steps` (one dict per
    training step, with its global `step` number) and `epochs` (one dict per
    epoch with training and validation metrics). When the optimizer's
    learning rate is a schedule, each step also records the `learning_rate`
    that step's update used.
    """

    def __init__(self):
        super().__init__()
        self.steps = []
        self.epochs = []
        self._schedule = None
        self._first_iteration = 0

    def on_train_begin(self, logs=None):
        optimizer = getattr(self.model, "optimizer", None)
        # On JAX the optimizer's step is not synced during an epoch, so the
        # rate is computed from the steps counted here, after the iterations
        # of earlier `fit` calls.
        self._schedule = optimizer_schedule(optimizer)
        if self._schedule is not None:
            # With gradient accumulation `iterations` counts updates; the
            # schedule counts batches.
            updates = int(keras.ops.convert_to_numpy(optimizer.iterations))
            self._first_iteration = updates * (optimizer.gradient_accumulation_steps or 1)

    def on_train_batch_end(self, batch, logs=None):
        row = {"step": len(self.steps) + 1, **_plain(logs)}
        # A trainer whose step runs several updates (online RLHF) logs its own rate.
        if self._schedule is not None and "learning_rate" not in row:
            iteration = self._first_iteration + len(self.steps)
            row["learning_rate"] = float(keras.ops.convert_to_numpy(self._schedule(iteration)))
        self.steps.append(row)

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append({"epoch": epoch + 1, **_plain(logs)})

    def history(self):
        """The recorded history as a JSON-ready dict."""
        return {"steps": self.steps, "epochs": self.epochs}

    def has_nan(self, key="loss"):
        """Whether any recorded value of `key` is NaN or infinite."""
        values = [row[key] for row in self.steps + self.epochs if key in row]
        return any(not math.isfinite(value) for value in values)


def write_json(path, data):
    """Write `data` as indented JSON."""
    with open(path, "w", encoding="utf-8") as file:
        json.dump(data, file, indent=2, default=float)
