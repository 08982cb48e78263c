"""The trainers build their optimizer before `fit`: TensorFlow traces the step once."""

import keras
import numpy as np
import pytest

import kerasalign
from kerasalign.data import SFTPreprocessor
from kerasalign.data.preference_preprocessor import PreferencePreprocessor
from kerasalign.trainers.dpo_trainer import DPOTrainer
from kerasalign.trainers.optimizer_prebuild import build_optimizer_before_fit
from kerasalign.trainers.reward_model import RewardModel
from kerasalign.trainers.sft_trainer import SFTTrainer


def _sft(examples, pairs):
    model = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
    x, y, weight = SFTPreprocessor(model.preprocessor.tokenizer, "gemma", 64).batch(examples)
    return SFTTrainer(model), {"x": x, "y": y, "sample_weight": weight}


def _reward(examples, pairs):
    reward_model = RewardModel(kerasalign.load_causal_lm("tiny_gemma", lora_rank=4))
    return reward_model, {"x": reward_model.preprocessor.batch(pairs)}


def _dpo(examples, pairs):
    model = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
    x = PreferencePreprocessor(model.preprocessor.tokenizer, "gemma", 64).batch(pairs)
    return DPOTrainer(model), {"x": x}


def _counting_train_steps(trainer):
    """Record whether the optimizer was built at each call of `trainer.train_step`.

    A call is a trace on TensorFlow and JAX, a step on PyTorch.
    """
    calls = []
    train_step = trainer.train_step

    def counted(*args):  # JAX passes the state first
        calls.append(trainer.optimizer.built)
        return train_step(*args)

    trainer.train_step = counted
    return calls


@pytest.mark.backend
@pytest.mark.parametrize("make", [_sft, _reward, _dpo], ids=["sft", "reward", "dpo"])
def test_fit_traces_the_train_step_once_and_creates_no_variables(make, sft_examples):
    pairs = kerasalign.datasets.load("safety_preferences")[:4]
    trainer, data = make(sft_examples[:4], pairs)
    trainer.compile(learning_rate=1e-3)
    calls = _counting_train_steps(trainer)
    trainer.fit(**data, batch_size=4, epochs=2, verbose=0)
    # Two steps (one per epoch). TensorFlow used to trace twice: the
    # optimizer's slots were created inside the first trace.
    expected = {"tensorflow": 1, "jax": 1, "torch": 2}[keras.backend.backend()]
    assert calls == [True] * expected
    # The update happened: the LoRA factors B moved from zero.
    lora_b = [w for w in trainer.trainable_variables if "lora_kernel_b" in w.path]
    assert lora_b and max(float(np.abs(keras.ops.convert_to_numpy(w)).max()) for w in lora_b) > 0


def test_an_unbuilt_layer_leaves_the_build_to_keras():
    model = keras.Sequential([keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    build_optimizer_before_fit(model)
    assert not model.optimizer.built
    model.fit(np.ones((4, 3)), np.ones((4, 2)), verbose=0)
    assert model.optimizer.built
