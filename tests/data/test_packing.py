"""Packing SFT rows: every token kept in order, rows full, exact first segments."""

import keras
import numpy as np
import pytest

from kerasalign import datasets
from kerasalign.data.packing import _first_fit_decreasing, pack_sft_rows
from kerasalign.data.sft_preprocessor import SFTPreprocessor
from kerasalign.errors import KerasAlignError
from kerasalign.models.loader import load_causal_lm


def _rows(lengths, width, seed=0):
    rng = np.random.default_rng(seed)
    token_ids = np.zeros((len(lengths), width), "int32")
    mask = np.zeros((len(lengths), width), bool)
    for row, n in enumerate(lengths):
        # Each example's ids encode (example, position) so we can find them.
        token_ids[row, :n] = 1000 * (row + 1) + np.arange(n)
        mask[row, :n] = True
    y = np.where(mask, token_ids + 1, 0).astype("int32")
    weight = (mask & (rng.random(mask.shape) < 0.6)).astype("float32")
    return {"token_ids": token_ids, "padding_mask": mask}, y, weight


def test_every_token_target_and_weight_is_kept_in_order():
    lengths = [30, 5, 17, 64, 2, 40, 40, 11, 9, 23, 1]
    x, y, w = _rows(lengths, 64)
    (px, py, pw), report = pack_sft_rows(x, y, w, sequence_length=64)
    assert px["token_ids"].shape == (report.rows_out, 64)
    assert report.rows_in == len(lengths) and report.tokens == sum(lengths)
    # First-fit decreasing needs no more rows than twice the lower bound.
    assert -(-sum(lengths) // 64) <= report.rows_out < len(lengths)
    found = {}
    for row in range(report.rows_out):
        n = int(px["padding_mask"][row].sum())
        assert px["padding_mask"][row, :n].all()  # real tokens first
        assert (px["token_ids"][row, n:] == 0).all() and (pw[row, n:] == 0).all()
        for position in range(n):
            example = int(px["token_ids"][row, position]) // 1000 - 1
            found.setdefault(example, []).append((row, position))
    for example, n in enumerate(lengths):
        places = found[example]
        assert len(places) == n and len({row for row, _ in places}) == 1
        row, start = places[0]
        assert [p for _, p in places] == list(range(start, start + n))
        np.testing.assert_array_equal(px["token_ids"][row, start : start + n], x["token_ids"][example, :n])
        np.testing.assert_array_equal(py[row, start : start + n], y[example, :n])
        np.testing.assert_array_equal(pw[row, start : start + n], w[example, :n])
    assert report.padding_after < report.padding_before


def test_first_fit_decreasing_by_hand():
    # Longest first: 7 -> row 0 (room 3); 5 -> row 1 (room 5); 4 -> row 1
    # (room 1); 3 -> row 0 (room 0); 1 -> row 1.
    assert _first_fit_decreasing([3, 5, 7, 1, 4], 10) == [[2, 0], [1, 4, 3]]


def test_bad_inputs_are_named():
    x, y, w = _rows([10, 20], 32)
    with pytest.raises(KerasAlignError, match="shorter than the longest example"):
        pack_sft_rows(x, y, w, sequence_length=16)
    bad = {**x, "padding_mask": x["padding_mask"][:, ::-1].copy()}
    with pytest.raises(KerasAlignError, match="padding must come after"):
        pack_sft_rows(bad, y, w, sequence_length=32)
    with pytest.raises(KerasAlignError, match="loss_positions"):
        pack_sft_rows({**x, "loss_positions": x["token_ids"]}, y, w, sequence_length=32)


def _token_losses(model, x, y):
    logits = model(x, training=False)
    losses = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
    return keras.ops.convert_to_numpy(losses)


@pytest.mark.backend
def test_first_example_of_each_packed_row_is_computed_exactly():
    model = load_causal_lm("tiny_gemma")
    preprocessor = SFTPreprocessor(model.preprocessor.tokenizer, "gemma", 128)
    x, y, w = preprocessor.batch(datasets.load("instructions")[:12])
    (px, py, pw), report = pack_sft_rows(x, y, w, sequence_length=128)
    assert report.rows_out < report.rows_in
    plain = _token_losses(model, x, y)
    packed = _token_losses(model, px, py)
    lengths = x["padding_mask"].sum(axis=1)
    checked = 0
    for row in range(report.rows_out):
        first = px["token_ids"][row]
        for example, n in enumerate(lengths):
            if np.array_equal(first[:n], x["token_ids"][example, :n]):
                np.testing.assert_allclose(packed[row, :n], plain[example, :n], rtol=1e-4, atol=1e-4)
                checked += 1
                break
    assert checked == report.rows_out


@pytest.mark.backend
def test_run_sft_with_packing_trains_on_fewer_rows(tmp_path):
    from kerasalign.trainers.sft_run import run_sft

    model = load_causal_lm("tiny_gemma", lora_rank=4)
    examples = datasets.load("instructions")[:16]
    summary = run_sft(
        model, examples, epochs=3, batch_size=2, sequence_length=128,
        learning_rate=5e-3, verbose=0, pack=True, output_dir=tmp_path / "out",
    )  # fmt: skip
    packing = summary["packing"]
    assert packing["rows_in"] == 16 and packing["rows_out"] < 16
    assert summary["final"]["loss"] < summary["first_step_loss"]
    assert summary["config"]["pack"] is True
