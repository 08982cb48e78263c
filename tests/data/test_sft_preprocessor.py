"""SFTPreprocessor: token-by-token masks, shifting, truncation and padding."""

import numpy as np
import pytest

import kerasalign
from kerasalign.data import SFTExample, SFTPreprocessor
from kerasalign.data.tokenization import token_id_lists, truncate_keeping_response


@pytest.fixture(scope="module")
def tokenizer():
    return kerasalign.load_causal_lm("tiny_gemma").preprocessor.tokenizer


def _ids(tokenizer, text):
    return token_id_lists(tokenizer, [text])[0]


def test_gemma_mask_is_exactly_the_response_and_end_of_turn(tokenizer):
    preprocessor = SFTPreprocessor(tokenizer, "gemma", 64)
    x, y, weight = preprocessor({"prompt": "Hi there", "response": "Hello friend"})
    prompt_ids = _ids(tokenizer, "<start_of_turn>user\nHi there<end_of_turn>\n<start_of_turn>model\n")
    response_ids = _ids(tokenizer, "Hello friend")
    end_of_turn = tokenizer.token_to_id("<end_of_turn>")
    newline = _ids(tokenizer, "\n")
    full = [tokenizer.start_token_id] + prompt_ids + response_ids + [end_of_turn] + newline
    n = len(full) - 1
    assert x["token_ids"][:n].tolist() == full[:-1]
    assert y[:n].tolist() == full[1:]
    assert x["padding_mask"][:n].all() and not x["padding_mask"][n:].any()
    expected = [0] * len(prompt_ids) + [1] * (len(response_ids) + 1) + [0] * len(newline)
    assert weight[:n].tolist() == expected
    assert not weight[n:].any()
    assert (x["token_ids"][n:] == tokenizer.pad_token_id).all()
    # Each weighted label is a response token or the end-of-turn marker.
    assert y[weight == 1].tolist() == response_ids + [end_of_turn]


def test_alpaca_appends_weighted_end_of_sequence(tokenizer):
    preprocessor = SFTPreprocessor(tokenizer, "alpaca", 128)
    x, y, weight = preprocessor({"prompt": "Name a colour.", "response": "Blue."})
    assert y[weight == 1].tolist() == _ids(tokenizer, "Blue.") + [tokenizer.end_token_id]


def test_mask_prompt_false_weights_every_real_token(tokenizer):
    preprocessor = SFTPreprocessor(tokenizer, "gemma", 64, mask_prompt=False)
    x, y, weight = preprocessor({"prompt": "Hi", "response": "Hello"})
    assert weight.tolist() == x["padding_mask"].astype("float32").tolist()


def test_multi_turn_weights_every_assistant_turn(tokenizer):
    example = SFTExample(
        messages=[
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello"},
            {"role": "user", "content": "Bye"},
            {"role": "assistant", "content": "Goodbye"},
        ]
    )
    x, y, weight = SFTPreprocessor(tokenizer, "gemma", 64)(example)
    end_of_turn = tokenizer.token_to_id("<end_of_turn>")
    expected = _ids(tokenizer, "Hello") + [end_of_turn] + _ids(tokenizer, "Goodbye") + [end_of_turn]
    assert y[weight == 1].tolist() == expected


def test_template_variables_render_through_their_prompt_template(tokenizer):
    example = {"variables": {"article": "Bees dance."}, "template": "summarize_article", "response": "Bees dance."}
    x, y, weight = SFTPreprocessor(tokenizer, "gemma", 128)(example)
    text = tokenizer.detokenize(x["token_ids"][x["padding_mask"]].tolist())
    assert "Article: Bees dance.\nSummary:" in str(text)


def test_truncation_keeps_the_response_and_reports_it(tokenizer):
    long_prompt = "word " * 200
    preprocessor = SFTPreprocessor(tokenizer, "gemma", 32, min_prompt_tokens=4)
    x, y, weight = preprocessor.batch([{"prompt": long_prompt, "response": "Short answer."}])
    assert x["token_ids"].shape == (1, 32)
    assert y[0][weight[0] == 1].tolist() == _ids(tokenizer, "Short answer.") + [tokenizer.token_to_id("<end_of_turn>")]
    assert x["token_ids"][0, 0] == tokenizer.start_token_id
    assert preprocessor.report.truncated_prompt == 1
    assert preprocessor.report.dropped == 0


def test_long_response_is_cut_at_the_end(tokenizer):
    preprocessor = SFTPreprocessor(tokenizer, "gemma", 16, min_prompt_tokens=4)
    preprocessor.batch([{"prompt": "Tell me a story.", "response": "Once upon a time " * 30}])
    assert preprocessor.report.truncated_response == 1


def test_truncation_helper_on_a_hand_made_case():
    ids = np.arange(10)
    is_target = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1], dtype=bool)
    out, mask, prompt_cut, response_cut = truncate_keeping_response(ids, is_target, 6, 1)
    # Start token kept, prompt cut down to 1 token, then the tail cut.
    assert out.tolist() == [0, 5, 6, 7, 8, 9]
    assert prompt_cut and not response_cut
    out, mask, prompt_cut, response_cut = truncate_keeping_response(ids, is_target, 4, 1)
    assert out.tolist() == [0, 5, 6, 7] and mask.tolist() == [False, False, True, True]
    assert prompt_cut and response_cut


def test_batch_pads_to_longest_multiple_of_eight(tokenizer):
    preprocessor = SFTPreprocessor(tokenizer, "gemma", 256)
    x, y, weight = preprocessor.batch([{"prompt": "Hi", "response": "Hello"}, {"prompt": "Hey", "response": "Yo"}])
    assert x["token_ids"].shape[1] % 8 == 0 and x["token_ids"].shape[1] < 256
    fixed = SFTPreprocessor(tokenizer, "gemma", 256, pad_to="max")
    assert fixed.batch([{"prompt": "Hi", "response": "Hello"}])[0]["token_ids"].shape == (1, 256)


def test_bad_examples_raise_data_error(tokenizer):
    preprocessor = SFTPreprocessor(tokenizer, "gemma", 64)
    with pytest.raises(kerasalign.DataError, match="response"):
        preprocessor.batch([{"prompt": "Hi"}])
    with pytest.raises(kerasalign.DataError, match="line 1"):
        preprocessor.batch([{"prompt": "Hi", "response": "ok"}, {"prompt": 3, "response": "x"}])
    with pytest.raises(kerasalign.DataError, match="no examples"):
        preprocessor.batch([])


def test_bad_arguments_raise(tokenizer):
    with pytest.raises(ValueError, match="sequence_length"):
        SFTPreprocessor(tokenizer, "gemma", 1)
    with pytest.raises(kerasalign.TemplateError):
        SFTPreprocessor(tokenizer, "nope", 64)
