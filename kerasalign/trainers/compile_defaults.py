"""What every trainer's `compile` does by default: AdamW, and when to skip XLA.

On CPUs with AMX or AVX512-BF16 (Intel Sapphire Rapids and later), oneDNN
runs bfloat16 matmuls several times faster than float32 ones, but XLA's CPU
backend does not use oneDNN for them: a bfloat16 model trained on
TensorFlow with `jit_compile=True` runs its matmuls at float32 speed or
below. So with `jit_compile="auto"` (Keras' default) a TensorFlow model whose
layers compute in bfloat16 on a machine without a GPU is compiled as a
`tf.function` without XLA. Everything else keeps Keras' own "auto".

Examples:

>>> import keras
>>> optimizer = adamw(learning_rate=1e-4)
>>> type(optimizer).__name__, round(float(optimizer.learning_rate), 6)
('AdamW', 0.0001)
>>> model = keras.Sequential([keras.layers.Dense(2, dtype="float32")])
>>> resolve_jit_compile(model, "auto")
'auto'
>>> resolve_jit_compile(model, False)
False
"""

import keras

from kerasalign.backend_ops import tensorflow_sees_a_gpu
from kerasalign.trainers.argument_checks import check_integer, check_number
from kerasalign.trainers.learning_rate_schedules import scheduled_learning_rate


def adamw(learning_rate, weight_decay=0.0, gradient_accumulation_steps=None):
    """AdamW with a checked learning rate (a finite number > 0, or a schedule).

    Args:
        learning_rate: float or `keras.optimizers.schedules.LearningRateSchedule`
            (e.g. `kerasalign.trainers.learning_rate_schedules.WarmupDecay`).
            A float must be a finite number > 0.
        weight_decay: float. Defaults to `0.0`.
        gradient_accumulation_steps: int. Average the gradients of this many
            batches and update once (Keras' optimizer option): the memory of
            one batch, the update of a batch this many times larger when the
            loss is a mean over examples (DPO, reward model; SFT's token mean
            gives each micro-batch equal weight). `None` or 1 updates every
            batch. Defaults to `None`.
    """
    if not isinstance(learning_rate, keras.optimizers.schedules.LearningRateSchedule):
        check_number("learning_rate", learning_rate)
    if gradient_accumulation_steps is not None:
        check_integer("gradient_accumulation_steps", gradient_accumulation_steps)
    return keras.optimizers.AdamW(
        learning_rate=learning_rate,
        weight_decay=weight_decay,
        gradient_accumulation_steps=(
            None if gradient_accumulation_steps in (None, 1) else gradient_accumulation_steps
        ),
    )


def adamw_for_run(
    learning_rate,
    lr_schedule="constant",
    warmup_ratio=0.0,
    *,
    rows,
    batch_size,
    epochs,
    gradient_accumulation_steps=None,
):
    """`adamw` with the learning-rate schedule of a run over `rows` examples.

    See `learning_rate_schedules.scheduled_learning_rate` for `lr_schedule`
    and `warmup_ratio`; a constant rate without warmup is plain `adamw`.

    >>> optimizer = adamw_for_run(1e-3, "linear", rows=16, batch_size=4, epochs=1)
    >>> round(float(optimizer.learning_rate), 6)  # the first of 4 updates
    0.001
    """
    rate = scheduled_learning_rate(
        learning_rate,
        lr_schedule,
        rows=rows,
        batch_size=batch_size,
        epochs=epochs,
        warmup_ratio=warmup_ratio,
    )
    return adamw(rate, gradient_accumulation_steps=gradient_accumulation_steps)


def computes_in_bfloat16(model):
    """Whether any layer of `model` computes in bfloat16."""
    return any(
        getattr(layer, "compute_dtype", None) == "bfloat16" for layer in model._flatten_layers()
    )


def resolve_jit_compile(model, jit_compile="auto"):
    """`jit_compile` for `model.compile`: `False` for bfloat16 on TensorFlow CPU.

    Args:
        model: the `keras.Model` being compiled (layers already built).
        jit_compile: the user's value; anything but `"auto"` is returned
            as it is.

    Returns:
        `False` when `jit_compile` is `"auto"`, the backend is TensorFlow, no
        GPU is visible and a layer computes in bfloat16; else `jit_compile`.
    """
    if jit_compile != "auto" or keras.backend.backend() != "tensorflow":
        return jit_compile
    if computes_in_bfloat16(model) and not tensorflow_sees_a_gpu():
        return False
    return jit_compile
