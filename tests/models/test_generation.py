"""`generate`: the text it returns for each prompt."""

import pytest

import kerasalign
from kerasalign.errors import KerasAlignError
from kerasalign.models.generation import (
    LENGTH_BUCKET,
    balanced_batches,
    cut_stop_text,
    generate,
)


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


@pytest.mark.parametrize("count, batch_size", [(1, 8), (8, 8), (9, 8), (40, 16), (260, 64), (7, 3)])
def test_balanced_batches_have_one_size_and_keep_every_item_once(count, batch_size):
    items = list(range(count))
    batches = balanced_batches(items, batch_size)
    sizes = {len(batch) for batch, _ in batches}
    assert len(sizes) == 1 and sizes.pop() <= batch_size
    assert len(batches) == -(-count // batch_size)
    assert [item for batch, real in batches for item in batch[:real]] == items
    # The filling repeats the batch's own last item.
    for batch, real in batches:
        assert batch[real:] == [batch[real - 1]] * (len(batch) - real)


@pytest.mark.parametrize("batch_size", [0, -1, 2.0, True])
def test_balanced_batches_reject_a_bad_batch_size(batch_size):
    with pytest.raises(KerasAlignError, match="batch_size"):
        balanced_batches([1, 2], batch_size)


def test_generate_calls_keras_hub_with_equal_batches_and_drops_the_filling(model, monkeypatch):
    calls = []

    def fake_generate(texts, max_length, **kwargs):
        calls.append((len(texts), max_length))
        return [f"answer {text.split()[-1]}" for text in texts]

    monkeypatch.setattr(model, "generate", fake_generate)
    prompts = [f"prompt {i}" for i in range(5)]
    answers = generate(model, prompts, batch_size=4, max_new_tokens=20)
    assert answers == [f"answer {i}" for i in range(5)]
    assert [size for size, _ in calls] == [3, 3]
    tokenizer = model.preprocessor.tokenizer
    longest = max(len(ids) for ids in tokenizer.tokenize(prompts)) + 1
    for _, max_length in calls:
        # The length is rounded up only to the next bucket: every extra token
        # is one more decoding step for the whole batch.
        assert max_length % LENGTH_BUCKET == 0
        assert longest + 20 <= max_length < longest + 20 + LENGTH_BUCKET
