"""`generate`: the text it returns for each prompt."""

import pytest

import kerasalign
from kerasalign.models.generation import cut_stop_text, generate


@pytest.fixture(scope="module")
def model():
    return kerasalign.load_causal_lm("tiny_gemma")


def test_end_of_turn_marker_generation_stopped_at_is_cut_with_a_chat_template(model, monkeypatch):
    # KerasHub keeps the stop token in the text it returns.
    returned = ["Paris is the capital.<end_of_turn>", "No marker here"]
    seen = {}

    def fake_generate(texts, **kwargs):
        seen.update(kwargs, texts=texts)
        return returned[: len(texts)]

    monkeypatch.setattr(model, "generate", fake_generate)
    assert generate(model, ["Capital of France?", "Hi"], template="gemma") == [
        "Paris is the capital.", "No marker here"
    ]
    end_of_turn = model.preprocessor.tokenizer.token_to_id("<end_of_turn>")
    assert end_of_turn in seen["stop_token_ids"] and seen["texts"][0].startswith("<start_of_turn>user")
    # Without a template the text is continued as it is, markers included.
    assert generate(model, ["Capital of France?"]) == ["Paris is the capital.<end_of_turn>"]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Yes.<end_of_turn>\n", "Yes."),
        ("Yes.<end_of_turn><eos>", "Yes."),
        ("<end_of_turn>", ""),
        ("say <end_of_turn> twice", "say <end_of_turn> twice"),
    ],
)
def test_cut_stop_text_cuts_markers_at_the_end_only(text, expected):
    assert cut_stop_text(text, ["<end_of_turn>", "<eos>", ""]) == expected
