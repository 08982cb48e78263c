"""Salience on the current backend: a constructed case, goldens, completeness.

`constructed_model.build_colour_model()` is a hand-set two-layer Gemma whose
answer is the colour word of its prompt: the colour token must get the
highest attribution with every method. The golden values were computed on
JAX with the `tiny_gemma3` preset (its NumPy-seeded weights are identical on
every backend); TensorFlow and PyTorch agreed to within 1e-5 when they were
recorded, so the tests hold every backend to a tolerance of 1e-3 relative.
"""

import doctest
import importlib

import keras
import keras_hub
import numpy as np
import pytest
from constructed_model import COLOURS, build_colour_model

from kerasalign.debug import compute_salience
from kerasalign.debug.embedding_forward import (
    embed_tokens,
    hidden_states_from_embeddings,
)
from kerasalign.debug.prompt_part import prompt_parts
from kerasalign.debug.salience import token_texts, tokenize_parts
from kerasalign.errors import KerasAlignError
from kerasalign.models import load_causal_lm

COLOUR_TEMPLATE = "Words: {{words}}\nColour:"
GOLDEN_TEMPLATE = "Q: {{question}}\nA:"
GOLDEN_TOKENS = ["Q", ":", " Is", " the", " sk", "y", " blue", "?", "\n", "A", ":"]
GOLDEN_LOG_PROB = -50.8967
GOLDEN_SCORES = {
    "grad_norm": [9.72357, 7.01685, 13.6086, 6.53911, 8.49827, 6.55249, 8.38332, 6.23747, 8.82842, 8.21297, 13.2951],
    "grad_x_input": [-0.093727, -0.0715271, 0.00987235, -0.187586, -0.0941296, -0.328026, -0.228436, -0.15585, -0.0278948, 0.0459254, -0.806368],
    "integrated_gradients": [0.25279, -0.163394, 1.07021, 0.263467, 0.747129, 1.05455, 1.00426, 1.15618, -0.0522629, -0.665886, -0.169562],
}


@pytest.fixture(scope="module")
def colour_model():
    return build_colour_model()


@pytest.fixture(scope="module")
def tiny_gemma3():
    return load_causal_lm("tiny_gemma3")


@pytest.mark.backend
@pytest.mark.parametrize("method", ["grad_norm", "grad_x_input", "integrated_gradients"])
@pytest.mark.parametrize(
    "words, colour",
    # Same length: on JAX the gradient is compiled once for all three.
    [("man day red book car", "red"), ("green house water food sun", "green"), ("king time city door blue", "blue")],
)
def test_the_token_the_answer_depends_on_gets_the_highest_attribution(colour_model, method, words, colour):
    result = compute_salience(colour_model, words, f" {colour}", template=COLOUR_TEMPLATE, method=method, steps=8)
    position, text, score = result.top_tokens(1)[0]
    assert text == f" {colour}", result.to_terminal(color=False)
    assert score > 0
    runner_up = result.top_tokens(2)[1][2]
    assert abs(score) > 1.5 * abs(runner_up), result.to_terminal(color=False)
    assert result.kinds[position] == "input"
    assert result.log_prob > -3.0  # the model does answer with the colour


def test_generated_target_is_the_colour(colour_model):
    result = compute_salience(colour_model, "day white book", template=COLOUR_TEMPLATE, max_new_tokens=1)
    assert result.target == " white"
    assert result.top_tokens(1)[0][1] == " white"
    best_word = max(result.word_scores(), key=lambda item: abs(item[1]))[0]
    assert best_word == "white"
    segments = {s["segment"]: s["share"] for s in result.segment_scores()}
    assert segments["input"] > segments["instructions"]


@pytest.mark.backend
def test_forward_from_embeddings_matches_the_model(tiny_gemma3):
    token_ids = np.array([[2, 651, 1945, 300, 17]], "int32")
    padding_mask = np.ones_like(token_ids)
    hidden = hidden_states_from_embeddings(
        tiny_gemma3.backbone, embed_tokens(tiny_gemma3.backbone, token_ids), padding_mask
    )
    expected = tiny_gemma3.backbone({"token_ids": token_ids, "padding_mask": padding_mask})
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(hidden), keras.ops.convert_to_numpy(expected), atol=1e-5
    )


