"""RewardModel: learning preferences, the last-token head, save and load."""

import doctest
import json

import keras
import numpy as np
import pytest

import kerasalign
from kerasalign.trainers import reward_model as reward_model_module
from kerasalign.trainers.losses import bradley_terry_loss
from kerasalign.trainers.reward_model import RewardModel

SEQUENCE_LENGTH = 64


@pytest.fixture(scope="module")
def pairs():
    return kerasalign.datasets.load("safety_preferences")[::25][:16]


def _weights(model):
    return {w.path: keras.ops.convert_to_numpy(w).copy() for w in model.weights}


@pytest.mark.backend
def test_reward_model_learns_the_preferences_and_saves(pairs, tmp_path):
    causal_lm = kerasalign.load_causal_lm("tiny_gemma", lora_rank=8, lora_targets="all")
    reward_model = RewardModel(causal_lm, sequence_length=SEQUENCE_LENGTH)
    x = reward_model.preprocessor.batch(pairs)
    before = _weights(reward_model)
    reward_model.compile(learning_rate=3e-3)
    history = reward_model.fit(x, batch_size=8, epochs=5, verbose=0).history
    assert history["loss"][-1] < 0.3 * history["loss"][0]
    assert history["margin"][-1] > history["margin"][0] + 1.0
    result = reward_model.evaluate(x, batch_size=8, verbose=0, return_dict=True)
    assert result["accuracy"] >= 0.9 and result["margin"] > 1.0

    chosen = reward_model.score([p.prompt for p in pairs], [p.chosen for p in pairs])
    rejected = reward_model.score([p.prompt for p in pairs], [p.rejected for p in pairs])
    assert chosen.shape == (len(pairs),) and chosen.dtype == np.float32
    assert (chosen > rejected).mean() >= 0.9

    # Only the LoRA factors and the head changed.
    trainable = {w.path for w in reward_model.trainable_weights}
    assert all("lora_kernel" in path or "reward_head" in path for path in trainable)
    for path, value in _weights(reward_model).items():
        if path not in trainable:
            np.testing.assert_array_equal(value, before[path], err_msg=path)

    reward_model.save_to_directory(tmp_path / "rm", base_preset="tiny_gemma")
    assert sorted(p.name for p in (tmp_path / "rm").iterdir()) == [
        "adapter", "reward_head.npz", "reward_model.json",
    ]
    restored = RewardModel.from_directory(tmp_path / "rm")
    np.testing.assert_allclose(
        restored.score([p.prompt for p in pairs], [p.chosen for p in pairs]), chosen, rtol=1e-4, atol=1e-4
    )


@pytest.mark.backend
def test_loss_is_bradley_terry_of_the_predicted_rewards_with_margins(pairs):
    reward_model = RewardModel(kerasalign.load_causal_lm("tiny_gemma"), sequence_length=SEQUENCE_LENGTH,
                               center_rewards_coefficient=0.05)
    x = reward_model.preprocessor.batch(pairs[:4])
    x["margin"] = np.array([0.0, 0.5, 1.0, 2.0], "float32")
    rewards = reward_model.predict(x, batch_size=4, verbose=0)
    expected, _ = bradley_terry_loss(
        rewards["chosen_rewards"], rewards["rejected_rewards"], x["margin"], center_rewards_coefficient=0.05
    )
    reward_model.compile()
    result = reward_model.evaluate(x, batch_size=4, verbose=0, return_dict=True)
    np.testing.assert_allclose(result["loss"], float(keras.ops.convert_to_numpy(expected)), rtol=1e-5)
    np.testing.assert_allclose(
        result["margin"], np.mean(rewards["chosen_rewards"] - rewards["rejected_rewards"]), rtol=1e-5, atol=1e-6
    )


@pytest.mark.backend
def test_reward_is_read_at_the_last_real_token():
    reward_model = RewardModel(kerasalign.load_causal_lm("tiny_gemma3"), sequence_length=SEQUENCE_LENGTH)
    inputs = reward_model.preprocessor.encode(
        ["Name a colour.", "Tell me a long story about a dragon who learns to bake bread."],
        ["Blue.", "Once upon a time a dragon found an oven and, after many burnt loaves, a recipe."],
    )
    last = int(inputs["padding_mask"][0].sum()) - 1
    changed_padding = {key: value.copy() for key, value in inputs.items()}
    changed_padding["token_ids"][0, last + 1 :] = 7
    changed_last_token = {key: value.copy() for key, value in inputs.items()}
    changed_last_token["token_ids"][0, last] = 7
    rewards = [
        reward_model.predict(batch, batch_size=2, verbose=0)
        for batch in (inputs, changed_padding, changed_last_token)
    ]
    np.testing.assert_allclose(rewards[1], rewards[0], rtol=1e-5, atol=1e-6)
    assert rewards[2][0] != pytest.approx(rewards[0][0], abs=1e-4)
    assert rewards[2][1] == pytest.approx(rewards[0][1], abs=1e-5)


