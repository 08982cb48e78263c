"""PreferencePreprocessor: response masks, shared truncation, padding, bad data."""

import doctest

import numpy as np
import pytest

import kerasalign
from kerasalign.data import PreferenceExample, PreferencePreprocessor
from kerasalign.data import preference_preprocessor as preference_preprocessor_module
from kerasalign.data.tokenization import token_id_lists

PAIR = {"prompt": "How do I rob a store?", "chosen": "That is illegal. Don't.", "rejected": "Go at night."}


@pytest.fixture(scope="module")
def tokenizer():
    return kerasalign.load_causal_lm("tiny_gemma").preprocessor.tokenizer


def _ids(tokenizer, text):
    return token_id_lists(tokenizer, [text])[0]


def test_gemma_sequences_and_masks_token_by_token(tokenizer):
    x = PreferencePreprocessor(tokenizer, "gemma", 64).batch([PAIR])
    prompt = [tokenizer.start_token_id] + _ids(
        tokenizer, "<start_of_turn>user\nHow do I rob a store?<end_of_turn>\n<start_of_turn>model\n"
    )
    end_of_turn = tokenizer.token_to_id("<end_of_turn>")
    for side in ("chosen", "rejected"):
        response = _ids(tokenizer, PAIR[side]) + [end_of_turn]
        n = len(prompt) + len(response)
        assert x[f"{side}_token_ids"][0, :n].tolist() == prompt + response
        assert (x[f"{side}_token_ids"][0, n:] == tokenizer.pad_token_id).all()
        assert x[f"{side}_padding_mask"][0, :n].all() and not x[f"{side}_padding_mask"][0, n:].any()
        assert x[f"{side}_response_mask"][0].tolist()[:n] == [False] * len(prompt) + [True] * len(response)
        assert not x[f"{side}_response_mask"][0, n:].any()
    # Both sides share one length, a multiple of 8.
    assert x["chosen_token_ids"].shape == x["rejected_token_ids"].shape
    assert x["chosen_token_ids"].shape[1] % 8 == 0
    assert x["margin"].tolist() == [0.0]


def test_response_positions_point_at_the_predictions_of_response_tokens(tokenizer):
    x = PreferencePreprocessor(tokenizer, "gemma", 64).batch([PAIR, {**PAIR, "chosen": "No."}])
    for side in ("chosen", "rejected"):
        positions = x[f"{side}_response_positions"]
        assert positions.shape[1] % 8 == 0
        for row in range(2):
            expected = np.flatnonzero(x[f"{side}_response_mask"][row]) - 1
            assert positions[row, : len(expected)].tolist() == expected.tolist()
            assert (positions[row, len(expected) :] == -1).all()


def test_alpaca_response_ends_with_end_of_sequence(tokenizer):
    x = PreferencePreprocessor(tokenizer, "alpaca", 128).batch([PAIR])
    response = x["chosen_token_ids"][0][x["chosen_response_mask"][0]].tolist()
    assert response == _ids(tokenizer, PAIR["chosen"]) + [tokenizer.end_token_id]


def test_truncation_keeps_the_same_prompt_on_both_sides(tokenizer):
    long_prompt = "Tell me, in as much detail as you possibly can, " * 6 + "how do I rob a store?"
    pair = {"prompt": long_prompt, "chosen": "No. " * 10, "rejected": "Sure."}
    preprocessor = PreferencePreprocessor(tokenizer, "gemma", 48, min_prompt_tokens=8)
    x = preprocessor.batch([pair])
    chosen_prompt = x["chosen_token_ids"][0][x["chosen_padding_mask"][0] & ~x["chosen_response_mask"][0]]
    rejected_prompt = x["rejected_token_ids"][0][x["rejected_padding_mask"][0] & ~x["rejected_response_mask"][0]]
    assert chosen_prompt.tolist() == rejected_prompt.tolist()
    assert chosen_prompt[0] == tokenizer.start_token_id
    assert x["chosen_padding_mask"][0].sum() <= 48
    # The response survived whole; the prompt lost its beginning, not its end.
    assert x["chosen_token_ids"][0][x["chosen_response_mask"][0]].tolist()[:-1] == _ids(tokenizer, pair["chosen"])
    assert preprocessor.report.truncated_prompt == 1 and preprocessor.report.truncated_response == 0


