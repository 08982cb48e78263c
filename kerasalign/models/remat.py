"""Rematerialisation of the decoder blocks: less activation memory, more compute.

Training keeps every decoder block's intermediate activations (attention
scores, the feed-forward's wide hidden layer) for the backward pass: for a
batch of 16 sequences x 256 tokens of a hidden-512, 8-layer Gemma that is
gigabytes. With `load_causal_lm(..., remat=True)` each decoder
block keeps only its input and recomputes the rest in the backward pass
(gradient checkpointing), at the price of one more forward pass of the
blocks per step. Keras does the work: the model is built inside a
`keras.RematScope(mode="list_of_layers")` naming the blocks, and
`keras.remat` wraps their calls (`jax.checkpoint`, `torch.utils.checkpoint`).
Measured on a DPO step of that model with 64-position logits chunks also
recomputed (benchmarks/results-cpu-remat): JAX float32 peak RSS 6.18 -> 4.70
GB at 0.84x the speed; PyTorch bfloat16 4.26 -> 3.70 GB at 0.43x.

JAX and PyTorch only: on TensorFlow, Keras 3.15's `tf.recompute_grad`
refuses the keyword arguments (`padding_mask`, ...) that the decoder blocks
are called with inside `fit`'s graph, so `load_causal_lm` refuses
`remat=True` there with a clear error instead of failing at the first step.

The output layer's logits are the other large activation; DPO and SFT
trainers recompute those chunk by chunk with `chunk_size` and `remat=True`.

Examples:

>>> import kerasalign
>>> model = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4, remat=True)
>>> rematerialised_blocks(model)
['decoder_block_0', 'decoder_block_1']
"""

import contextlib

import keras

from kerasalign.errors import KerasAlignError

# KerasHub names the transformer layers of Gemma, Gemma 2 and Gemma 3 this
# way; the names are known before the model (and its depth) is.
MAX_DECODER_BLOCKS = 512
DECODER_BLOCK_NAMES = [f"decoder_block_{index}" for index in range(MAX_DECODER_BLOCKS)]


def decoder_block_remat_scope(enabled=True):
    """A context in which the Gemma models built get rematerialised decoder blocks."""
    if not enabled:
        return contextlib.nullcontext()
    if keras.config.backend() == "tensorflow":
        raise KerasAlignError(
            "remat=True needs the JAX or PyTorch backend: on TensorFlow, Keras' "
            "tf.recompute_grad does not accept the keyword arguments Gemma's decoder "
            "blocks are called with. Set KERAS_BACKEND=jax or torch, or use remat=False."
        )
    return keras.RematScope(mode="list_of_layers", layer_names=DECODER_BLOCK_NAMES)


def rematerialised_blocks(causal_lm):
    """Names of the decoder blocks of `causal_lm` that recompute their activations."""
    names = []
    for layer in causal_lm.backbone.transformer_layers:
        mode = getattr(layer, "_remat_mode", None)
        if mode is not None and layer.name in (mode.layer_names or ()):
            names.append(layer.name)
    return names
