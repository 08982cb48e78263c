"""PPOTrainer: a rule-based reward rises, KL is reported and bounded, errors are clear."""

import keras
import numpy as np
import pytest
from rule_rewards import PROMPTS, contains_line_break

import kerasalign
from kerasalign.errors import KerasAlignError
from kerasalign.trainers import MetricsRecorder, PPOTrainer


def _policy():
    return kerasalign.load_causal_lm("tiny_gemma", lora_rank=8, lora_targets="all")


def _snapshot(variables):
    return [keras.ops.convert_to_numpy(v).copy() for v in variables]


def _log_softmax_at(policy, token_ids, padding_mask):
    logits = keras.ops.convert_to_numpy(
        policy({"token_ids": token_ids, "padding_mask": padding_mask})
    ).astype("float64")
    top = logits.max(-1, keepdims=True)
    log_softmax = logits - top - np.log(np.exp(logits - top).sum(-1, keepdims=True))
    return np.take_along_axis(log_softmax[:, :-1], token_ids[:, 1:, None], -1)[..., 0]


@pytest.mark.backend
def test_ppo_raises_a_rule_based_reward_with_bounded_kl():
    # One trainer for every check, so generation, the rollout forward pass
    # and the train step compile once (CI time). PyTorch runs this CPU model
    # eagerly and about five times slower (15 s per rollout batch against
    # 3 s here under load), so there the learning run is cut to a smoke run
    # of two rollout batches; JAX and TensorFlow show the reward rising.
    learning = keras.config.backend() != "torch"
    policy = _policy()
    trainer = PPOTrainer(
        policy,
        contains_line_break,
        max_new_tokens=8,
        max_prompt_length=24,
        num_minibatches=2,
        seed=0,
    )
    trainer.compile(learning_rate=3e-3)
    prompts = PROMPTS * 4

    rollout = trainer.rollout(prompts)
    inputs, metrics = rollout["inputs"], rollout["metrics"]
    mask = inputs["action_mask"]
    assert inputs["token_ids"].shape == (32, 24 + 8) and mask.shape == (32, 31)
    assert set(inputs) == {
        "token_ids", "padding_mask", "action_mask", "old_logprobs",
        "old_values", "advantages", "returns",
    }
    assert (mask.sum(axis=1) >= 1).all() and (mask.sum(axis=1) <= 8).all()
    assert len(rollout["responses"]) == 32 and rollout["prompts"] == prompts
    # Before any update the policy is the reference (KL 0) and the old
    # log-probs are the policy's log-softmax at the sampled tokens.
    assert metrics["objective/kl"] == pytest.approx(0.0, abs=1e-4)
    expected = _log_softmax_at(policy, inputs["token_ids"][:4], inputs["padding_mask"][:4])
    np.testing.assert_allclose(inputs["old_logprobs"][:4], expected * mask[:4], atol=2e-4)
    forward = {"token_ids": inputs["token_ids"], "padding_mask": inputs["padding_mask"]}
    reference_before = trainer.predict(forward, batch_size=16, verbose=0)["reference_logprobs"]
    frozen_before = _snapshot(policy.backbone.non_trainable_weights)

    recorder = MetricsRecorder()
    epochs = 10 if learning else 2
    history = trainer.fit(prompts, epochs=epochs, batch_size=32, callbacks=[recorder], verbose=0)
    scores = [step["objective/scores"] for step in recorder.steps]
    kls = [step["objective/kl"] for step in recorder.steps]
    print("PPO scores", np.round(scores, 2).tolist(), "KL", np.round(kls, 2).tolist())
    print("rollout s", [round(step["time/rollout_s"], 2) for step in recorder.steps])
    print("update s", [round(step["time/update_s"], 2) for step in recorder.steps])
    assert len(scores) == epochs and len(history.history["objective/scores"]) == epochs
    assert np.isfinite(kls).all() and kls[-1] < 15
    if learning:
        assert np.mean(scores[-3:]) > np.mean(scores[:2]) + 0.25
        assert kls[-1] > 0
    for name in (
        "objective/rlhf_reward",
        "objective/non_score_reward",
        "policy/clipfrac_avg",
        "loss/policy_avg",
        "loss/value_avg",
        "completions/mean_length",
    ):
        assert np.isfinite(recorder.steps[-1][name]), name
    assert 1 <= recorder.steps[-1]["completions/mean_length"] <= 8

    # Only the LoRA factors and the value head trained; the base, and so
    # the reference, did not move.
    names = {v.path.split("/")[-1] for v in trainer.trainable_variables}
    assert names == {"lora_kernel_a", "lora_kernel_b", "kernel", "bias"}
    heads = {v.path.split("/")[0] for v in trainer.trainable_variables if "lora" not in v.path}
    assert heads == {"value_head"}
    for before, after in zip(
        frozen_before, _snapshot(policy.backbone.non_trainable_weights), strict=True
    ):
        np.testing.assert_array_equal(before, after)
    after = trainer.predict(forward, batch_size=16, verbose=0)
    np.testing.assert_allclose(after["reference_logprobs"], reference_before, atol=1e-5)
    assert np.abs((after["logprobs"] - reference_before) * mask).max() > 1e-2

    # A reward returning the wrong shape or NaN, and a loss that overflows,
    # stop training with a message.
    trainer.reward = lambda p, r: [1.0] * (len(r) - 1)
    with pytest.raises(KerasAlignError, match=r"shape \(31,\) for 32 responses"):
        trainer.fit(prompts, batch_size=32, verbose=0)
    trainer.reward = lambda p, r: [float("nan")] + [0.0] * (len(r) - 1)
    with pytest.raises(KerasAlignError, match="1 non-finite score"):
        trainer.fit(prompts, batch_size=32, verbose=0)
    # Returns near the float32 limit overflow the squared value error.
    trainer.reward = lambda p, r: [1e30] * len(r)
    with pytest.raises(KerasAlignError, match="diverged at epoch 1, rollout batch 1"):
        trainer.fit(prompts, batch_size=32, verbose=0)


