"""SFTTrainer(chunk_size=...): the same loss and accuracy without full logits."""

import doctest

import keras
import numpy as np
import pytest

import kerasalign
from kerasalign.data import SFTPreprocessor
from kerasalign.data.length_buckets import LengthBuckets
from kerasalign.data.sft_preprocessor import loss_positions
from kerasalign.trainers import chunked_token_loss


def _batch(model, examples, length=64):
    return SFTPreprocessor(model.preprocessor.tokenizer, "gemma", length).batch(
        examples
    )


def _evaluate(trainer, x, y, weight):
    return trainer.evaluate(
        x, y, sample_weight=weight, batch_size=len(y), verbose=0, return_dict=True
    )


@pytest.mark.backend
@pytest.mark.parametrize("preset", ["tiny_gemma", "tiny_gemma3"])
def test_chunked_loss_equals_the_full_logits_loss(preset, sft_examples):
    model = kerasalign.load_causal_lm(preset, lora_rank=4)
    x, y, weight = _batch(model, sft_examples)
    full = kerasalign.SFTTrainer(model)
    full.compile()
    chunked = kerasalign.SFTTrainer(model, chunk_size=24)  # 24 does not divide 64
    chunked.compile()
    expected = _evaluate(full, x, y, weight)
    result = _evaluate(chunked, x, y, weight)
    np.testing.assert_allclose(result["loss"], expected["loss"], rtol=1e-5)
    np.testing.assert_allclose(result["accuracy"], expected["accuracy"], atol=1e-6)


@pytest.mark.backend
@pytest.mark.parametrize("remat", [False, True], ids=["keep", "remat"])
def test_chunked_training_follows_full_logits_training(sft_examples, remat):
    histories = []
    for chunk_size in (None, 16):
        keras.utils.set_random_seed(0)
        model = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
        x, y, weight = _batch(model, sft_examples)
        trainer = kerasalign.SFTTrainer(
            model, chunk_size=chunk_size, remat=remat and chunk_size is not None
        )
        trainer.compile(learning_rate=1e-2)
        history = trainer.fit(
            x, y, sample_weight=weight, batch_size=4, epochs=3, shuffle=False, verbose=0
        ).history
        histories.append(history)
    np.testing.assert_allclose(histories[1]["loss"], histories[0]["loss"], rtol=1e-3)
    assert histories[1]["loss"][-1] < histories[1]["loss"][0]
    assert "accuracy" in histories[1]


@pytest.mark.backend
@pytest.mark.parametrize("preset", ["tiny_gemma", "tiny_gemma3"])
def test_loss_only_at_response_positions_equals_the_full_logits_loss(preset, sft_examples):
    model = kerasalign.load_causal_lm(preset, lora_rank=4)
    x, y, weight = _batch(model, sft_examples)
    positions = loss_positions(weight)
    # Fewer positions than the sequence: the prompt and padding are skipped.
    assert positions.shape[1] < x["token_ids"].shape[1]
    full = kerasalign.SFTTrainer(model)
    full.compile()
    gathered = kerasalign.SFTTrainer(model, chunk_size=8)
    gathered.compile()
    expected = _evaluate(full, x, y, weight)
    result = _evaluate(gathered, {**x, "loss_positions": positions}, y, weight)
    np.testing.assert_allclose(result["loss"], expected["loss"], rtol=1e-5)
    np.testing.assert_allclose(result["accuracy"], expected["accuracy"], atol=1e-6)


def test_length_buckets_with_loss_positions_follow_padded_training(sft_examples):
    """One batch of all rows: bucketing and gathering change no number."""
    histories = []
    for gathered in (False, True):
        keras.utils.set_random_seed(0)
        model = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
        x, y, weight = _batch(model, sft_examples)
        trainer = kerasalign.SFTTrainer(model, chunk_size=16 if gathered else None)
        trainer.compile(learning_rate=1e-2)
        if gathered:
            x = {**x, "loss_positions": loss_positions(weight)}
            data = LengthBuckets(x, y, weight, batch_size=len(y), multiple=8)
            assert data[0][0]["token_ids"].shape[1] < 64
            history = trainer.fit(data, epochs=3, verbose=0).history
        else:
            history = trainer.fit(
                x, y, sample_weight=weight, batch_size=len(y), epochs=3, verbose=0
            ).history
        histories.append(history["loss"])
    np.testing.assert_allclose(histories[1], histories[0], rtol=1e-4)
    assert histories[1][-1] < histories[1][0]


def test_loss_positions_need_the_chunked_loss(sft_examples):
    model = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
    x, y, weight = _batch(model, sft_examples)
    trainer = kerasalign.SFTTrainer(model)
    trainer.compile()
    with pytest.raises(ValueError, match="chunk_size"):
        trainer.evaluate({**x, "loss_positions": loss_positions(weight)}, y, verbose=0)


def test_bad_chunk_settings_are_refused():
    model = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
    with pytest.raises(ValueError, match="chunk_size must be"):
        kerasalign.SFTTrainer(model, chunk_size=0)
    with pytest.raises(ValueError, match="set chunk_size"):
        kerasalign.SFTTrainer(model, remat=True)
    trainer = kerasalign.SFTTrainer(model, chunk_size=16)
    with pytest.raises(ValueError, match="computes its own loss"):
        trainer.compile(loss=keras.losses.SparseCategoricalCrossentropy())


def test_docstring_examples():
    result = doctest.testmod(chunked_token_loss, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
