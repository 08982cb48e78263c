"""Trainers' compile defaults: AdamW with a checked rate; no XLA for bfloat16 on TF CPU."""

import keras
import numpy as np
import pytest

from kerasalign.errors import KerasAlignError
from kerasalign.models.loader import load_causal_lm
from kerasalign.trainers.compile_defaults import (
    adamw,
    computes_in_bfloat16,
    resolve_jit_compile,
)
from kerasalign.trainers.dpo_trainer import DPOTrainer
from kerasalign.trainers.sft_trainer import SFTTrainer


@pytest.mark.parametrize("rate", [0, -1e-4, float("nan"), float("inf"), True, "1e-4", None])
def test_adamw_rejects_bad_learning_rates(rate):
    with pytest.raises(KerasAlignError, match="learning_rate must be a number > 0"):
        adamw(rate)


def test_adamw_keeps_rate_and_decay():
    optimizer = adamw(3e-4, weight_decay=0.01)
    assert np.isclose(float(optimizer.learning_rate), 3e-4)
    assert optimizer.weight_decay == 0.01


def test_explicit_values_are_kept():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, dtype="bfloat16")])
    assert resolve_jit_compile(model, True) is True
    assert resolve_jit_compile(model, False) is False


@pytest.mark.backend
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_auto_skips_xla_only_for_bfloat16_on_tensorflow_cpu(dtype):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, dtype=dtype)])
    assert computes_in_bfloat16(model) == (dtype == "bfloat16")
    expected = (
        False
        if keras.backend.backend() == "tensorflow" and dtype == "bfloat16"
        else "auto"
    )
    assert resolve_jit_compile(model, "auto") == expected


@pytest.mark.backend
def test_trainers_compile_bfloat16_models_without_xla_on_tensorflow():
    plain = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    plain.compile(optimizer="adam", loss="mse")
    model = load_causal_lm("tiny_gemma", dtype="bfloat16", lora_rank=2)
    trainers = [SFTTrainer(model), DPOTrainer(model)]
    for trainer in trainers:
        trainer.compile(learning_rate=1e-3)
        if keras.backend.backend() == "tensorflow":
            assert trainer.jit_compile is False
        else:
            # Keras' own "auto" decides, as for any model.
            assert trainer.jit_compile == plain.jit_compile
    # An explicit value wins.
    trainers[0].compile(learning_rate=1e-3, jit_compile=False)
    assert trainers[0].jit_compile is False
