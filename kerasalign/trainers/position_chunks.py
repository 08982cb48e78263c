"""Apply a per-position function to a sequence a chunk of positions at a time.

The log-probabilities of a large vocabulary are computed from hidden states
in chunks of positions (`token_logprobs`, `chunked_token_loss`), so that
only `batch x chunk_size x vocabulary` logits exist at once. With
`remat=True` each chunk is also recomputed in the backward pass instead of
being kept. On JAX the chunks then run in a loop (`keras.ops.scan`), one
after the other: written as separate calls, XLA's scheduler is free to
compute several chunks' logits at the same time, and on the CPU it did, which
kept four chunks alive (DPO peak RSS on the benchmark's small config, 64- /
32-position chunks: 4.69 / 4.76 GB with separate calls, 4.03 / 3.89 GB with
the loop, at the same speed; on the Gemma 3 270M architecture, 10.41 and
7.90 GB). Those numbers are under XLA's default concurrency-first CPU
scheduler; kerasalign now turns it off (`kerasalign.xla_cpu_schedule`), and
then separate calls also run one chunk at a time, so the loop is what keeps
memory low where a user restores XLA's default. TensorFlow's `scan` needs
outputs shaped like its carry, and PyTorch runs the calls one after the
other anyway, so they keep separate calls.

Examples:

>>> import numpy as np
>>> from keras import ops
>>> hidden = np.arange(2 * 5 * 3, dtype="float32").reshape(2, 5, 3)
>>> targets = np.ones((2, 5), "int32")
>>> def per_position(hidden_chunk, target_chunk):
...     return (ops.sum(hidden_chunk, axis=-1) * ops.cast(target_chunk, "float32"),)
>>> (sums,) = map_position_chunks(per_position, (hidden, targets), chunk_size=2)
>>> np.allclose(ops.convert_to_numpy(sums), hidden.sum(-1))
True
"""

import keras
from keras import ops


def _sequential(remat):
    return remat and keras.config.backend() == "jax"


def map_position_chunks(fn, tensors, chunk_size, *, remat=False):
    """`fn` over chunks of positions, outputs joined along positions.

    Args:
        fn: callable. Takes one chunk of each tensor of `tensors` (`(batch,
            chunk, ...)`) and returns a tuple of `(batch, chunk)` tensors.
        tensors: tuple of tensors `(batch, length, ...)`.
        chunk_size: int. Positions per call of `fn`.
        remat: bool. Recompute each chunk in the backward pass
            (`keras.remat`) instead of keeping its intermediates; on JAX the
            chunks then also run one after the other. Defaults to `False`.

    Returns:
        A tuple of `(batch, length)` tensors, one per output of `fn`.
    """
    if remat:
        # `fn` closes over any layer it uses: `keras.remat` (on JAX,
        # `jax.checkpoint`) only takes tensors as arguments.
        fn = keras.remat(fn)
    length = tensors[0].shape[1]
    if length is None or length <= chunk_size:
        return tuple(fn(*tensors))
    full_chunks = length // chunk_size
    parts = []
    if _sequential(remat) and full_chunks > 1:
        parts.append(_scan_chunks(fn, tensors, chunk_size, full_chunks))
        starts = [full_chunks * chunk_size] if length % chunk_size else []
    else:
        starts = range(0, length, chunk_size)
    for start in starts:
        parts.append(tuple(fn(*(t[:, start : start + chunk_size] for t in tensors))))
    if len(parts) == 1:
        return parts[0]
    return tuple(ops.concatenate(outputs, axis=1) for outputs in zip(*parts, strict=True))


def _scan_chunks(fn, tensors, chunk_size, count):
    """`fn` over the first `count` chunks in a `keras.ops.scan` loop."""
    covered = count * chunk_size

    def to_chunks(tensor):
        tensor = tensor[:, :covered]
        shape = ops.shape(tensor)
        chunked = ops.reshape(tensor, (shape[0], count, chunk_size, *shape[2:]))
        return ops.transpose(chunked, [1, 0, *range(2, len(chunked.shape))])

    def step(carry, chunk):
        return carry, tuple(fn(*chunk))

    _, outputs = ops.scan(
        step, ops.zeros((), "float32"), tuple(to_chunks(t) for t in tensors)
    )
    results = []
    for output in outputs:
        # (count, batch, chunk) -> (batch, count * chunk)
        output = ops.transpose(output, [1, 0, 2])
        results.append(ops.reshape(output, (ops.shape(output)[0], covered)))
    return tuple(results)
