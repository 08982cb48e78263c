"""Run a Gemma backbone from input embeddings instead of token ids.

KerasHub's Gemma backbones are functional models that take token ids, so a
gradient with respect to the input embeddings needs the forward pass written
out: look the tokens up in `backbone.token_embedding`, scale by
`sqrt(hidden_dim)` (Gemma's convention), run each decoder block with the
padding mask, apply the final RMS norm and project back onto the vocabulary
with the tied embedding (`reverse=True`, which also applies Gemma 2/3's final
logit soft cap). This mirrors `GemmaBackbone.__init__` and
`Gemma3Backbone.__init__` (text only) in keras-hub 0.32.

Examples:

>>> import numpy as np
>>> import kerasalign
>>> causal_lm = kerasalign.load_causal_lm("tiny_gemma")
>>> token_ids = np.array([[2, 651, 1945]], dtype="int32")
>>> embeddings = embed_tokens(causal_lm.backbone, token_ids)
>>> log_probs = target_log_probs(
...     causal_lm.backbone, embeddings, np.array([1945]))
>>> tuple(log_probs.shape)
(1,)
"""

import math

import keras_hub
from keras import ops

from kerasalign.errors import KerasAlignError
from kerasalign.trainers.logprobs import target_logprobs

SUPPORTED_BACKBONES = (keras_hub.models.GemmaBackbone, keras_hub.models.Gemma3Backbone)


def check_backbone(backbone):
    """Raise `KerasAlignError` unless `backbone` is a Gemma or Gemma 3 backbone."""
    if not isinstance(backbone, SUPPORTED_BACKBONES):
        raise KerasAlignError(
            "Salience runs the backbone from input embeddings and supports "
            "GemmaBackbone (Gemma, Gemma 2) and Gemma3Backbone. Received: "
            f"{type(backbone).__name__}."
        )


def embed_tokens(backbone, token_ids):
    """The input embeddings of `token_ids`, before Gemma's `sqrt(hidden_dim)` scaling.

    Args:
        backbone: a `GemmaBackbone` or `Gemma3Backbone`.
        token_ids: int array `[batch, length]`.

    Returns:
        A float tensor `[batch, length, hidden_dim]`.
    """
    return backbone.token_embedding(ops.convert_to_tensor(token_ids, "int32"))


def hidden_states_from_embeddings(backbone, embeddings, padding_mask=None):
    """The backbone's output (after the final norm) for given input embeddings.

    Args:
        backbone: a `GemmaBackbone` or `Gemma3Backbone`.
        embeddings: float tensor `[batch, length, hidden_dim]`, as returned by
            `embed_tokens` (unscaled).
        padding_mask: int array `[batch, length]`. Defaults to `None` (no
            padding).

    Returns:
        A float tensor `[batch, length, hidden_dim]`.
    """
    if padding_mask is None:
        padding_mask = ops.ones(ops.shape(embeddings)[:2], dtype="int32")
    padding_mask = ops.convert_to_tensor(padding_mask, "int32")
    x = embeddings * ops.cast(math.sqrt(backbone.hidden_dim), embeddings.dtype)
    for decoder_block in backbone.transformer_layers:
        x = decoder_block(x, padding_mask=padding_mask)
    return backbone.layer_norm(x)


def target_log_probs(backbone, embeddings, target_ids, padding_mask=None):
    """Summed log-probability of the target tokens, one value per batch row.

    The sequence is `prompt + target`, the target being its last
    `num_targets` tokens: position `length - num_targets - 1` predicts the
    first target token, and so on. Only the positions that predict a target
    token are projected onto the vocabulary.

    Args:
        backbone: a `GemmaBackbone` or `Gemma3Backbone`.
        embeddings: float tensor `[batch, length, hidden_dim]` (unscaled).
        target_ids: int array `[num_targets]`: the last `num_targets` tokens
            of the sequence.
        padding_mask: int array `[batch, length]`. Defaults to `None`.

    Returns:
        A float32 tensor `[batch]`: `sum_t log p(target_t | tokens before it)`
        (summed over target tokens, in nats).
    """
    hidden = hidden_states_from_embeddings(backbone, embeddings, padding_mask)
    num_targets = ops.shape(target_ids)[0]
    first_target = ops.shape(embeddings)[1] - num_targets
    predicting = hidden[:, first_target - 1 : first_target - 1 + num_targets, :]
    logits = ops.cast(backbone.token_embedding(predicting, reverse=True), "float32")
    targets = ops.convert_to_tensor(target_ids, "int32")
    targets = ops.broadcast_to(targets[None, :], (ops.shape(logits)[0], num_targets))
    token_log_probs = target_logprobs(logits, targets)
    return ops.sum(token_log_probs, axis=-1)
