"""Log-probabilities of response tokens under a Gemma CausalLM.

The preference losses need, for each sequence, the log-probability of its
response tokens: summed over them (DPO, IPO's reference, ...) or averaged
(SimPO, ORPO). The masking rules are those of SFT: a token counts when it is
a response token (the response text and the end-of-turn marker or the
end-of-sequence token after it); prompt and padding tokens do not.

A sequence is given as `token_ids` of shape `(batch, length)` that holds the
whole text (start token, prompt, response), its `padding_mask`, and a
`response_mask` marking the response tokens of `token_ids`. Position `t`
of the model's output predicts token `t + 1`. Optionally
`response_positions` `(batch, window)` lists the positions that predict
response tokens (`-1` for none, as `PreferencePreprocessor` makes them):
then logits are computed at those positions only, not over the prompt.

The log-softmax is computed from the backbone's hidden states a chunk of
positions at a time (`target_logprobs`): only
`batch x chunk_size x vocabulary` float32 logits exist at once in the
forward pass (Gemma 3's vocabulary has 262,144 entries: full float32 logits
of a 4 x 256 batch take 1 GB). With `remat=True` each chunk's logits are
also recomputed in the backward pass instead of being kept, which bounds
training memory the same way at the cost of one more output-layer matmul.

Works for Gemma, Gemma 2 and Gemma 3 (KerasHub's Gemma 3 task has no
`score` method): only `backbone(...)` and `backbone.token_embedding(...,
reverse=True)` are used, which includes Gemma 2's final logit soft-cap.

Examples:

>>> import numpy as np, kerasalign
>>> causal_lm = kerasalign.load_causal_lm("tiny_gemma3")
>>> token_ids = np.array([[2, 10, 11, 12, 0]])
>>> padding_mask = np.array([[1, 1, 1, 1, 0]], bool)
>>> response_mask = np.array([[0, 0, 1, 1, 0]], bool)
>>> result = sequence_logprobs(causal_lm, token_ids, padding_mask, response_mask)
>>> tuple(result.summed.shape), float(result.token_counts[0])
((1,), 2.0)
"""

import collections

import keras
from keras import ops

from kerasalign.trainers.position_chunks import map_position_chunks

DEFAULT_CHUNK_SIZE = 128

SequenceLogprobs = collections.namedtuple(
    "SequenceLogprobs", ["summed", "mean", "token_counts"]
)
SequenceLogprobs.__doc__ = """Per-sequence response log-probabilities.

Attributes:
    summed: tensor `(batch,)`. Log-probs summed over response tokens.
    mean: tensor `(batch,)`. Log-probs averaged over response tokens (0 for
        a sequence without response tokens).
    token_counts: tensor `(batch,)`. Number of response tokens, float32.
"""


def backbone_of(model):
    """The backbone of a CausalLM (or the backbone itself)."""
    return getattr(model, "backbone", model)


def target_logprobs(logits, targets):
    """`log softmax(logits)` at each position's target token.

    On TensorFlow this is minus Keras' `sparse_categorical_crossentropy`,
    TensorFlow's fused softmax cross-entropy kernel, which computes the
    gradient in the same pass: in an A/B on a 2-core CPU, bfloat16 SFT ran
    6-12% and DPO 16-18% faster, with 0.7-1.8 GB less peak memory, and SFT
    on Gemma 3's 262,144-entry vocabulary about 1.5x as fast
    (`benchmarks/results-cpu-avx512/tf-fused-cross-entropy/`). On JAX and
    PyTorch Keras' version was slower (forward and backward of one 8 x 192 x
    32,000 chunk, measured with another job running: 0.81 against 0.62 s
    and 1.72 against 1.50 s), so there it is `target logit -
    logsumexp(logits)`.

    Args:
        logits: float tensor `(..., vocabulary)`.
        targets: int tensor `(...)`, ids in `[0, vocabulary)`.

    Returns:
        A tensor `(...)` of the dtype of `logits`.

    Examples:

    >>> import numpy as np
    >>> logits = np.log(np.array([[0.5, 0.25, 0.25]], "float32"))
    >>> round(float(target_logprobs(logits, np.array([1]))[0]), 4)
    -1.3863
    """
    logits = ops.convert_to_tensor(logits)
    targets = ops.cast(targets, "int32")
    if keras.backend.backend() == "tensorflow":
        return -ops.sparse_categorical_crossentropy(targets, logits, from_logits=True)
    target_logits = ops.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
    return target_logits - ops.logsumexp(logits, axis=-1)


def _chunk_logprobs(token_embedding, hidden_chunk, target_chunk):
    logits = ops.cast(token_embedding(hidden_chunk, reverse=True), "float32")
    return target_logprobs(logits, target_chunk)


