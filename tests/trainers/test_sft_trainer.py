"""SFTTrainer: the response-only loss, learning, memorisation, and NaN guard."""

import keras
import numpy as np
import pytest

import kerasalign
from kerasalign.data import SFTPreprocessor
from kerasalign.trainers.sft_run import run_sft


def _batch(model, examples, length=64):
    return SFTPreprocessor(model.preprocessor.tokenizer, "gemma", length).batch(examples)


def _log_softmax(logits):
    shifted = logits - logits.max(-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))


@pytest.mark.backend
def test_loss_is_the_mean_over_response_tokens(sft_examples):
    model = kerasalign.load_causal_lm("tiny_gemma")
    x, y, weight = _batch(model, sft_examples[:3])
    trainer = kerasalign.SFTTrainer(model)
    trainer.compile()
    reported = trainer.evaluate(x, y, sample_weight=weight, batch_size=3, verbose=0, return_dict=True)
    logits = keras.ops.convert_to_numpy(model(x)).astype("float64")
    token_nll = -np.take_along_axis(_log_softmax(logits), y[..., None], -1)[..., 0]
    expected = (token_nll * weight).sum() / weight.sum()
    np.testing.assert_allclose(reported["loss"], expected, rtol=1e-4)
    # Keras' default reduction would divide by every position instead.
    assert expected > (token_nll * weight).sum() / weight.size * 1.5


@pytest.mark.backend
def test_lora_sft_lowers_the_loss(sft_examples):
    model = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
    x, y, weight = _batch(model, sft_examples)
    trainer = kerasalign.SFTTrainer(model)
    trainer.compile(learning_rate=1e-2)
    history = trainer.fit(x, y, sample_weight=weight, batch_size=4, epochs=15, verbose=0).history
    assert history["loss"][-1] < 0.85 * history["loss"][0]


@pytest.mark.backend
@pytest.mark.parametrize("lora_rank", [16, None], ids=["lora16_all", "full"])
def test_sft_memorises_eight_examples(sft_examples, lora_rank):
    model = kerasalign.load_causal_lm("tiny_gemma", lora_rank=lora_rank, lora_targets="all")
    x, y, weight = _batch(model, sft_examples)
    trainer = kerasalign.SFTTrainer(model)
    trainer.compile(learning_rate=1e-2 if lora_rank else 1e-3)
    history = trainer.fit(x, y, sample_weight=weight, batch_size=4, epochs=15, verbose=0).history
    assert history["loss"][-1] < 0.4 * history["loss"][0]
    assert history["accuracy"][-1] > 0.5


@pytest.mark.backend
def test_run_sft_writes_outputs_with_validation_and_early_stopping(tmp_path, sft_examples):
    model = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
    summary = run_sft(
        model,
        sft_examples * 2,
        validation_split=0.25,
        early_stopping_patience=2,
        epochs=4,
        batch_size=4,
        learning_rate=1e-2,
        output_dir=tmp_path / "run",
        verbose=0,
    )
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["adapter", "loss.png", "metrics.json"]
    assert summary["validation_examples"] == 4 and "val_loss" in summary["final"]
    assert summary["preprocessing"]["kept"] == 12


def test_run_sft_diverging_saves_nothing(tmp_path, sft_examples):
    model = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
    # A non-finite weight makes every loss NaN, as a diverged run would.
    embeddings = model.backbone.token_embedding.embeddings
    embeddings.assign(np.full(embeddings.shape, np.nan, "float32"))
    with pytest.raises(kerasalign.KerasAlignError, match="diverged"):
        run_sft(model, sft_examples, epochs=2, output_dir=tmp_path / "run", verbose=0)
    assert not (tmp_path / "run").exists()
    assert list(tmp_path.iterdir()) == []


def test_early_stopping_needs_validation(sft_examples):
    model = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
    with pytest.raises(kerasalign.KerasAlignError, match="validation"):
        run_sft(model, sft_examples, early_stopping_patience=2, verbose=0)
