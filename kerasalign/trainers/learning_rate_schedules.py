"""Learning-rate schedules: a linear warmup, then constant, linear or cosine decay.

TRL's trainers (through Transformers) decay the learning rate linearly to
zero by default. Keras has a cosine decay with warmup and a polynomial (e.g.
linear) decay without one, and neither counts the updates of a run. `WarmupDecay` is one schedule for the
three shapes, evaluated from the optimizer's step inside the compiled train
step on every backend, and `scheduled_learning_rate` builds it for a run of
`rows` examples in batches of `batch_size` over `epochs`.

The k-th update (k = 0, 1, ...) uses:

- warmup, k < w: `peak * (k + 1) / w`;
- then, with `j = k - w` and `d = total_steps - w` decay steps:
  `constant`: `peak`; `linear`: `peak * (d - j) / d`;
  `cosine`: `peak * (1 + cos(pi * j / d)) / 2`; both reach 0 at `j = d`
  and stay there.

Keras counts every batch as a step, gradient accumulation included, so the
schedule is over batches.

Examples:

>>> schedule = scheduled_learning_rate(1e-3, "linear", rows=40, batch_size=8, epochs=2)
>>> schedule.describe()["total_steps"]
10
>>> [round(float(schedule(step)), 6) for step in (0, 5, 9)]
[0.001, 0.0005, 0.0001]
>>> scheduled_learning_rate(1e-3, "constant", rows=40, batch_size=8, epochs=2)
0.001
"""

import math

import keras

from kerasalign.errors import KerasAlignError
from kerasalign.trainers.argument_checks import check_integer, check_number

SCHEDULES = ("constant", "linear", "cosine")


def _check_schedule(name):
    if name not in SCHEDULES:
        raise KerasAlignError(f"lr_schedule must be one of {SCHEDULES}. Received: {name!r}")


@keras.saving.register_keras_serializable(package="kerasalign")
class WarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """A linear warmup over `warmup_steps`, then `decay` to zero at `total_steps`.

    Args:
        peak_learning_rate: float. The rate reached after the warmup.
        total_steps: int. Updates of the whole run (warmup included).
        warmup_steps: int. Updates of the warmup. Defaults to 0.
        decay: str. `"constant"`, `"linear"` or `"cosine"`. Defaults to
            `"linear"`.
    """

    def __init__(self, peak_learning_rate, total_steps, warmup_steps=0, decay="linear"):
        _check_schedule(decay)
        self.peak_learning_rate = check_number("learning_rate", peak_learning_rate)
        self.total_steps = check_integer("total_steps", total_steps)
        self.warmup_steps = check_integer("warmup_steps", warmup_steps, minimum=0)
        if self.warmup_steps >= self.total_steps and decay != "constant":
            raise KerasAlignError(
                f"warmup_steps ({warmup_steps}) leaves no steps to decay over out of "
                f"total_steps={total_steps}."
            )
        self.decay = decay

    def __call__(self, step):
        ops = keras.ops
        step = ops.cast(step, "float32")
        peak = self.peak_learning_rate
        warmup = float(self.warmup_steps)
        if self.decay == "constant":
            after = ops.full_like(step, peak)
        else:
            decay_steps = float(self.total_steps - self.warmup_steps)
            progress = ops.clip((step - warmup) / decay_steps, 0.0, 1.0)
            if self.decay == "linear":
                after = peak * (1.0 - progress)
            else:
                after = peak * 0.5 * (1.0 + ops.cos(math.pi * progress))
        if self.warmup_steps == 0:
            return after
        return ops.where(step < warmup, peak * (step + 1.0) / warmup, after)

    def describe(self):
        """The schedule as a run summary records it."""
        return {
            "lr_schedule": self.decay,
            "peak_learning_rate": self.peak_learning_rate,
            "warmup_steps": self.warmup_steps,
            "total_steps": self.total_steps,
        }

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "decay": self.decay,
        }


def updates_per_run(rows, batch_size, epochs):
    """Batches (Keras steps) of `epochs` passes over `rows` examples."""
    rows = check_integer("rows", rows)
    batch_size = check_integer("batch_size", batch_size)
    return -(-rows // batch_size) * check_integer("epochs", epochs)


def scheduled_learning_rate(learning_rate, schedule, *, rows, batch_size, epochs, warmup_ratio=0.0):
    """What to give `compile(learning_rate=...)` for a run with this schedule.

    Args:
        learning_rate: float. The peak rate.
        schedule: str. `"constant"`, `"linear"` or `"cosine"`.
        rows: int. Training examples (or pairs) per epoch.
        batch_size: int. Examples per batch.
        epochs: int. Passes over the data.
        warmup_ratio: float. Fraction of the updates spent warming up
            linearly from near zero, rounded up to whole updates (as in
            TRL). Defaults to `0.0`.

    Returns:
        `learning_rate` itself for a constant rate without warmup (the
        optimizer's rate stays a settable variable), else a `WarmupDecay`.
    """
    _check_schedule(schedule)
    check_number("warmup_ratio", warmup_ratio, 0.0, 1.0, allow_minimum=True)
    total_steps = updates_per_run(rows, batch_size, epochs)
    warmup_steps = math.ceil(total_steps * warmup_ratio)
    if schedule == "constant" and warmup_steps == 0:
        return check_number("learning_rate", learning_rate)
    return WarmupDecay(learning_rate, total_steps, min(warmup_steps, total_steps - 1), schedule)


def describe_learning_rate(learning_rate):
    """`learning_rate` for a run summary: the schedule's description, or the rate."""
    if isinstance(learning_rate, WarmupDecay):
        return learning_rate.describe()
    return {"lr_schedule": "constant", "peak_learning_rate": learning_rate}


def optimizer_schedule(optimizer):
    """The `LearningRateSchedule` an optimizer was built with, or `None`.

    Keras keeps it only in the optimizer's private `_learning_rate`
    (`optimizer.learning_rate` is the rate at the current step).

    >>> optimizer = keras.optimizers.SGD(WarmupDecay(1e-3, total_steps=4))
    >>> optimizer_schedule(optimizer).describe()["total_steps"]
    4
    >>> optimizer_schedule(keras.optimizers.SGD(1e-3)) is None
    True
    """
    schedule = getattr(optimizer, "_learning_rate", None)
    if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        return schedule
    return None
