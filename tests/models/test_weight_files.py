"""weight_files: variables saved as .npy files and read back memory-mapped."""

import doctest
import os

import keras
import numpy as np
import pytest

from kerasalign.models import weight_files
from kerasalign.models.weight_files import load_variables, save_variables


def _layer(dtype="float32", units=3):
    layer = keras.layers.Dense(units, dtype=dtype, name="dense")
    layer.build((None, 4))
    return layer


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_round_trip_keeps_every_bit(tmp_path, dtype):
    source = _layer(dtype)
    source.kernel.assign(np.random.default_rng(0).normal(size=(4, 3)))
    save_variables(source.weights, tmp_path)
    target = _layer(dtype)
    load_variables(target.weights, tmp_path)
    for saved, loaded in zip(source.weights, target.weights, strict=True):
        assert str(loaded.dtype) == dtype
        np.testing.assert_array_equal(
            np.asarray(loaded.numpy()).astype("float32"),
            np.asarray(saved.numpy()).astype("float32"),
        )


def test_mismatches_raise(tmp_path):
    save_variables(_layer().weights, tmp_path)
    with pytest.raises(ValueError, match="shape"):
        load_variables(_layer(units=5).weights, tmp_path)
    with pytest.raises(ValueError, match="dtype"):
        load_variables(_layer("bfloat16").weights, tmp_path)
    with pytest.raises(ValueError, match="2 saved arrays for 1 variables"):
        load_variables(_layer().weights[:1], tmp_path)
    os.remove(tmp_path / "weights.json")
    with pytest.raises(ValueError, match="unreadable weights.json"):
        load_variables(_layer().weights, tmp_path)


def test_docstring_examples():
    assert doctest.testmod(weight_files).failed == 0