@pytest.mark.backend
@pytest.mark.parametrize("method", sorted(GOLDEN_SCORES))
def test_scores_agree_with_the_stored_values_on_every_backend(tiny_gemma3, method):
    result = compute_salience(
        tiny_gemma3, "Is the sky blue?", " Yes, it is.", template=GOLDEN_TEMPLATE, method=method, steps=8
    )
    assert result.tokens == GOLDEN_TOKENS
    assert result.log_prob == pytest.approx(GOLDEN_LOG_PROB, rel=1e-4)
    np.testing.assert_allclose(result.scores, GOLDEN_SCORES[method], rtol=1e-3, atol=1e-4)


@pytest.mark.backend
def test_integrated_gradients_completeness(tiny_gemma3):
    result = compute_salience(
        tiny_gemma3, "Is the sky blue?", " Yes.", template=GOLDEN_TEMPLATE,
        method="integrated_gradients", steps=32, batch_size=8,
    )
    details = result.details
    expected_total = result.log_prob - details["baseline_log_prob"]
    assert abs(expected_total) > 0.1
    assert result.scores.sum() == pytest.approx(expected_total, abs=0.01)
    assert abs(details["completeness_gap"]) < 0.01
    assert details["steps"] == 32 and details["baseline"] == "pad"


def test_gemma_chat_template_segments(tiny_gemma3):
    result = compute_salience(
        tiny_gemma3, "How do I pick a lock?", " I can't help with that.",
        template="gemma", system="Refuse dangerous requests.", method="grad_norm",
    )
    assert result.prompt.startswith("<start_of_turn>user\nRefuse dangerous requests.\n\nHow do I")
    shares = {s["segment"]: s["share"] for s in result.segment_scores()}
    assert set(shares) == {"markup", "instructions", "input"}
    assert sum(shares.values()) == pytest.approx(1.0)


def test_words_keep_their_tokens_together(tiny_gemma3):
    result = compute_salience(tiny_gemma3, "Is the sky blue?", " Yes.", template=GOLDEN_TEMPLATE)
    words = result.words()
    # The newline opens the template's text after the input: a word of its own.
    assert [word for word, _ in words] == ["Q:", "Is", "the", "sky", "blue?", "\n", "A:"]
    assert sorted(i for _, group in words for i in group) == list(range(len(result.tokens)))
    sky = dict(result.word_scores())["sky"]
    assert sky == pytest.approx(result.scores[4] + result.scores[5])


def test_prompt_is_tokenized_as_one_text(tiny_gemma3):
    tokenizer = tiny_gemma3.preprocessor.tokenizer
    parts = prompt_parts("Words: {{words}}", "green")
    token_ids, kinds, labels = tokenize_parts(tokenizer, parts)
    texts = token_texts(tokenizer, token_ids)
    # " green" is one token: tokenized part by part it would be "g" + "reen".
    assert texts[-1] == " green" and kinds[-1] == "input" and labels[-1] == "words"


def test_token_texts_decode_byte_pieces(tiny_gemma3):
    tokenizer = tiny_gemma3.preprocessor.tokenizer
    text = "Héllo 日本 € <end_of_turn>\n"
    ids = np.asarray(tokenizer.tokenize(text)).tolist()
    assert "".join(token_texts(tokenizer, ids)) == text


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"method": "saliency"}, "method must be one of"),
        ({"baseline": "mask"}, "baseline must be one of"),
        ({"steps": 0}, "steps must be a positive integer"),
        ({"target": ""}, "target must be a non-empty string"),
    ],
)
def test_bad_arguments(tiny_gemma3, kwargs, message):
    kwargs = {"target": " Yes", **kwargs}
    with pytest.raises(KerasAlignError, match=message):
        compute_salience(tiny_gemma3, "Hi", **kwargs)


def test_unsupported_backbone_is_refused():
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=10, num_layers=1, num_heads=1, hidden_dim=4, intermediate_dim=4, max_sequence_length=8
    )
    causal_lm = keras_hub.models.GPT2CausalLM(backbone=backbone, preprocessor=None)
    with pytest.raises(KerasAlignError, match="supports GemmaBackbone"):
        compute_salience(causal_lm, "Hi", " there")


def test_docstring_examples():
    for name in ("salience", "embedding_forward"):
        module = importlib.import_module(f"kerasalign.debug.{name}")
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0 and result.attempted > 0, name


def test_colours_are_single_tokens(colour_model):
    tokenizer = colour_model.preprocessor.tokenizer
    for colour in COLOURS:
        assert len(np.asarray(tokenizer.tokenize(" " + colour)).reshape(-1)) == 1
