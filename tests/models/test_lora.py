"""LoRA: only the factors train; adapters save, load, merge and refuse misuse."""

import keras
import numpy as np
import pytest

import kerasalign
from kerasalign.data import SFTPreprocessor
from kerasalign.models import lora

X = {"token_ids": np.array([[2, 30, 31, 32, 33, 34]]), "padding_mask": np.ones((1, 6), bool)}


def _logits(model):
    return keras.ops.convert_to_numpy(model(X))


def _train_a_little(model, examples, steps=3, learning_rate=1e-2):
    preprocessor = SFTPreprocessor(model.preprocessor.tokenizer, "gemma", 64)
    x, y, weight = preprocessor.batch(examples)
    trainer = kerasalign.SFTTrainer(model)
    trainer.compile(learning_rate=learning_rate)
    trainer.fit(x, y, sample_weight=weight, batch_size=len(examples), epochs=steps, verbose=0)


def test_parameter_counts_and_targets():
    model = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
    counts = kerasalign.parameter_counts(model)
    # Per layer: query A (4,128,4)... computed from the actual shapes.
    expected = sum(
        int(np.prod(w.shape)) for w in model.backbone.weights if "lora_kernel" in w.path
    )
    assert counts["trainable"] == expected > 0
    assert counts["trainable_fraction"] < 0.05
    assert lora.lora_state(model)["targets"] == ["query", "value"]
    everything = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4, lora_targets="all")
    assert lora.lora_state(everything)["targets"] == sorted(lora.TARGET_GROUPS["all"])


@pytest.mark.backend
def test_only_lora_weights_change_after_a_step(sft_examples):
    model = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
    before = {w.path: keras.ops.convert_to_numpy(w) for w in model.backbone.weights}
    # Two steps: B starts at zero, so A's gradient is zero on the first step.
    _train_a_little(model, sft_examples, steps=2)
    for w in model.backbone.weights:
        changed = not np.array_equal(before[w.path], keras.ops.convert_to_numpy(w))
        if "lora_kernel" in w.path:
            assert changed, f"LoRA weight {w.path} did not change"
        else:
            assert not changed, f"frozen weight {w.path} changed"


@pytest.mark.backend
def test_adapter_save_load_gives_same_logits(tmp_path, sft_examples):
    model = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4, lora_alpha=8)
    _train_a_little(model, sft_examples)
    kerasalign.save_adapter(model, tmp_path / "adapter")
    assert (tmp_path / "adapter" / "adapter.lora.h5").stat().st_size < 200_000
    fresh = kerasalign.load_causal_lm("tiny_gemma")
    assert not np.allclose(_logits(fresh), _logits(model), atol=1e-4)
    config = kerasalign.load_adapter(fresh, tmp_path / "adapter")
    assert config["rank"] == 4 and config["alpha"] == 8
    np.testing.assert_allclose(_logits(fresh), _logits(model), atol=1e-5)


@pytest.mark.backend
def test_merge_gives_same_logits_and_saves_plain_preset(tmp_path, sft_examples):
    model = kerasalign.load_causal_lm("tiny_gemma3", lora_rank=4, lora_targets="all")
    _train_a_little(model, sft_examples)
    merged = kerasalign.merge_adapter(model)
    assert lora.lora_state(merged) is None
    np.testing.assert_allclose(_logits(merged), _logits(model), atol=1e-4)
    merged.save_to_preset(str(tmp_path / "merged"))
    reloaded = kerasalign.load_causal_lm(str(tmp_path / "merged"))
    np.testing.assert_allclose(_logits(reloaded), _logits(model), atol=1e-4)


def test_wrong_rank_is_refused(tmp_path):
    model = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
    kerasalign.save_adapter(model, tmp_path / "adapter")
    other = kerasalign.load_causal_lm("tiny_gemma", lora_rank=8)
    with pytest.raises(kerasalign.AdapterError, match="rank 4"):
        kerasalign.load_adapter(other, tmp_path / "adapter")


def test_other_architecture_is_refused(tmp_path):
    model = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
    kerasalign.save_adapter(model, tmp_path / "adapter")
    other = kerasalign.load_causal_lm("tiny_gemma3")
    with pytest.raises(kerasalign.AdapterError, match="backbone_class"):
        kerasalign.load_adapter(other, tmp_path / "adapter")


def test_not_an_adapter_directory(tmp_path):
    with pytest.raises(kerasalign.AdapterError, match="not a kerasalign adapter"):
        kerasalign.load_adapter(kerasalign.load_causal_lm("tiny_gemma"), tmp_path)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"rank": 0}, "rank"),
        ({"rank": 4, "alpha": -1}, "alpha"),
        ({"rank": 4, "targets": "everything"}, "lora_targets"),
        ({"rank": 4, "targets": ["query", "bogus"]}, "bogus"),
    ],
)
def test_enable_lora_validates_arguments(kwargs, match):
    with pytest.raises(kerasalign.AdapterError, match=match):
        kerasalign.enable_lora(kerasalign.load_causal_lm("tiny_gemma"), **kwargs)


def test_enable_lora_twice_is_refused():
    model = kerasalign.load_causal_lm("tiny_gemma", lora_rank=2)
    with pytest.raises(kerasalign.AdapterError, match="already enabled"):
        kerasalign.enable_lora(model, 4)


def test_save_without_lora_is_refused(tmp_path):
    with pytest.raises(kerasalign.AdapterError, match="enable_lora"):
        kerasalign.save_adapter(kerasalign.load_causal_lm("tiny_gemma"), tmp_path / "a")
