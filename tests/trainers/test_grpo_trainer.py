"""GRPOTrainer: group-normalised advantages, a rising reward, bounded KL, clear errors."""

import keras
import numpy as np
import pytest
from rule_rewards import PROMPTS, contains_line_break

import kerasalign
from kerasalign.errors import KerasAlignError
from kerasalign.trainers import GRPOTrainer, MetricsRecorder


def _policy():
    return kerasalign.load_causal_lm("tiny_gemma", lora_rank=8, lora_targets="all")


@pytest.mark.backend
def test_grpo_raises_a_rule_based_reward_with_bounded_kl():
    # PyTorch runs this CPU model eagerly and about five times slower, so
    # there the test is a smoke run of two rollout batches (see
    # tests/trainers/test_ppo_trainer.py).
    learning = keras.config.backend() != "torch"
    policy = _policy()
    trainer = GRPOTrainer(
        policy,
        contains_line_break,
        num_generations=8,
        max_new_tokens=8,
        max_prompt_length=24,
        num_minibatches=2,
        optimization_epochs=2,
        seed=0,
    )
    trainer.compile(learning_rate=1e-2)

    rollout = trainer.rollout(PROMPTS[:4])
    inputs = rollout["inputs"]
    assert inputs["token_ids"].shape == (32, 32)
    assert set(inputs) == {
        "token_ids", "padding_mask", "action_mask", "old_logprobs",
        "reference_logprobs", "advantages",
    }
    # Each prompt's 8 samples are consecutive; advantages are relative to them.
    assert rollout["prompts"] == [prompt for prompt in PROMPTS[:4] for _ in range(8)]
    advantages = inputs["advantages"].reshape(4, 8)
    np.testing.assert_allclose(advantages.mean(axis=1), 0.0, atol=1e-5)
    scores = rollout["scores"].reshape(4, 8)
    for group_scores, group_advantages in zip(scores, advantages, strict=True):
        if group_scores.std() > 0:
            np.testing.assert_allclose(
                group_advantages,
                (group_scores - group_scores.mean()) / (group_scores.std(ddof=1) + 1e-4),
                rtol=1e-5,
            )
    np.testing.assert_allclose(inputs["reference_logprobs"], inputs["old_logprobs"], atol=1e-5)
    assert rollout["metrics"]["objective/kl"] == pytest.approx(0.0, abs=1e-4)

    recorder = MetricsRecorder()
    epochs = 5 if learning else 1
    history = trainer.fit(
        PROMPTS, epochs=epochs, batch_size=4, callbacks=[recorder], verbose=0
    )
    scores = [step["objective/scores"] for step in recorder.steps]
    kls = [step["objective/kl"] for step in recorder.steps]
    print("GRPO scores", np.round(scores, 2).tolist(), "KL", np.round(kls, 2).tolist())
    assert len(scores) == 2 * epochs and len(history.history["loss"]) == epochs
    assert np.isfinite(kls).all() and kls[-1] < 15
    last = recorder.steps[-1]
    for name in ("loss/policy_avg", "loss/kl_avg", "policy/clipfrac_avg", "objective/rlhf_reward"):
        assert np.isfinite(last[name]), name
    if learning:
        assert np.mean(scores[-3:]) > np.mean(scores[:2]) + 0.25
        assert kls[-1] > 0
    after = trainer.predict(
        {"token_ids": inputs["token_ids"], "padding_mask": inputs["padding_mask"]},
        batch_size=16,
        verbose=0,
    )
    mask = inputs["action_mask"]
    np.testing.assert_allclose(
        after["reference_logprobs"] * mask, inputs["reference_logprobs"], atol=1e-5
    )
    assert np.abs((after["logprobs"] - inputs["old_logprobs"]) * mask).max() > 1e-3


@pytest.mark.parametrize("num_generations", [1, 0, 2.5, None])
def test_grpo_needs_at_least_two_generations_per_prompt(num_generations):
    with pytest.raises(KerasAlignError, match=r"num_generations \(G\) must be an integer >= 2"):
        GRPOTrainer(_policy(), contains_line_break, num_generations=num_generations)


def test_grpo_rejects_a_negative_beta_and_keeps_its_config():
    with pytest.raises(KerasAlignError, match="beta must be a number >= 0"):
        GRPOTrainer(_policy(), contains_line_break, beta=-0.1)
    trainer = GRPOTrainer(_policy(), contains_line_break, num_generations=2, beta=0.0)
    config = trainer.get_config()
    assert config["num_generations"] == 2 and config["beta"] == 0.0
    assert config["reward"] == "contains_line_break" and config["sampler"] == "random"


def test_grpo_fit_checks_the_minibatch_split():
    trainer = GRPOTrainer(_policy(), contains_line_break, num_generations=3, num_minibatches=2)
    trainer.compile()
    with pytest.raises(KerasAlignError, match="rollout batch of 9 responses"):
        trainer.fit(PROMPTS, batch_size=3, verbose=0)


def test_a_reward_model_is_not_part_of_the_trained_weights():
    policy = _policy()
    reward_model = kerasalign.RewardModel(
        kerasalign.load_causal_lm("tiny_gemma", lora_rank=2), sequence_length=32
    )
    trainer = GRPOTrainer(policy, reward_model, num_generations=2, max_new_tokens=2)
    trained = {id(weight) for weight in trainer.trainable_weights}
    assert trained == {id(weight) for weight in policy.trainable_weights}
    assert not trained & {id(weight) for weight in reward_model.weights}


def test_greedy_generation_is_greedy_again_after_rl_sampling():
    from kerasalign.models.generation import generate

    policy = _policy()
    first = generate(policy, PROMPTS[:2], max_new_tokens=4)
    trainer = GRPOTrainer(
        policy, contains_line_break, num_generations=2, max_new_tokens=4, seed=0
    )
    trainer.rollout(PROMPTS[:2])  # compiles a sampling sampler into the policy
    assert generate(policy, PROMPTS[:2], max_new_tokens=4) == first
