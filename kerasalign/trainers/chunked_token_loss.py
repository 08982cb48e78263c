"""Token cross-entropy from hidden states, a chunk of positions at a time.

`SFTTrainer(chunk_size=...)` uses this instead of Keras' loss on full
logits. The logits of `batch x chunk_size` positions exist at once, in
float32, instead of `batch x length x vocabulary`: with Gemma 3's 262,144
entries a 8 x 256 batch has 2.1 GB of float32 logits per copy, and the
softmax gradient needs another. With `remat=True` each chunk's logits are
also recomputed in the backward pass instead of being kept.

The loss is the mean over weighted tokens (`mean_with_sample_weight`, the
same number as `masked_token_loss`), and the accuracy counts a token as
right when its target has the largest logit.

Examples:

>>> import numpy as np, kerasalign
>>> causal_lm = kerasalign.load_causal_lm("tiny_gemma")
>>> x = {"token_ids": np.array([[2, 10, 11, 12]]), "padding_mask": np.ones((1, 4), bool)}
>>> hidden_states = causal_lm.backbone(x)
>>> labels = np.array([[10, 11, 12, 1]])
>>> weights = np.array([[0.0, 1.0, 1.0, 1.0]])
>>> loss, accuracy = chunked_token_loss(
...     causal_lm.backbone, hidden_states, labels, weights, chunk_size=2)
>>> tuple(loss.shape), tuple(accuracy.shape)
((), ())
"""

from keras import ops

from kerasalign.trainers.logprobs import target_logprobs
from kerasalign.trainers.position_chunks import map_position_chunks
from kerasalign.trainers.token_accuracy import is_top_token


def _chunk_statistics(token_embedding, hidden_chunk, label_chunk):
    logits = ops.cast(token_embedding(hidden_chunk, reverse=True), "float32")
    negative_logprobs = -target_logprobs(logits, label_chunk)
    target_logits = ops.take_along_axis(logits, label_chunk[..., None], axis=-1)[..., 0]
    return negative_logprobs, is_top_token(logits, target_logits)


def chunked_token_loss(
    backbone, hidden_states, labels, sample_weight=None, *, chunk_size=128, remat=False
):
    """Mean token cross-entropy and accuracy over weighted positions.

    Args:
        backbone: a KerasHub Gemma, Gemma 2 or Gemma 3 backbone; its
            `token_embedding(..., reverse=True)` gives the logits (with
            Gemma 2's final soft-cap).
        hidden_states: tensor `(batch, length, hidden_dim)`.
        labels: int tensor `(batch, length)`. The token each position
            predicts.
        sample_weight: tensor `(batch, length)`. 0 on prompt and padding.
            Defaults to `None` (every position weighs 1).
        chunk_size: int. Positions whose logits exist at once.
            Defaults to 128.
        remat: bool. Recompute each chunk's logits in the backward pass.
            Defaults to `False`.

    Returns:
        `(loss, accuracy)`: two float32 scalars.
    """
    labels = ops.cast(labels, "int32")
    if sample_weight is None:
        sample_weight = ops.ones(ops.shape(labels), "float32")
    sample_weight = ops.cast(sample_weight, "float32")
    token_embedding = backbone.token_embedding

    def chunk_fn(hidden_chunk, label_chunk):
        return _chunk_statistics(token_embedding, hidden_chunk, label_chunk)

    negative_logprobs, correct = map_position_chunks(
        chunk_fn, (hidden_states, labels), chunk_size, remat=remat
    )
    total_loss = ops.sum(negative_logprobs * sample_weight)
    total_correct = ops.sum(correct * sample_weight)
    total_weight = ops.maximum(ops.sum(sample_weight), 1e-7)
    return total_loss / total_weight, total_correct / total_weight
