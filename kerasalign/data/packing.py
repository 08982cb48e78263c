"""Pack short SFT examples end to end into full-length rows.

Short examples padded to a common length waste most of a batch on padding.
Packing concatenates several preprocessed examples into one row of
`sequence_length` tokens (first-fit decreasing: longest first, each into the
first row with room), so a batch holds about as many real tokens as it has
positions. Every example keeps its tokens, targets and loss weights, in
order; only the row it sits in changes.

What packing changes, as with TRL's `packing=True` when attention is not
padding-free: KerasHub's Gemma backbones take a padding mask but no segment
ids, so a token can attend to the examples packed before it in its row, and
its rotary position counts from the row's start rather than the example's.
The first example of every row is computed exactly as unpacked (attention is
causal). Prefer `LengthBuckets` (`bucket_multiple`) when that matters; pack
when examples are much shorter than `sequence_length` and throughput does.

Examples:

>>> import numpy as np
>>> x = {"token_ids": np.array([[5, 6, 0, 0], [7, 8, 9, 0], [3, 0, 0, 0]]),
...      "padding_mask": np.array([[1, 1, 0, 0], [1, 1, 1, 0], [1, 0, 0, 0]], bool)}
>>> y = x["token_ids"] + 1
>>> w = x["padding_mask"].astype("float32")
>>> (px, py, pw), report = pack_sft_rows(x, y, w, sequence_length=4)
>>> px["token_ids"].tolist()
[[7, 8, 9, 3], [5, 6, 0, 0]]
>>> report.rows_in, report.rows_out
(3, 2)
"""

import dataclasses

import numpy as np

from kerasalign.errors import KerasAlignError


@dataclasses.dataclass
class PackingReport:
    """What packing did.

    Attributes:
        rows_in: int. Examples packed.
        rows_out: int. Packed rows.
        tokens: int. Real (non-padding) tokens, the same before and after.
        padding_before: float. Fraction of positions that were padding
            before packing, with every row padded to the longest example.
        padding_after: float. Fraction of positions that are padding after.
    """

    rows_in: int
    rows_out: int
    tokens: int
    padding_before: float
    padding_after: float

    def summary(self):
        return (
            f"packed {self.rows_in} examples into {self.rows_out} rows; padding "
            f"{self.padding_before:.0%} -> {self.padding_after:.0%}"
        )


def _first_fit_decreasing(lengths, capacity):
    """Rows of example indices; each row's lengths sum to at most `capacity`."""
    rows, room = [], []
    for index in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        length = lengths[index]
        for row, left in enumerate(room):
            if length <= left:
                rows[row].append(index)
                room[row] -= length
                break
        else:
            rows.append([index])
            room.append(capacity - length)
    return rows


def pack_sft_rows(x, y, sample_weight, sequence_length, pad_token_id=0):
    """Pack `SFTPreprocessor.batch` output into rows of `sequence_length`.

    Args:
        x: dict with `"token_ids"` and `"padding_mask"`, shape
            `(examples, length)`; each row's real tokens come first.
        y: array `(examples, length)`, next-token targets.
        sample_weight: array `(examples, length)`, loss weights.
        sequence_length: int. Length of the packed rows; at least the
            longest example.
        pad_token_id: int. Token and target id of padding positions.
            Defaults to 0 (Gemma's `<pad>`).

    Returns:
        `((x, y, sample_weight), PackingReport)`, the arrays of shape
        `(rows_out, sequence_length)`; padding has `padding_mask` False,
        token and target `pad_token_id` and weight 0.
    """
    token_ids = np.asarray(x["token_ids"])
    padding_mask = np.asarray(x["padding_mask"], dtype=bool)
    y = np.asarray(y)
    sample_weight = np.asarray(sample_weight)
    if set(x) != {"token_ids", "padding_mask"}:
        raise KerasAlignError(
            "pack_sft_rows packs token_ids and padding_mask only; "
            f"got x keys {sorted(x)} (derive loss_positions after packing)"
        )
    lengths = padding_mask.sum(axis=1)
    if not len(lengths):
        raise KerasAlignError("no rows to pack")
    if (padding_mask != (np.arange(padding_mask.shape[1]) < lengths[:, None])).any():
        raise KerasAlignError("each row's padding must come after its tokens to pack it")
    if lengths.max() > sequence_length:
        raise KerasAlignError(
            f"sequence_length={sequence_length} is shorter than the longest example "
            f"({int(lengths.max())} tokens)"
        )
    rows = _first_fit_decreasing(lengths.tolist(), sequence_length)
    shape = (len(rows), sequence_length)
    packed_ids = np.full(shape, pad_token_id, token_ids.dtype)
    packed_mask = np.zeros(shape, bool)
    packed_y = np.full(shape, pad_token_id, y.dtype)
    packed_weight = np.zeros(shape, sample_weight.dtype)
    for row, members in enumerate(rows):
        start = 0
        for index in members:
            n = lengths[index]
            packed_ids[row, start : start + n] = token_ids[index, :n]
            packed_y[row, start : start + n] = y[index, :n]
            packed_weight[row, start : start + n] = sample_weight[index, :n]
            packed_mask[row, start : start + n] = True
            start += n
    tokens = int(lengths.sum())
    report = PackingReport(
        rows_in=len(lengths),
        rows_out=len(rows),
        tokens=tokens,
        padding_before=1.0 - tokens / (len(lengths) * int(lengths.max())),
        padding_after=1.0 - tokens / packed_mask.size,
    )
    packed_x = {"token_ids": packed_ids, "padding_mask": packed_mask}
    return (packed_x, packed_y, packed_weight), report
