"""`fit_with_guards`: the batch order of length-bucketed training."""

import random

import keras
import numpy as np
import pytest

from kerasalign.data.length_buckets import LengthBuckets
from kerasalign.trainers.training_run import fit_with_guards

PADDED = 64


class RowRecorder(keras.Model):
    """Records the rows of every training batch (row `r`'s ids start at `r * 64`)."""

    def __init__(self):
        super().__init__()
        self.scale = self.add_weight(shape=(), initializer="ones")
        self.batches_seen = []
        self.built = True

    def call(self, x, training=False):
        # Only the training steps' calls, with real values (Keras also calls
        # the model to build it, symbolically or on a first batch).
        if training:
            rows = keras.ops.convert_to_numpy(x["token_ids"])[:, 0] // PADDED
            self.batches_seen.append(sorted(rows.tolist()))
        return keras.ops.cast(x["padding_mask"], "float32") * self.scale

def _data():
    lengths = [5, 60, 7, 30, 12, 33, 9, 41, 18]
    rows = len(lengths)
    x = {
        "token_ids": np.arange(rows * PADDED, dtype="int32").reshape(rows, PADDED),
        "padding_mask": np.arange(PADDED)[None, :] < np.asarray(lengths)[:, None],
    }
    return x, x["padding_mask"].astype("float32")


def _fit(seed, global_seed):
    x, y = _data()
    model = RowRecorder()
    model.compile(optimizer="sgd", loss="mse", run_eagerly=True)
    random.seed(global_seed)
    fit_with_guards(model, x, y, epochs=2, batch_size=2, bucket_multiple=16, seed=seed, verbose=0)
    return model.batches_seen


@pytest.mark.backend
def test_bucketed_batches_come_in_the_order_of_the_seed_on_every_backend():
    x, y = _data()
    buckets = LengthBuckets(x, y, batch_size=2, multiple=16, seed=5)
    expected = [rows.tolist() for rows in buckets.batch_rows()]
    _ = [buckets[index] for index in range(len(buckets))]
    buckets.on_epoch_end()
    expected += [rows.tolist() for rows in buckets.batch_rows()]
    # The same on JAX, TensorFlow and PyTorch: Keras does not shuffle the
    # buckets' batches a second time with Python's global `random`.
    assert _fit(seed=5, global_seed=1) == expected
    assert _fit(seed=5, global_seed=2) == expected
    assert _fit(seed=6, global_seed=1) != expected
