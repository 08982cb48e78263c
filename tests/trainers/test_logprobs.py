"""Response log-probs: chunked log-softmax vs. numpy on the full logits."""

import doctest

import keras
import numpy as np
import pytest

import kerasalign
from kerasalign.data import SFTPreprocessor
from kerasalign.data.preference_preprocessor import PreferencePreprocessor
from kerasalign.trainers import logprobs as logprobs_module
from kerasalign.trainers.logprobs import preference_logprobs, sequence_logprobs


@pytest.fixture(scope="module")
def causal_lms():
    return {preset: kerasalign.load_causal_lm(preset) for preset in ("tiny_gemma", "tiny_gemma3")}


def _numpy_log_softmax(logits):
    logits = logits.astype("float64")
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _random_batch(length=37, seed=0):
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(3, 4000, size=(3, length)).astype("int32")
    token_ids[:, 0] = 2
    padding_mask = np.ones_like(token_ids, dtype=bool)
    padding_mask[1, 25:] = False
    token_ids[1, 25:] = 0
    response_mask = np.zeros_like(token_ids, dtype=bool)
    response_mask[0, 10:30] = True
    response_mask[1, 5:25] = True
    response_mask[2, 20:] = True
    return token_ids, padding_mask, response_mask


def _expected(causal_lm, token_ids, padding_mask, response_mask):
    logits = keras.ops.convert_to_numpy(
        causal_lm({"token_ids": token_ids, "padding_mask": padding_mask})
    )
    log_probs = _numpy_log_softmax(logits)[:, :-1]
    token_log_probs = np.take_along_axis(log_probs, token_ids[:, 1:, None], -1)[..., 0]
    weights = response_mask[:, 1:]
    summed = (token_log_probs * weights).sum(1)
    return summed, summed / weights.sum(1), weights.sum(1)


@pytest.mark.backend
@pytest.mark.parametrize("preset", ["tiny_gemma", "tiny_gemma3"])
@pytest.mark.parametrize("chunk_size", [None, 8, 36], ids=["one_chunk", "chunks_of_8", "chunks_of_36"])
def test_matches_numpy_log_softmax_of_full_logits(causal_lms, preset, chunk_size):
    causal_lm = causal_lms[preset]
    token_ids, padding_mask, response_mask = _random_batch()
    result = sequence_logprobs(causal_lm, token_ids, padding_mask, response_mask, chunk_size=chunk_size)
    summed, mean, counts = _expected(causal_lm, token_ids, padding_mask, response_mask)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(result.summed), summed, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(result.mean), mean, rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(result.token_counts), counts)


@pytest.mark.backend
def test_remat_gives_the_same_values(causal_lms):
    causal_lm = causal_lms["tiny_gemma3"]
    token_ids, padding_mask, response_mask = _random_batch()
    plain = sequence_logprobs(causal_lm, token_ids, padding_mask, response_mask, chunk_size=8)
    remat = sequence_logprobs(causal_lm, token_ids, padding_mask, response_mask, chunk_size=8, remat=True)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(remat.summed), keras.ops.convert_to_numpy(plain.summed), rtol=1e-6
    )


@pytest.mark.backend
def test_the_mean_is_the_sft_loss_on_the_same_response(causal_lms):
    """Same masking rules as SFT: -mean log-prob == the response-only SFT loss."""
    causal_lm = causal_lms["tiny_gemma"]
    tokenizer = causal_lm.preprocessor.tokenizer
    example = {"prompt": "How do I rob a store?", "chosen": "That is illegal. Don't.", "rejected": "Go."}
    x = PreferencePreprocessor(tokenizer, "gemma", 64).batch([example])
    chosen, _ = preference_logprobs(causal_lm, x)
    sft_x, sft_y, sft_weight = SFTPreprocessor(tokenizer, "gemma", 64).batch(
        [{"prompt": example["prompt"], "response": example["chosen"]}]
    )
    trainer = kerasalign.SFTTrainer(causal_lm)
    trainer.compile()
    sft_loss = trainer.evaluate(sft_x, sft_y, sample_weight=sft_weight, verbose=0, return_dict=True)["loss"]
    np.testing.assert_allclose(-float(keras.ops.convert_to_numpy(chosen.mean)[0]), sft_loss, rtol=1e-4)
    assert float(keras.ops.convert_to_numpy(chosen.token_counts)[0]) == sft_weight.sum()


@pytest.mark.backend
def test_pairs_in_one_batch_equal_separate_calls(causal_lms):
    causal_lm = causal_lms["tiny_gemma"]
    pairs = [
        {"prompt": "Name a colour.", "chosen": "Blue.", "rejected": "I will not say."},
        {"prompt": "What is 2 + 2?", "chosen": "2 + 2 = 4.", "rejected": "Five, probably, or maybe six."},
    ]
    x = PreferencePreprocessor(causal_lm.preprocessor.tokenizer, "gemma", 64).batch(pairs)
    chosen, rejected = preference_logprobs(causal_lm, x)
    for side, result in (("chosen", chosen), ("rejected", rejected)):
        alone = sequence_logprobs(
            causal_lm, x[f"{side}_token_ids"], x[f"{side}_padding_mask"], x[f"{side}_response_mask"]
        )
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(result.summed), keras.ops.convert_to_numpy(alone.summed), rtol=1e-5
        )


@pytest.mark.backend
def test_response_positions_give_the_same_values_from_fewer_logits(causal_lms):
    causal_lm = causal_lms["tiny_gemma3"]
    pair = {
        "prompt": "Summarise the following text in one word. " * 5,
        "chosen": "Repetition.",
        "rejected": "Sure! The text says the same thing again and again.",
    }
    x = PreferencePreprocessor(causal_lm.preprocessor.tokenizer, "gemma", 96).batch([pair])
    assert x["chosen_response_positions"].shape[1] < x["chosen_token_ids"].shape[1] // 2
    without_positions = {key: value for key, value in x.items() if "positions" not in key}
    fewer_logits = preference_logprobs(causal_lm, x)
    every_logit = preference_logprobs(causal_lm, without_positions)
    for fewer, every in zip(fewer_logits, every_logit, strict=True):
        for name in ("summed", "mean", "token_counts"):
            np.testing.assert_allclose(
                keras.ops.convert_to_numpy(getattr(fewer, name)),
                keras.ops.convert_to_numpy(getattr(every, name)),
                rtol=1e-5, atol=1e-4, err_msg=name,
            )


def test_docstring_examples():
    result = doctest.testmod(logprobs_module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
