"""`LengthBuckets`: batches of similar length, each trimmed to its own length.

The preprocessors pad a whole dataset to one length, so that a compiled
training step is never retraced. When lengths vary a lot, most of that is
padding: a batch of 40-token examples padded to 512 costs 13x the compute.
`LengthBuckets` groups rows of similar length into batches (sorted by
length, the order of the batches shuffled every epoch) and trims each batch
to its longest row rounded up to `multiple` tokens. There are at most
`length / multiple` shapes, so JAX and TensorFlow compile a bounded number
of steps, each once.

It takes the arrays the preprocessors make: `SFTPreprocessor.batch` gives
`(x, y, sample_weight)`; `PreferencePreprocessor.batch` gives one dict
(for `DPOTrainer`, add the reference log-probs first with
`trainer.precompute_reference_logprobs(x)`). Every array whose second
dimension is the padded length is trimmed; the others (`margin`, reference
log-probs) are batched as they are, except position lists (keys ending in
`positions`, `-1` for none): they are trimmed to the longest list of the
batch (one width for all such keys), rounded up the same way. The length of a row is the number of
`True` entries of its `padding_mask` (or the longest of the `*_padding_mask`
entries of a pair).

Examples:

>>> import numpy as np
>>> x = {"token_ids": np.ones((4, 64), "int32"), "padding_mask": np.zeros((4, 64), bool)}
>>> for row, length in enumerate([5, 60, 7, 30]):
...     x["padding_mask"][row, :length] = True
>>> batches = LengthBuckets(x, np.ones((4, 64), "int32"), batch_size=2, multiple=16)
>>> sorted(batch[0]["token_ids"].shape for batch in batches)
[(2, 16), (2, 64)]

Hand `fit`, `evaluate` and `predict` `batches.keras_input()`: the batches
themselves, or on TensorFlow a `tf.data.Dataset` that leaves the lengths free
(Keras would fix them from the first two batches).
"""

import keras
import numpy as np

from kerasalign.errors import DataError


def _row_lengths(x):
    masks = [value for key, value in x.items() if key.endswith("padding_mask")]
    if not masks:
        raise DataError(
            "LengthBuckets needs a 'padding_mask' (or '<side>_padding_mask') array "
            f"in x; it has {sorted(x)}.",
            source="<arrays>",
        )
    return np.max([np.asarray(mask).sum(axis=1) for mask in masks], axis=0)


