"""LengthBuckets: similar lengths batched together, each batch trimmed."""

import doctest

import keras
import numpy as np
import pytest

import kerasalign
from kerasalign.data import SFTPreprocessor, length_buckets
from kerasalign.data.length_buckets import LengthBuckets


def _arrays(lengths, padded=64):
    rows = len(lengths)
    x = {
        "token_ids": np.arange(rows * padded, dtype="int32").reshape(rows, padded),
        "padding_mask": np.zeros((rows, padded), bool),
    }
    for row, length in enumerate(lengths):
        x["padding_mask"][row, :length] = True
    return x, x["token_ids"] + 1, x["padding_mask"].astype("float32")


def test_batches_are_trimmed_and_cover_every_row_once():
    lengths = [5, 60, 7, 30, 12, 33, 9]
    x, y, weight = _arrays(lengths)
    batches = LengthBuckets(x, y, weight, batch_size=2, multiple=16, seed=3)
    seen = []
    for batch_x, batch_y, batch_weight in batches:
        length = batch_x["token_ids"].shape[1]
        assert length % 16 == 0 and batch_y.shape == batch_weight.shape == (
            len(batch_y),
            length,
        )
        assert batch_x["padding_mask"].sum(axis=1).max() > length - 16
        seen.extend(batch_x["token_ids"][:, 0] // 64)
    assert sorted(seen) == list(range(len(lengths)))
    assert batches.padding_fraction() < 1 - sum(lengths) / (len(lengths) * 64)


def test_epochs_reshuffle_and_preference_extras_are_batched():
    x, _, _ = _arrays([5, 60, 7, 30])
    pairs = {
        "chosen_token_ids": x["token_ids"],
        "chosen_padding_mask": x["padding_mask"],
        "rejected_token_ids": x["token_ids"],
        "rejected_padding_mask": np.roll(x["padding_mask"], 1, axis=0),
        "margin": np.arange(4, dtype="float32"),
    }
    batches = LengthBuckets(pairs, batch_size=2, multiple=8)
    (batch,) = batches[0]
    assert batch["margin"].shape == (2,)
    assert batch["chosen_token_ids"].shape == batch["rejected_padding_mask"].shape
    orders = []
    for _ in range(4):
        orders.append([tuple(b) for b in batches._batches])
        # Keras ends an "epoch" after taking one batch to build a model: the
        # order stays until every batch has been served.
        batches.on_epoch_end()
        assert [tuple(b) for b in batches._batches] == orders[-1]
        _ = [batches[index] for index in range(len(batches))]
        batches.on_epoch_end()
    assert len({tuple(order) for order in orders}) > 1


def test_bad_inputs_are_refused():
    x, y, weight = _arrays([3, 4])
    with pytest.raises(kerasalign.DataError, match="padding_mask"):
        LengthBuckets({"token_ids": x["token_ids"]}, y)
    with pytest.raises(ValueError, match="batch_size"):
        LengthBuckets(x, y, batch_size=0)
    with pytest.raises(ValueError, match="needs y"):
        LengthBuckets(x, sample_weight=weight)


@pytest.mark.backend
def test_bucketed_sft_gives_the_untrimmed_loss_and_trains(sft_examples):
    model = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
    examples = sft_examples + [
        {"prompt": "Explain photosynthesis in detail, step by step, for a student.",
         "response": "Plants use light, water and carbon dioxide to make sugar and oxygen. " * 3}
    ]  # fmt: skip
    x, y, weight = SFTPreprocessor(model.preprocessor.tokenizer, "gemma", 128).batch(
        examples
    )
    trainer = kerasalign.SFTTrainer(model)
    trainer.compile(learning_rate=1e-2)
    whole = trainer.evaluate(x, y, sample_weight=weight, batch_size=len(y), verbose=0)
    one_batch = LengthBuckets(
        x, y, weight, batch_size=len(y), multiple=8, shuffle=False
    )
    trimmed = trainer.evaluate(one_batch, verbose=0)
    np.testing.assert_allclose(trimmed, whole, rtol=1e-5)
    buckets = LengthBuckets(x, y, weight, batch_size=3, multiple=16)
    assert buckets.padding_fraction() < 0.5
    history = trainer.fit(buckets, epochs=4, verbose=0).history
    assert history["loss"][-1] < history["loss"][0]


def test_docstring_examples():
    result = doctest.testmod(length_buckets, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_position_lists_are_trimmed_to_the_batch():
    x, y, weight = _arrays([5, 60, 7, 30])
    positions = np.full((4, 40), -1, "int32")
    for row, count in enumerate([3, 40, 2, 20]):
        positions[row, :count] = np.arange(count)
    x["loss_positions"] = positions
    batches = LengthBuckets(x, y, weight, batch_size=2, multiple=8, shuffle=False)
    widths = sorted(batch[0]["loss_positions"].shape[1] for batch in batches)
    assert widths == [8, 40]
    # No valid position is cut: every row keeps all of its positions.
    assert sum(int((batch[0]["loss_positions"] >= 0).sum()) for batch in batches) == 65


def test_a_pairs_position_lists_share_one_width():
    x, _, _ = _arrays([5, 60, 7, 30])
    chosen = np.full((4, 40), -1, "int32")
    rejected = np.full((4, 40), -1, "int32")
    for row, (a, b) in enumerate([(3, 1), (40, 9), (2, 2), (20, 30)]):
        chosen[row, :a] = np.arange(a)
        rejected[row, :b] = np.arange(b)
    pairs = {
        "chosen_token_ids": x["token_ids"],
        "chosen_padding_mask": x["padding_mask"],
        "chosen_response_positions": chosen,
        "rejected_token_ids": x["token_ids"],
        "rejected_padding_mask": x["padding_mask"],
        "rejected_response_positions": rejected,
    }
    for (batch,) in LengthBuckets(pairs, batch_size=2, multiple=8, shuffle=False):
        assert (
            batch["chosen_response_positions"].shape
            == batch["rejected_response_positions"].shape
        )


class RowCounts(keras.Model):
    """Each row's real length and its positions' count: shape-agnostic."""

    def call(self, x):
        mask = keras.ops.cast(x["padding_mask"], "float32")
        return {
            "length": keras.ops.sum(mask, axis=1),
            "positions": keras.ops.sum(
                keras.ops.cast(x["loss_positions"] >= 0, "float32"), axis=1
            ),
        }


@pytest.mark.backend
def test_predict_and_fit_take_batches_longer_than_the_first_two():
    # Sorted, the first two batches are both 16 long and the last 64: from a
    # PyDataset Keras fixes TensorFlow's input shapes by the first two
    # batches; `keras_input()` leaves them free.
    lengths = [3, 5, 9, 12, 60, 50]
    x, y, weight = _arrays(lengths)
    positions = np.full((len(lengths), 40), -1, "int32")
    for row, count in enumerate([1, 2, 3, 4, 40, 30]):
        positions[row, :count] = np.arange(count)
    x["loss_positions"] = positions
    batches = LengthBuckets(x, batch_size=2, multiple=16, shuffle=False)
    assert [batch[0]["token_ids"].shape[1] for batch in batches] == [16, 16, 64]
    out = RowCounts().predict(batches.keras_input(), verbose=0)
    order = np.concatenate(batches.batch_rows())
    np.testing.assert_array_equal(out["length"], np.asarray(lengths)[order])
    np.testing.assert_array_equal(out["positions"], [1, 2, 3, 4, 40, 30])

    trainer = kerasalign.SFTTrainer(kerasalign.load_causal_lm("tiny_gemma", lora_rank=2))
    trainer.compile(learning_rate=1e-3)
    x = {"token_ids": x["token_ids"] % 4096, "padding_mask": x["padding_mask"]}
    batches = LengthBuckets(x, y % 4096, weight, batch_size=2, multiple=16, seed=1)
    first_order = [rows.tolist() for rows in batches.batch_rows()]
    history = trainer.fit(batches.keras_input(), epochs=2, verbose=0).history
    assert np.all(np.isfinite(history["loss"]))
    # Each epoch's end reshuffled the batches, on TensorFlow too.
    assert [rows.tolist() for rows in batches.batch_rows()] != first_order
