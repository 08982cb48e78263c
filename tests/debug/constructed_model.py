"""A two-layer Gemma whose answer depends, by construction, on one prompt token.

The model reads "Words: ... <colour> ...\\nColour:" and answers with the
colour word wherever it stands. Its weights are set by hand (no training):

- embedding dimension 0 is 1 for every token (it drives the query), dimension
  1 is 1 for the five colour words only (it drives the key), and dimensions
  2-33 hold an identity vector per token: one-hot for the colour words,
  random for every other token, orthogonal to the colours' axes;
- block 0 only adds the same offset to every position (its feed-forward
  layer writes a constant into dimension 40). Without it the first RMS norm
  would make every later computation blind to the scale of a token's
  embedding, so gradient x input would be exactly 0 for the colour token;
- block 1's single attention head uses head dimension 15 for query and key,
  which RoPE rotates by less than 0.01 radians over 30 positions: the last
  position attends to the colour token (score about 15) and to nothing else
  (score 0). Its value copies the identity vector and its output projection
  adds it, amplified, to the residual stream;
- logits are the tied embedding applied to the final normed state, so the
  colour's own identity axis gives it the highest logit.

So `log p(colour | prompt)` depends on the colour token and on almost
nothing else: salience must put it on top.
"""

import keras_hub
import numpy as np

from kerasalign.models import load_causal_lm

COLOURS = ("red", "blue", "green", "black", "white")
HIDDEN_DIM = 64
HEAD_DIM = 32
OFFSET_DIM = 40
# Head dimension 15 pairs with 31 in RoPE's rotate-half layout and has the
# lowest frequency: 10000 ** (-30 / 32) ~ 1.8e-4 radians per position.
SLOW_ROTARY_DIM = 15
QUERY_GAIN = 2.0
KEY_GAIN = 2.0
OUTPUT_GAIN = 32.0
OFFSET_GAIN = 1.0


def colour_token_ids(tokenizer):
    """The ids of `" red"`, `" blue"`, ... (each a single token)."""
    ids = [np.asarray(tokenizer.tokenize(" " + colour)).reshape(-1) for colour in COLOURS]
    assert all(len(i) == 1 for i in ids), "colour words must be single tokens"
    return [int(i[0]) for i in ids]


def build_colour_model(seed=0):
    """A `GemmaCausalLM` with the tiny tokenizer and hand-set weights."""
    preprocessor = load_causal_lm("tiny_gemma", sequence_length=64).preprocessor
    tokenizer = preprocessor.tokenizer
    vocabulary_size = tokenizer.vocabulary_size()
    backbone = keras_hub.models.GemmaBackbone(
        vocabulary_size=vocabulary_size,
        num_layers=2,
        num_query_heads=1,
        num_key_value_heads=1,
        hidden_dim=HIDDEN_DIM,
        intermediate_dim=4,
        head_dim=HEAD_DIM,
    )
    colours = colour_token_ids(tokenizer)
    identity_dims = np.arange(2, 2 + HEAD_DIM)  # what the value head carries
    colour_dims = identity_dims[: len(colours)]
    other_dims = identity_dims[len(colours) :]

    rng = np.random.default_rng(seed)
    embeddings = np.zeros((vocabulary_size, HIDDEN_DIM), "float32")
    embeddings[:, 0] = 1.0
    identities = rng.normal(size=(vocabulary_size, len(other_dims)))
    embeddings[:, other_dims] = identities / np.linalg.norm(identities, axis=1, keepdims=True)
    for token_id, dim in zip(colours, colour_dims, strict=True):
        embeddings[token_id, 1] = 1.0
        embeddings[token_id, identity_dims] = 0.0
        embeddings[token_id, dim] = 1.0

    # Block 0: gelu(n0) * n0 * OFFSET_GAIN into OFFSET_DIM at every position.
    gating = np.zeros((HIDDEN_DIM, 2), "float32")
    gating[0, 0] = 1.0
    offset = np.zeros((2, HIDDEN_DIM), "float32")
    offset[0, OFFSET_DIM] = OFFSET_GAIN
    # Block 1: attend to the colour flag, copy the identity vector.
    query = np.zeros((1, HIDDEN_DIM, HEAD_DIM), "float32")
    query[0, 0, SLOW_ROTARY_DIM] = QUERY_GAIN
    key = np.zeros((1, HIDDEN_DIM, HEAD_DIM), "float32")
    key[0, 1, SLOW_ROTARY_DIM] = KEY_GAIN
    value = np.zeros((1, HIDDEN_DIM, HEAD_DIM), "float32")
    value[0, identity_dims, np.arange(HEAD_DIM)] = 1.0
    output = np.zeros((1, HEAD_DIM, HIDDEN_DIM), "float32")
    output[0, np.arange(HEAD_DIM), identity_dims] = OUTPUT_GAIN

    weights = {
        "token_embedding/embeddings": embeddings,
        "decoder_block_0/ffw_gating/kernel": gating,
        "decoder_block_0/ffw_gating_2/kernel": gating,
        "decoder_block_0/ffw_linear/kernel": offset,
        "decoder_block_1/attention/query/kernel": query,
        "decoder_block_1/attention/key/kernel": key,
        "decoder_block_1/attention/value/kernel": value,
        "decoder_block_1/attention/attention_output/kernel": output,
    }
    for variable in backbone.weights:
        # Everything else is zero: RMS norm scales (Gemma multiplies by
        # 1 + scale), block 0's attention, block 1's feed-forward layer.
        variable.assign(weights.get(variable.path, np.zeros(variable.shape, "float32")))
    return keras_hub.models.GemmaCausalLM(backbone=backbone, preprocessor=preprocessor)
