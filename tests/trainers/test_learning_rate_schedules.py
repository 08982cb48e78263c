"""Learning-rate schedules: warmup, then constant, linear or cosine decay.

The formulas are checked against numpy values computed here by hand, on
every backend (the schedule is evaluated inside the compiled train step);
then a real `fit` shows the optimizer reads the schedule at each update.
"""

import json
import math

import keras
import numpy as np
import pytest

import kerasalign
from kerasalign.errors import KerasAlignError
from kerasalign.trainers.compile_defaults import adamw
from kerasalign.trainers.learning_rate_schedules import (
    WarmupDecay,
    scheduled_learning_rate,
    updates_per_run,
)

pytestmark = pytest.mark.backend

PEAK = 1e-3


def _values(schedule, steps):
    return np.array([float(keras.ops.convert_to_numpy(schedule(step))) for step in range(steps)])


def test_linear_decay_without_warmup_matches_hand_values():
    # 4 updates: peak * (4 - k) / 4 for k = 0..3; never zero, as in TRL's
    # linear schedule (the k-th update uses step k).
    values = _values(WarmupDecay(PEAK, total_steps=4, decay="linear"), 4)
    np.testing.assert_allclose(values, [1e-3, 0.75e-3, 0.5e-3, 0.25e-3], rtol=1e-6)


def test_linear_decay_with_warmup_matches_hand_values():
    # 2 warmup updates reach the peak at the 2nd (peak/2, peak), then 4 more
    # decay linearly over the remaining 4 steps: (4 - j) / 4 for j = 0..3.
    values = _values(WarmupDecay(PEAK, total_steps=6, warmup_steps=2, decay="linear"), 6)
    expected = [0.5e-3, 1e-3, 1e-3, 0.75e-3, 0.5e-3, 0.25e-3]
    np.testing.assert_allclose(values, expected, rtol=1e-6)


def test_cosine_decay_matches_hand_values():
    schedule = WarmupDecay(PEAK, total_steps=5, warmup_steps=1, decay="cosine")
    expected = [PEAK] + [PEAK * 0.5 * (1 + math.cos(math.pi * j / 4)) for j in range(4)]
    np.testing.assert_allclose(_values(schedule, 5), expected, rtol=1e-6)


def test_constant_with_warmup_and_steps_past_the_end():
    schedule = WarmupDecay(PEAK, total_steps=3, warmup_steps=2, decay="constant")
    np.testing.assert_allclose(_values(schedule, 5), [0.5e-3, 1e-3, 1e-3, 1e-3, 1e-3], rtol=1e-6)
    # A decaying schedule stays at zero after its last step (e.g. a longer fit).
    linear = WarmupDecay(PEAK, total_steps=2, decay="linear")
    np.testing.assert_allclose(_values(linear, 4), [1e-3, 0.5e-3, 0.0, 0.0], atol=1e-12)


def test_schedule_round_trips_through_keras_serialization():
    schedule = WarmupDecay(PEAK, total_steps=10, warmup_steps=3, decay="cosine")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert isinstance(restored, WarmupDecay)
    np.testing.assert_allclose(_values(restored, 10), _values(schedule, 10))


def test_the_command_line_offers_every_schedule():
    from kerasalign.cli.training_args import LR_SCHEDULES
    from kerasalign.trainers.learning_rate_schedules import SCHEDULES

    assert LR_SCHEDULES == SCHEDULES


