"""Perplexity in overlapping windows, checked by hand and against numpy."""

import doctest
import math

import keras
import numpy as np
import pytest

from kerasalign.errors import DataError
from kerasalign.eval import perplexity as perplexity_module
from kerasalign.eval.perplexity import _window_spans, perplexity
from kerasalign.models import load_causal_lm

SHORT_TEXT = "The river rose slowly through the night."
TEXT = (
    "The river rose slowly through the night, and by morning the low fields "
    "behind the mill were under a foot of brown water."
)


@pytest.fixture(scope="module")
def causal_lm():
    return load_causal_lm("tiny_gemma3", sequence_length=64)


def numpy_log_softmax(logits):
    logits = logits.astype("float64")
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def reference_nll(causal_lm, token_ids, spans, padded_length=64):
    """Summed NLL from full float32 logits, one window at a time."""
    bos = causal_lm.preprocessor.tokenizer.start_token_id
    total = 0.0
    for begin, end, scored_from in spans:
        sequence = [bos] + token_ids[begin:end]
        # Right padding does not change causal logits; one shape, one trace.
        padded = np.zeros((1, padded_length), dtype="int32")
        padded[0, : len(sequence)] = sequence
        padding_mask = (np.arange(padded_length) < len(sequence))[None].astype("int32")
        logits = keras.ops.convert_to_numpy(
            causal_lm({"token_ids": padded, "padding_mask": padding_mask})
        )[0]
        log_probs = numpy_log_softmax(logits)
        for token in range(scored_from, end):
            position = token - begin  # predicts sequence[position + 1]
            total -= log_probs[position, token_ids[token]]
    return total


def tokens_of(causal_lm, text):
    tokenizer = causal_lm.preprocessor.tokenizer
    return keras.ops.convert_to_numpy(tokenizer(text)).tolist()


def test_window_spans_by_hand():
    # 10 tokens, 4 per window, stride 2: each new window scores 2 new tokens
    # with at least 2 tokens of context.
    assert _window_spans(10, 4, 2, 0) == [(0, 4, 0), (2, 6, 4), (4, 8, 6), (6, 10, 8)]
    # Disjoint windows.
    assert _window_spans(10, 4, 4, 0) == [(0, 4, 0), (4, 8, 4), (8, 10, 8)]
    # Without a start token the first token is context only.
    assert _window_spans(3, 4, 2, 1) == [(0, 3, 1)]


@pytest.mark.backend
def test_uniform_model_has_perplexity_equal_to_vocabulary_size(causal_lm):
    # Zero embeddings give zero logits: every token has probability 1 / V.
    uniform = load_causal_lm("tiny_gemma3", sequence_length=64)
    embeddings = uniform.backbone.token_embedding.embeddings
    embeddings.assign(np.zeros(embeddings.shape, dtype="float32"))
    vocabulary_size = uniform.backbone.vocabulary_size
    result = perplexity(uniform, TEXT, window=16, stride=5)
    num_tokens = len(tokens_of(uniform, TEXT))
    assert result["tokens"] == num_tokens
    assert result["perplexity"] == pytest.approx(vocabulary_size, rel=1e-5)
    assert result["nll"] == pytest.approx(
        num_tokens * math.log(vocabulary_size), rel=1e-6
    )


@pytest.mark.backend
def test_single_window_matches_full_logits(causal_lm):
    token_ids = tokens_of(causal_lm, TEXT)
    assert len(token_ids) < 63
    result = perplexity(causal_lm, TEXT)
    expected = reference_nll(causal_lm, token_ids, [(0, len(token_ids), 0)])
    assert result["windows"] == 1
    assert result["tokens"] == len(token_ids)
    assert result["nll"] == pytest.approx(expected, rel=1e-4)
    assert result["perplexity"] == pytest.approx(
        math.exp(expected / len(token_ids)), rel=1e-4
    )


@pytest.mark.backend
@pytest.mark.parametrize("window, stride", [(6, 2), (6, 5), (9, 1)])
def test_overlapping_windows_match_numpy(causal_lm, window, stride):
    token_ids = tokens_of(causal_lm, SHORT_TEXT)
    spans = _window_spans(len(token_ids), window - 1, stride, 0)
    assert len(spans) > 1
    result = perplexity(
        causal_lm, SHORT_TEXT, window=window, stride=stride, batch_size=3
    )
    assert result["tokens"] == len(token_ids)
    assert result["windows"] == len(spans)
    assert result["nll"] == pytest.approx(
        reference_nll(causal_lm, token_ids, spans), rel=1e-4
    )


def test_batch_size_and_logits_rows_do_not_change_the_result(causal_lm):
    first = perplexity(causal_lm, TEXT, window=10, stride=4, batch_size=1)
    second = perplexity(
        causal_lm, TEXT, window=10, stride=4, batch_size=4, logits_rows=3
    )
    assert second["nll"] == pytest.approx(first["nll"], rel=1e-5)
    assert second["tokens"] == first["tokens"]


def test_bad_arguments(causal_lm):
    with pytest.raises(ValueError, match="window must be an integer >= 2"):
        perplexity(causal_lm, TEXT, window=1)
    with pytest.raises(ValueError, match="stride must be an integer from 1 to 7"):
        perplexity(causal_lm, TEXT, window=8, stride=8)
    with pytest.raises(DataError, match="the text has 0 token"):
        perplexity(causal_lm, "")


def test_docstring_examples():
    result = doctest.testmod(perplexity_module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