class LengthBuckets(keras.utils.PyDataset):
    """Length-sorted batches, each padded only to its own (rounded) length.

    Args:
        x: dict of NumPy arrays `(rows, length)` (and `(rows,)` extras).
        y: array `(rows, length)`. Defaults to `None`.
        sample_weight: array `(rows, length)`. Defaults to `None`.
        batch_size: int. Rows per batch; the last batch may be smaller.
            Defaults to 8.
        multiple: int. Batch lengths are rounded up to a multiple of this.
            Defaults to 64.
        shuffle: bool. Shuffle the order of the batches, and of rows of equal
            length, every epoch: epoch `k` is shuffled from `seed + k` on
            every backend. An epoch ends (`on_epoch_end`) once every batch
            of the current order has been served, so that the first batch
            Keras takes to build a model does not end one. Defaults to
            `True`.
        seed: int. Shuffling seed. Defaults to 0.
        **kwargs: passed to `keras.utils.PyDataset` (`workers`, ...).
    """

    def __init__(
        self,
        x,
        y=None,
        sample_weight=None,
        batch_size=8,
        multiple=64,
        shuffle=True,
        seed=0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(x, dict):
            raise DataError(
                f"x must be a dict of arrays. Received: {type(x).__name__}",
                source="<arrays>",
            )
        for name, value in (("batch_size", batch_size), ("multiple", multiple)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"{name} must be a positive integer. Received: {value!r}"
                )
        if sample_weight is not None and y is None:
            raise ValueError("sample_weight needs y: pass both or neither.")
        self.x = {key: np.asarray(value) for key, value in x.items()}
        self.y = None if y is None else np.asarray(y)
        self.sample_weight = (
            None if sample_weight is None else np.asarray(sample_weight)
        )
        self.batch_size = batch_size
        self.multiple = multiple
        self.shuffle = shuffle
        self.seed = seed
        self.lengths = _row_lengths(self.x)
        rows = len(self.lengths)
        if rows == 0:
            raise DataError("no rows to batch", source="<arrays>")
        self.padded_length = max(
            value.shape[1] for value in self.x.values() if value.ndim >= 2
        )
        self._epoch = 0
        self._batches = self._make_batches()
        self._served = set()

    def _make_batches(self):
        rng = np.random.default_rng(self.seed + self._epoch)
        rows = len(self.lengths)
        tie_break = rng.random(rows) if self.shuffle else np.zeros(rows)
        order = np.lexsort((tie_break, self.lengths))
        batches = [
            order[start : start + self.batch_size]
            for start in range(0, len(order), self.batch_size)
        ]
        if self.shuffle:
            rng.shuffle(batches)
        return batches

    def batch_length(self, rows):
        """The trimmed length of a batch of these rows."""
        longest = max(int(self.lengths[rows].max()), 1)
        return int(
            min(-(-longest // self.multiple) * self.multiple, self.padded_length)
        )

    def _take(self, array, rows, length):
        if array.ndim >= 2 and array.shape[1] == self.padded_length:
            return array[rows, :length]
        return array[rows]

    def positions_width(self, rows):
        """The trimmed width of a batch's position lists (one for all keys,
        so that a pair's chosen and rejected lists stay concatenable)."""
        lists = [value for key, value in self.x.items() if key.endswith("positions")]
        count = max([int((value[rows] >= 0).sum(axis=1).max()) for value in lists] + [1])
        width = -(-count // self.multiple) * self.multiple
        return min(width, max(value.shape[1] for value in lists))

    def __len__(self):
        return len(self._batches)

    def batch_rows(self):
        """The row indices of each batch, in the order `__getitem__` serves
        them (each batch's rows sorted)."""
        return [np.sort(rows) for rows in self._batches]

    def __getitem__(self, index):
        self._served.add(index)
        rows = np.sort(self._batches[index])
        length = self.batch_length(rows)
        x = {
            key: value[rows, : self.positions_width(rows)]
            if key.endswith("positions")
            else self._take(value, rows, length)
            for key, value in self.x.items()
        }
        batch = (x,)
        if self.y is not None:
            batch += (self._take(self.y, rows, length),)
        if self.sample_weight is not None:
            batch += (self._take(self.sample_weight, rows, length),)
        return batch

    def keras_input(self):
        """What to pass to `fit`, `evaluate` or `predict`.

        On JAX and PyTorch, these batches. On TensorFlow, a `tf.data.Dataset`
        of them whose shapes leave every length free: from a `PyDataset`,
        Keras fixes TensorFlow's input shapes from the first two batches, and
        a longer batch after two of equal length fails inside `tf.data`.

        >>> import numpy as np
        >>> x = {"token_ids": np.ones((4, 64), "int32"), "padding_mask": np.ones((4, 64), bool)}
        >>> inputs = LengthBuckets(x, batch_size=2).keras_input()
        >>> len(inputs)
        2
        """
        if keras.config.backend() != "tensorflow":
            return self
        from kerasalign.backend_ops import tensorflow_dataset

        return tensorflow_dataset(self, on_pass_end=self.on_epoch_end)

    def on_epoch_end(self):
        # Keras also ends an "epoch" after taking the first batch to build
        # the model (JAX, PyTorch): that is not a pass over the data.
        if len(self._served) < len(self._batches):
            return
        self._served = set()
        self._epoch += 1
        if self.shuffle:
            self._batches = self._make_batches()

    def padding_fraction(self):
        """Fraction of the batched positions that are padding."""
        total = sum(len(rows) * self.batch_length(rows) for rows in self._batches)
        return 1.0 - float(self.lengths.sum()) / total