def test_responses_are_cut_only_after_the_prompt_reaches_its_minimum(tokenizer):
    pair = {"prompt": "Write a poem. " * 20, "chosen": "Roses are red. " * 20, "rejected": "No."}
    preprocessor = PreferencePreprocessor(tokenizer, "gemma", 32, min_prompt_tokens=8)
    x = preprocessor.batch([pair])
    prompt_tokens = (x["chosen_padding_mask"][0] & ~x["chosen_response_mask"][0]).sum()
    assert prompt_tokens == 1 + 8
    assert x["chosen_padding_mask"][0].sum() == 32
    assert preprocessor.report.truncated_response == 1


def test_pairs_identical_after_truncation_are_dropped_and_reported(tokenizer):
    shared = "The answer starts the same way every time. " * 5
    pairs = [
        {"prompt": "Q", "chosen": shared + "Yes.", "rejected": shared + "No."},
        PAIR,
    ]
    preprocessor = PreferencePreprocessor(tokenizer, "gemma", 24, min_prompt_tokens=2)
    x = preprocessor.batch(pairs)
    assert x["chosen_token_ids"].shape[0] == 1
    assert preprocessor.report.dropped == 1 and preprocessor.report.dropped_indices == [0]


def test_margins_messages_and_system_prompts(tokenizer):
    pairs = [
        PreferenceExample(
            messages=[{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                      {"role": "user", "content": "Rob a store?"}],
            system="Be safe.", chosen="No.", rejected="Yes.", margin=2.0,
        ),
        PAIR,
    ]
    x = PreferencePreprocessor(tokenizer, "gemma", 128).batch(pairs)
    assert x["margin"].tolist() == [2.0, 0.0]
    prompt = x["chosen_token_ids"][0][x["chosen_padding_mask"][0] & ~x["chosen_response_mask"][0]]
    rendered = kerasalign.templates.get("gemma").render_prompt(pairs[0])
    assert "Be safe.\n\nHi" in rendered and "Hello!" in rendered
    assert prompt.tolist() == [tokenizer.start_token_id] + _ids(tokenizer, rendered)


def test_encode_scores_one_response_per_prompt(tokenizer):
    preprocessor = PreferencePreprocessor(tokenizer, "gemma", 64)
    inputs = preprocessor.encode(["Hi", [{"role": "user", "content": "Bye"}]], ["Hello!", "Goodbye."])
    assert sorted(inputs) == ["padding_mask", "response_mask", "response_positions", "token_ids"]
    assert inputs["token_ids"].shape[0] == 2
    assert inputs["response_mask"].sum(1).tolist() == [
        len(_ids(tokenizer, "Hello!")) + 1,
        len(_ids(tokenizer, "Goodbye.")) + 1,
    ]


@pytest.mark.parametrize(
    "record, match",
    [
        ({"prompt": "Q", "chosen": "A"}, 'line 2, field "rejected": missing'),
        ({"prompt": "Q", "chosen": "A", "rejected": 3}, 'line 2, field "rejected": expected a string'),
        ({"prompt": "Q", "chosen": "Same", "rejected": "Same"}, "identical"),
        ({"chosen": "A", "rejected": "B"}, 'field "prompt"'),
        ("not a record", "expected a PreferenceExample or a dict"),
    ],
)
def test_malformed_pairs_name_the_line_and_field(tokenizer, record, match):
    preprocessor = PreferencePreprocessor(tokenizer, "gemma", 64)
    with pytest.raises(kerasalign.DataError, match=match):
        preprocessor.batch([PAIR, record])


def test_bad_arguments(tokenizer):
    with pytest.raises(ValueError, match="sequence_length must be an integer >= 2"):
        PreferencePreprocessor(tokenizer, "gemma", 1)
    with pytest.raises(ValueError, match=r"pad_to must be one of \['longest', 'max'\]"):
        PreferencePreprocessor(tokenizer, "gemma", 64, pad_to="shortest")
    with pytest.raises(kerasalign.DataError, match="no preference pairs"):
        PreferencePreprocessor(tokenizer, "gemma", 64).batch([])
    with pytest.raises(kerasalign.TemplateError):
        PreferencePreprocessor(tokenizer, "no_such_template", 64)


def test_docstring_examples():
    result = doctest.testmod(preference_preprocessor_module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0 and result.attempted > 0
