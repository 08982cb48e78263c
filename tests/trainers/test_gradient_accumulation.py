"""Gradient accumulation: N micro-batches per optimizer update, the same update as one batch.

DPO's and the reward model's losses are means over pairs, so one AdamW
update from two accumulated micro-batches of 2 pairs must equal one update
from a batch of 4 (up to float error), on every backend; and it must differ
from two separate updates of 2, which is what shows the test can fail.
"""

import keras
import numpy as np
import pytest

import kerasalign
from kerasalign.data.preference_preprocessor import PreferencePreprocessor
from kerasalign.errors import KerasAlignError
from kerasalign.trainers.compile_defaults import adamw
from kerasalign.trainers.dpo_trainer import DPOTrainer
from kerasalign.trainers.reward_model import RewardModel

SEQUENCE_LENGTH = 48
LEARNING_RATE = 1e-2


@pytest.fixture(scope="module")
def pairs():
    return kerasalign.datasets.load("safety_preferences")[::60][:4]


def _lora_values(model):
    return {
        w.path: keras.ops.convert_to_numpy(w).copy()
        for w in model.trainable_weights
    }


def _dpo_after_one_epoch(pairs, batch_size, accumulation):
    keras.utils.set_random_seed(0)
    policy = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
    # LoRA's B factors start at zero; random values make every factor's gradient nonzero.
    rng = np.random.default_rng(0)
    for weight in policy.trainable_weights:
        if "lora_kernel_b" in weight.path:
            weight.assign(rng.normal(0.0, 0.05, size=tuple(weight.shape)).astype("float32"))
    x = PreferencePreprocessor(
        policy.preprocessor.tokenizer, "gemma", SEQUENCE_LENGTH
    ).batch(pairs)
    trainer = DPOTrainer(policy, beta=0.5)
    trainer.compile(optimizer=adamw(LEARNING_RATE, gradient_accumulation_steps=accumulation))
    x = trainer.precompute_reference_logprobs(x, batch_size=4)
    before = _lora_values(policy)
    trainer.fit(x, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    return before, _lora_values(policy)


def _reward_after_one_epoch(pairs, batch_size, accumulation):
    keras.utils.set_random_seed(0)
    causal_lm = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
    # Centring gives the head's bias a gradient: Bradley-Terry alone sees only
    # reward differences, and Adam would blow its float noise up to full steps.
    reward_model = RewardModel(
        causal_lm, sequence_length=SEQUENCE_LENGTH, center_rewards_coefficient=0.1
    )
    x = reward_model.preprocessor.batch(pairs)
    reward_model.compile(
        optimizer=adamw(LEARNING_RATE, gradient_accumulation_steps=accumulation)
    )
    before = _lora_values(reward_model)
    reward_model.fit(x, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    return before, _lora_values(reward_model)


def _assert_same(left, right):
    assert left.keys() == right.keys()
    for path in left:
        np.testing.assert_allclose(left[path], right[path], rtol=1e-4, atol=1e-6, err_msg=path)


def _assert_differs(left, right):
    assert any(not np.allclose(left[p], right[p], rtol=1e-4, atol=1e-6) for p in left)


@pytest.mark.backend
@pytest.mark.parametrize("train", [_dpo_after_one_epoch, _reward_after_one_epoch])
def test_two_accumulated_micro_batches_make_one_batch_update(pairs, train):
    before, one_batch = train(pairs, batch_size=4, accumulation=None)
    _, accumulated = train(pairs, batch_size=2, accumulation=2)
    _, two_updates = train(pairs, batch_size=2, accumulation=None)
    _assert_differs(before, one_batch)  # a real update happened
    _assert_same(one_batch, accumulated)
    _assert_differs(one_batch, two_updates)


def test_an_unfinished_accumulation_leaves_the_weights_alone(pairs):
    # 4 pairs in micro-batches of 2 with 4 steps to accumulate: no update yet.
    before, after = _dpo_after_one_epoch(pairs, batch_size=2, accumulation=4)
    _assert_same(before, after)


@pytest.mark.parametrize("steps", [0, -2, 1.5, "2", True])
def test_bad_accumulation_steps_are_refused(steps):
    with pytest.raises(KerasAlignError, match="gradient_accumulation_steps must be"):
        adamw(1e-4, gradient_accumulation_steps=steps)


def test_one_accumulation_step_means_none():
    assert adamw(1e-4, gradient_accumulation_steps=1).gradient_accumulation_steps is None
    assert adamw(1e-4, gradient_accumulation_steps=3).gradient_accumulation_steps == 3