def test_ppo_needs_a_lora_policy():
    with pytest.raises(KerasAlignError, match="no LoRA layers"):
        PPOTrainer(kerasalign.load_causal_lm("tiny_gemma"), contains_line_break)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kl_coef": -0.1}, "kl_coef must be a number >= 0"),
        ({"target_kl": 0}, "target_kl must be a positive number"),
        ({"gamma": 1.5}, "gamma must be a number"),
        ({"lam": -0.1}, "lam must be a number"),
        ({"clip_range": 0}, "clip_range must be a number > 0"),
        ({"value_clip_range": -1.0}, "value_clip_range must be a number > 0"),
        ({"max_new_tokens": 0}, "max_new_tokens must be an integer >= 1"),
        ({"num_minibatches": 0}, "num_minibatches must be an integer >= 1"),
        ({"optimization_epochs": 1.5}, "optimization_epochs must be an integer"),
        ({"temperature": 0.0}, "temperature must be a number > 0"),
        ({"sampler": "greedy"}, "sampler must be one of"),
        ({"missing_eos_penalty": -1.0}, "missing_eos_penalty must be a number >= 0"),
        ({"template": "no_such_template"}, "no_such_template"),
    ],
)
def test_ppo_rejects_bad_hyperparameters(kwargs, message):
    with pytest.raises(KerasAlignError, match=message):
        PPOTrainer(_policy(), contains_line_break, **kwargs)


def test_ppo_rejects_a_reward_that_cannot_score():
    with pytest.raises(KerasAlignError, match="reward must be a kerasalign.RewardModel"):
        PPOTrainer(_policy(), "contains a line break")


@pytest.mark.parametrize(
    "prompts, message",
    [
        ([], "The prompt set is empty"),
        ("Hi", "prompts must be a list"),
        (["Hi", "  "], "Prompt 1 is empty"),
        (["Hi", 3], "Prompt 1 is a int"),
    ],
)
def test_fit_rejects_bad_prompt_sets(prompts, message):
    trainer = PPOTrainer(_policy(), contains_line_break)
    trainer.compile()
    with pytest.raises(KerasAlignError, match=message):
        trainer.fit(prompts, verbose=0)


def test_fit_checks_compile_and_minibatches():
    trainer = PPOTrainer(_policy(), contains_line_break, num_minibatches=3)
    with pytest.raises(KerasAlignError, match="Call compile"):
        trainer.fit(PROMPTS, verbose=0)
    trainer.compile()
    with pytest.raises(KerasAlignError, match="does not split into num_minibatches=3"):
        trainer.fit(PROMPTS, batch_size=8, verbose=0)
    with pytest.raises(KerasAlignError, match="batch_size must be an integer >= 1"):
        trainer.fit(PROMPTS, batch_size=0, verbose=0)
