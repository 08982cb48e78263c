"""load_causal_lm: built-in presets, local preset directories and errors."""

import keras
import numpy as np
import pytest

import kerasalign


@pytest.mark.parametrize("name, cls", [("tiny_gemma", "GemmaCausalLM"), ("tiny_gemma3", "Gemma3CausalLM")])
def test_tiny_presets_load_with_tokenizer(name, cls):
    model = kerasalign.load_causal_lm(name, sequence_length=48)
    assert type(model).__name__ == cls
    tokenizer = model.preprocessor.tokenizer
    assert model.backbone.vocabulary_size == tokenizer.vocabulary_size() > 1000
    assert model.preprocessor.sequence_length == 48
    for special in ("<start_of_turn>", "<end_of_turn>"):
        ids = tokenizer.tokenize([special])[0]
        assert len(ids) == 1, f"{special} is not a single token"
    assert (tokenizer.pad_token_id, tokenizer.end_token_id, tokenizer.start_token_id) == (0, 1, 2)


def test_tiny_weights_are_deterministic():
    first = kerasalign.load_causal_lm("tiny_gemma").backbone.weights
    second = kerasalign.load_causal_lm("tiny_gemma").backbone.weights
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))


def test_unknown_preset_lists_what_is_available():
    with pytest.raises(kerasalign.PresetError) as info:
        kerasalign.load_causal_lm("gemma_tiny_typo")
    message = str(info.value)
    assert "tiny_gemma" in message and "gemma3_270m_gguf" in message
    assert "gemma2_instruct_2b_en" in message or "gemma" in message


def test_official_presets_are_known():
    names = kerasalign.models.official_gemma_presets()
    assert "gemma2_instruct_2b_en" in names
    assert any(name.startswith("gemma3") for name in names)


def test_local_preset_directory_round_trip(tmp_path):
    model = kerasalign.load_causal_lm("tiny_gemma3")
    model.save_to_preset(str(tmp_path / "preset"))
    loaded = kerasalign.load_causal_lm(str(tmp_path / "preset"), sequence_length=32)
    assert type(loaded).__name__ == "Gemma3CausalLM"
    x = {"token_ids": np.array([[2, 40, 41, 42]]), "padding_mask": np.ones((1, 4), bool)}
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(model(x)), keras.ops.convert_to_numpy(loaded(x)), atol=1e-5
    )


def test_directory_without_config_is_rejected(tmp_path):
    with pytest.raises(kerasalign.PresetError, match="config.json"):
        kerasalign.load_causal_lm(str(tmp_path))


def test_missing_gguf_file_is_rejected(tmp_path):
    with pytest.raises(kerasalign.PresetError, match="not found"):
        kerasalign.load_causal_lm(str(tmp_path / "missing.gguf"))


@pytest.mark.parametrize("value", [0, 1, "64", True])
def test_bad_sequence_length(value):
    with pytest.raises(kerasalign.PresetError, match="sequence_length"):
        kerasalign.load_causal_lm("tiny_gemma", sequence_length=value)