def test_scheduled_learning_rate_counts_updates_and_warmup():
    # 10 rows in batches of 4: 3 batches per epoch, 2 epochs: 6 updates.
    assert updates_per_run(rows=10, batch_size=4, epochs=2) == 6
    assert scheduled_learning_rate(PEAK, "constant", rows=10, batch_size=4, epochs=2) == PEAK
    schedule = scheduled_learning_rate(
        PEAK, "linear", rows=10, batch_size=4, epochs=2, warmup_ratio=0.25
    )
    # As in TRL and Transformers, the warmup is ceil(ratio * updates): 1.5 -> 2.
    assert (schedule.total_steps, schedule.warmup_steps) == (6, 2)
    assert schedule.describe() == {
        "lr_schedule": "linear",
        "peak_learning_rate": PEAK,
        "warmup_steps": 2,
        "total_steps": 6,
    }


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"schedule": "exponential"}, "lr_schedule must be one of"),
        ({"warmup_ratio": 1.0}, "warmup_ratio must be a number >= 0.0 and < 1.0"),
        ({"warmup_ratio": -0.1}, "warmup_ratio must be a number >= 0.0 and < 1.0"),
        ({"rows": 0}, "rows must be an integer >= 1"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    arguments = {"schedule": "linear", "rows": 8, "batch_size": 4, "epochs": 1, **kwargs}
    with pytest.raises(KerasAlignError, match=message):
        scheduled_learning_rate(PEAK, **arguments)


def test_fit_updates_follow_the_schedule():
    """Plain SGD on one weight with gradient 1 everywhere: the weight's
    changes are the learning rates, one per update, in order. One batch per
    epoch, read at the epoch's end (when JAX's trainer syncs the state)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((1,))
    layer = keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")
    model = keras.Model(inputs, layer(inputs))
    schedule = WarmupDecay(PEAK, total_steps=4, warmup_steps=1, decay="linear")
    trajectory = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            trajectory.append(float(keras.ops.convert_to_numpy(layer.kernel)[0, 0]))

    # loss = mean(y_pred) with x = 1: d loss / d kernel = 1 in every batch.
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss=lambda y, p: keras.ops.mean(p))
    x = np.ones((1, 1), "float32")
    model.fit(x, np.zeros((1, 1), "float32"), batch_size=1, epochs=4, shuffle=False,
              callbacks=[Record()], verbose=0)
    steps = -np.diff([0.0, *trajectory])
    # Warmup to the peak at the first update, then 3 linear steps: 3/3, 2/3, 1/3.
    np.testing.assert_allclose(steps, [1e-3, 1e-3, 2e-3 / 3, 1e-3 / 3], rtol=1e-5)


def test_adamw_takes_a_schedule_and_the_trainers_fit_with_it():
    schedule = WarmupDecay(PEAK, total_steps=2, decay="linear")
    optimizer = adamw(schedule)
    assert optimizer.learning_rate is not None
    model = kerasalign.load_causal_lm("tiny_gemma", lora_rank=2)
    examples = kerasalign.datasets.load("safety_sft")[:4]
    pre = kerasalign.data.SFTPreprocessor(model.preprocessor.tokenizer, "gemma", sequence_length=48)
    x, y, weight = pre.batch(examples)
    trainer = kerasalign.SFTTrainer(model)
    trainer.compile(optimizer=optimizer)
    trainer.fit(x, y, sample_weight=weight, batch_size=2, epochs=1, verbose=0)
    assert int(keras.ops.convert_to_numpy(trainer.optimizer.iterations)) == 2
    # After both updates the schedule is at its end: zero.
    final = keras.ops.convert_to_numpy(schedule(trainer.optimizer.iterations))
    assert float(final) == 0.0



def _recorded_rates(output_dir):
    history = json.loads((output_dir / "metrics.json").read_text())["history"]
    return [row["learning_rate"] for row in history["steps"]]


def test_run_sft_decays_the_rate_and_records_it_per_step(tmp_path):
    from kerasalign.trainers.sft_run import run_sft

    model = kerasalign.load_causal_lm("tiny_gemma", lora_rank=2)
    examples = kerasalign.datasets.load("safety_sft")[:8]
    summary = run_sft(
        model, examples, epochs=2, batch_size=2, sequence_length=128, learning_rate=PEAK,
        lr_schedule="linear", warmup_ratio=0.25, output_dir=tmp_path, verbose=0,
        bucket_multiple=32,
    )
    assert summary["examples"] == 8 and summary["config"]["lr_schedule"] == "linear"
    # 4 batches x 2 epochs = 8 updates: 2 of warmup, then 6 of linear decay.
    expected = [PEAK / 2, PEAK] + [PEAK * (6 - j) / 6 for j in range(6)]
    np.testing.assert_allclose(_recorded_rates(tmp_path), expected, rtol=1e-5)


def test_run_reward_and_run_dpo_take_the_schedule(tmp_path):
    from kerasalign.trainers.dpo_run import run_dpo
    from kerasalign.trainers.reward_model import RewardModel
    from kerasalign.trainers.reward_run import run_reward

    pairs = kerasalign.datasets.load("safety_preferences")[:6]
    reward_model = RewardModel(kerasalign.load_causal_lm("tiny_gemma", lora_rank=2), sequence_length=128)
    summary = run_reward(reward_model, pairs, batch_size=2, learning_rate=PEAK,
                         lr_schedule="cosine", output_dir=tmp_path / "reward", verbose=0)
    assert summary["config"]["lr_schedule"] == "cosine"
    expected = [PEAK * 0.5 * (1 + math.cos(math.pi * j / 3)) for j in range(3)]
    np.testing.assert_allclose(_recorded_rates(tmp_path / "reward"), expected, rtol=1e-5)
    policy = kerasalign.load_causal_lm("tiny_gemma", lora_rank=2)
    run_dpo(policy, pairs, batch_size=3, sequence_length=128, learning_rate=PEAK,
            lr_schedule="linear", output_dir=tmp_path / "dpo", verbose=0)
    # 2 updates: the full rate, then half of it.
    np.testing.assert_allclose(_recorded_rates(tmp_path / "dpo"), [PEAK, PEAK / 2], rtol=1e-5)


def test_run_rlhf_schedules_every_update_of_each_rollout_batch(tmp_path):
    from kerasalign.trainers.rlhf_run import run_rlhf

    policy = kerasalign.load_causal_lm("tiny_gemma", lora_rank=2)
    summary = run_rlhf(
        policy, ["Hi", "Name a colour.", "Count to three.", "Say yes."],
        kerasalign.trainers.keyword_reward("the"), algorithm="grpo", batch_size=2,
        learning_rate=PEAK, lr_schedule="linear", output_dir=tmp_path, verbose=0,
        num_generations=2, max_new_tokens=4, optimization_epochs=2, num_minibatches=2,
    )
    assert summary["config"]["lr_schedule"] == "linear"
    # 2 rollout batches x 2 optimisation epochs x 2 minibatches = 8 updates;
    # each rollout batch records the rate of its first update (0, then 4).
    np.testing.assert_allclose(_recorded_rates(tmp_path), [PEAK, PEAK / 2], rtol=1e-5)