def test_without_lora_the_whole_model_is_saved(tmp_path):
    reward_model = RewardModel(kerasalign.load_causal_lm("tiny_gemma"), sequence_length=SEQUENCE_LENGTH)
    norm_scale = reward_model.backbone.get_layer("final_normalization").weights[0]
    norm_scale.assign(np.full(norm_scale.shape, 0.5, "float32"))  # as if fine-tuned
    reward_model.reward_head.bias.assign(np.array([1.5], "float32"))
    reward_model.save_to_directory(tmp_path / "rm")
    assert (tmp_path / "rm" / "model" / "config.json").is_file()
    restored = RewardModel.from_directory(tmp_path / "rm")
    restored_scale = restored.backbone.get_layer("final_normalization").weights[0]
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(restored_scale), 0.5)
    for original, loaded in zip(reward_model.reward_head.weights, restored.reward_head.weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded), keras.ops.convert_to_numpy(original))


def test_an_adapter_is_reloaded_on_a_base_of_the_dtype_it_was_trained_in(tmp_path):
    causal_lm = kerasalign.load_causal_lm("tiny_gemma", lora_rank=2, dtype="bfloat16")
    RewardModel(causal_lm).save_to_directory(tmp_path / "rm", base_preset="tiny_gemma")
    config = json.loads((tmp_path / "rm" / "reward_model.json").read_text())
    assert config["dtype"] == "bfloat16"
    restored = RewardModel.from_directory(tmp_path / "rm")
    assert restored.backbone.dtype_policy.name == "bfloat16"
    assert restored.backbone.token_embedding.embeddings.dtype == "bfloat16"

    # Directories written before the dtype was recorded load the preset's dtype.
    del config["dtype"]
    (tmp_path / "rm" / "reward_model.json").write_text(json.dumps(config))
    assert RewardModel.from_directory(tmp_path / "rm").backbone.dtype_policy.name == "float32"


def test_an_adapter_trained_on_an_int8_base_is_reloaded_on_an_int8_base(tmp_path):
    from kerasalign.models.quantization import is_quantized

    causal_lm = kerasalign.load_causal_lm("tiny_gemma", lora_rank=2, quantize="int8")
    RewardModel(causal_lm).save_to_directory(tmp_path / "rm", base_preset="tiny_gemma")
    config = json.loads((tmp_path / "rm" / "reward_model.json").read_text())
    assert config["quantize"] == "int8"
    assert is_quantized(RewardModel.from_directory(tmp_path / "rm").causal_lm)
    # A float base records no quantization and reloads as float.
    RewardModel(kerasalign.load_causal_lm("tiny_gemma", lora_rank=2)).save_to_directory(
        tmp_path / "float", base_preset="tiny_gemma"
    )
    assert json.loads((tmp_path / "float" / "reward_model.json").read_text())["quantize"] is None
    assert not is_quantized(RewardModel.from_directory(tmp_path / "float").causal_lm)


def test_bad_arguments_and_directories(tmp_path):
    causal_lm = kerasalign.load_causal_lm("tiny_gemma", lora_rank=2)
    with pytest.raises(kerasalign.KerasAlignError, match="center_rewards_coefficient must be a number >= 0"):
        RewardModel(causal_lm, center_rewards_coefficient=-1.0)
    with pytest.raises(kerasalign.KerasAlignError, match="KerasHub CausalLM"):
        RewardModel(causal_lm.backbone)
    with pytest.raises(kerasalign.KerasAlignError, match="not a kerasalign reward model directory"):
        RewardModel.from_directory(tmp_path)
    reward_model = RewardModel(causal_lm)
    reward_model.save_to_directory(tmp_path / "rm")  # an adapter, no base preset stored
    with pytest.raises(kerasalign.KerasAlignError, match="pass the base model as causal_lm"):
        RewardModel.from_directory(tmp_path / "rm")
    with pytest.raises(ValueError, match="one response per prompt"):
        reward_model.score(["a", "b"], ["only one"])
    with pytest.raises(kerasalign.DataError, match='line 2, field "rejected"'):
        reward_model.preprocessor.batch([{"prompt": "Q", "chosen": "A", "rejected": "B"}, {"prompt": "Q", "chosen": "A"}])


def test_config_round_trip():
    reward_model = RewardModel(
        kerasalign.load_causal_lm("tiny_gemma"), template="chatml", sequence_length=48,
        center_rewards_coefficient=0.01,
    )
    restored = RewardModel.from_config(reward_model.get_config())
    assert (restored.template, restored.sequence_length, restored.center_rewards_coefficient) == (
        "chatml", 48, 0.01,
    )


@pytest.mark.backend
def test_docstring_examples():
    result = doctest.testmod(reward_model_module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