def token_logprobs(backbone, hidden_states, target_ids, *, chunk_size=None, remat=False):
    """`log p(target_ids[b, t] | position t)` from hidden states, in chunks.

    Args:
        backbone: a KerasHub Gemma backbone (its `token_embedding` gives the
            logits).
        hidden_states: tensor `(batch, length, hidden_dim)`.
        target_ids: int tensor `(batch, length)`. The token each position
            predicts.
        chunk_size: int. Positions whose logits are computed at once.
            Defaults to `None` (128).
        remat: bool. Recompute each chunk's logits in the backward pass
            instead of keeping them, one chunk after the other
            (`map_position_chunks`). Defaults to `False`.

    Returns:
        A float32 tensor `(batch, length)`.
    """
    target_ids = ops.cast(target_ids, "int32")
    token_embedding = backbone.token_embedding

    def chunk_fn(hidden_chunk, target_chunk):
        return (_chunk_logprobs(token_embedding, hidden_chunk, target_chunk),)

    (logprobs,) = map_position_chunks(
        chunk_fn,
        (hidden_states, target_ids),
        chunk_size or DEFAULT_CHUNK_SIZE,
        remat=remat,
    )
    return logprobs


def gather_positions(values, positions):
    """`values[b, positions[b, i]]` for `values` of rank 2 or 3."""
    if len(values.shape) == 3:
        # (batch, window, 1) * (batch, 1, features): the index of every feature.
        positions = positions[:, :, None] * ops.ones_like(values[:, :1, :], dtype="int32")
    return ops.take_along_axis(values, positions, axis=1)


def sequence_logprobs(
    model,
    token_ids,
    padding_mask,
    response_mask,
    *,
    response_positions=None,
    training=False,
    chunk_size=None,
    remat=False,
):
    """Summed and mean log-probabilities of the response tokens.

    Args:
        model: a KerasHub `CausalLM` or its backbone (Gemma, Gemma 2 or
            Gemma 3).
        token_ids: int tensor `(batch, length)`. Whole sequences.
        padding_mask: bool tensor `(batch, length)`.
        response_mask: bool or float tensor `(batch, length)`. 1 on the
            response tokens of `token_ids` (never on position 0, which has
            no prediction).
        response_positions: int tensor `(batch, window)` or `None`. The
            positions that predict the response tokens, `-1` for none; when
            given, logits are computed only there. Defaults to `None`
            (every position).
        training: bool. Run the backbone in training mode (dropout).
            Defaults to `False`.
        chunk_size: int. See `token_logprobs`. Defaults to `None` (128).
        remat: bool. See `token_logprobs`. Defaults to `False`.

    Returns:
        A `SequenceLogprobs` of three `(batch,)` float32 tensors: `summed`,
        `mean` and `token_counts`.
    """
    backbone = backbone_of(model)
    hidden_states = backbone(
        {"token_ids": token_ids, "padding_mask": padding_mask}, training=training
    )
    token_ids = ops.convert_to_tensor(token_ids)
    if response_positions is None:
        hidden_states, target_ids = hidden_states[:, :-1], token_ids[:, 1:]
        weights = ops.cast(ops.convert_to_tensor(response_mask)[:, 1:], "float32")
    else:
        response_positions = ops.cast(ops.convert_to_tensor(response_positions), "int32")
        weights = ops.cast(response_positions >= 0, "float32")
        positions = ops.maximum(response_positions, 0)
        hidden_states = gather_positions(hidden_states, positions)
        target_ids = gather_positions(token_ids, positions + 1)
    logprobs = token_logprobs(
        backbone, hidden_states, target_ids, chunk_size=chunk_size, remat=remat
    )
    summed = ops.sum(logprobs * weights, axis=1)
    token_counts = ops.sum(weights, axis=1)
    mean = summed / ops.maximum(token_counts, 1.0)
    return SequenceLogprobs(summed, mean, token_counts)


def preference_logprobs(model, x, *, training=False, chunk_size=None, remat=False):
    """Response log-probs of both sides of preference pairs, in one forward pass.

    The chosen and rejected sequences (padded to one length by
    `PreferencePreprocessor`) are concatenated along the batch axis, so the
    model runs once on `2 x batch` sequences.

    Args:
        model: a KerasHub `CausalLM` or its backbone.
        x: dict with `chosen_token_ids`, `chosen_padding_mask`,
            `chosen_response_mask` and the same three for `rejected`, and
            optionally `chosen_response_positions` and
            `rejected_response_positions` (see `sequence_logprobs`).
        training: bool. Defaults to `False`.
        chunk_size: int. See `token_logprobs`. Defaults to `None` (128).
        remat: bool. See `token_logprobs`. Defaults to `False`.

    Returns:
        `(chosen, rejected)`: two `SequenceLogprobs`.
    """

    def both(key):
        return ops.concatenate(
            [ops.convert_to_tensor(x[f"chosen_{key}"]), ops.convert_to_tensor(x[f"rejected_{key}"])],
            axis=0,
        )

    result = sequence_logprobs(
        model,
        both("token_ids"),
        both("padding_mask"),
        both("response_mask"),
        response_positions=both("response_positions") if "chosen_response_positions" in x else None,
        training=training,
        chunk_size=chunk_size,
        remat=remat,
    )
    halves = [ops.split(value, 2, axis=0) for value in result]
    chosen = SequenceLogprobs(*(pair[0] for pair in halves))
    rejected = SequenceLogprobs(*(pair[1] for pair in halves))
    return chosen, rejected
