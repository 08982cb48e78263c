"""The reference model of preference training, without a second copy.

DPO and its variants compare the policy's log-probabilities with those of a
frozen reference. When the policy is a LoRA-adapted model, its base weights
*are* the reference: `lora_disabled` switches the LoRA update off (its scale
`alpha / rank` becomes 0) for the duration of a block, so one pass over the
data gives reference log-probabilities with no second model in memory.
`reference_logprobs` does that pass with a compiled `predict`.

A separate reference model must match the policy: `check_reference_model`
refuses one with another vocabulary or architecture, with a message.

Examples:

>>> import kerasalign
>>> policy = kerasalign.load_causal_lm("tiny_gemma", lora_rank=2)
>>> with lora_disabled(policy):
...     scales = {layer.lora_alpha for layer in lora_layers(policy)}
>>> scales
{0.0}
>>> {layer.lora_alpha for layer in lora_layers(policy)}
{2.0}
"""

import contextlib
import hashlib

import keras
import numpy as np

from kerasalign.errors import KerasAlignError
from kerasalign.models.lora import ARCHITECTURE_KEYS
from kerasalign.trainers.logprobs import backbone_of, preference_logprobs

PAIR_INPUT_KEYS = tuple(
    f"{side}_{key}"
    for side in ("chosen", "rejected")
    for key in ("token_ids", "padding_mask", "response_mask")
)
POSITION_KEYS = ("chosen_response_positions", "rejected_response_positions")
REFERENCE_KEYS = ("reference_chosen_logps", "reference_rejected_logps")


def lora_layers(model):
    """The layers of a model's backbone that have LoRA enabled."""
    return [
        layer
        for layer in backbone_of(model)._flatten_layers(include_self=False)
        if getattr(layer, "lora_enabled", False)
    ]


@contextlib.contextmanager
def lora_disabled(model):
    """Switch a model's LoRA update off inside a `with` block.

    Sets every LoRA layer's `lora_alpha` to 0 and restores it afterwards.
    The scale is read when a function is traced, so use it around eager
    calls or around functions compiled inside the block (not around a
    function compiled earlier, such as a trainer's existing `predict`).
    A model without LoRA is left as it is.
    """
    layers = lora_layers(model)
    alphas = [layer.lora_alpha for layer in layers]
    try:
        for layer in layers:
            layer.lora_alpha = 0.0
        yield model
    finally:
        for layer, alpha in zip(layers, alphas, strict=True):
            layer.lora_alpha = alpha


def _architecture(model):
    backbone = backbone_of(model)
    config = backbone.get_config()
    return {
        "backbone_class": type(backbone).__name__,
        **{key: config.get(key) for key in ARCHITECTURE_KEYS},
    }


def _tokenizer_vocabulary_size(model):
    preprocessor = getattr(model, "preprocessor", None)
    tokenizer = getattr(preprocessor, "tokenizer", None)
    return None if tokenizer is None else tokenizer.vocabulary_size()


def check_reference_model(policy, reference):
    """Raise `KerasAlignError` unless `reference` can serve as `policy`'s reference.

    The reference must be a separate model with the policy's vocabulary
    (log-probabilities of the same token ids) and architecture (the
    reference is the policy's starting point).
    """
    if reference is policy or backbone_of(reference) is backbone_of(policy):
        raise KerasAlignError(
            "The reference model is the policy itself. Leave reference=None to "
            "use the policy with its LoRA update switched off, or pass a "
            "separately loaded model."
        )
    vocabularies = (_tokenizer_vocabulary_size(policy), _tokenizer_vocabulary_size(reference))
    if None not in vocabularies and vocabularies[0] != vocabularies[1]:
        raise KerasAlignError(
            f"The reference model's tokenizer has {vocabularies[1]} tokens but "
            f"the policy's has {vocabularies[0]}: both must use the same "
            "tokenizer, or their log-probabilities are of different tokens."
        )
    expected, actual = _architecture(policy), _architecture(reference)
    mismatched = [key for key in expected if expected[key] != actual[key]]
    if mismatched:
        details = ", ".join(
            f"{key}: policy {expected[key]!r} vs reference {actual[key]!r}"
            for key in mismatched
        )
        raise KerasAlignError(
            "The reference model does not match the policy's architecture "
            f"({details}). The reference must be the model the policy starts "
            "from, e.g. the same preset loaded again."
        )


class _ReferenceScorer(keras.Model):
    """Summed response log-probs of preference pairs, for `predict`."""

    def __init__(self, model, chunk_size=None, **kwargs):
        # An explicit name: TensorFlow refuses scope names that start with "_".
        kwargs.setdefault("name", "reference_scorer")
        super().__init__(**kwargs)
        self.model_to_score = model
        self.chunk_size = chunk_size

    def call(self, x):
        chosen, rejected = preference_logprobs(
            self.model_to_score, x, chunk_size=self.chunk_size
        )
        return {REFERENCE_KEYS[0]: chosen.summed, REFERENCE_KEYS[1]: rejected.summed}


def pairs_digest(x):
    """A fingerprint of a preprocessed batch's token ids and masks."""
    digest = hashlib.sha1()
    for key in PAIR_INPUT_KEYS:
        array = np.ascontiguousarray(keras.ops.convert_to_numpy(x[key]))
        digest.update(key.encode())
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def reference_logprobs(
    model, x, *, batch_size=8, chunk_size=None, disable_lora=True, bucket_multiple=None
):
    """Summed response log-probs of each pair under `model`, in one pass.

    Args:
        model: a KerasHub `CausalLM`.
        x: dict of arrays from `PreferencePreprocessor.batch`.
        batch_size: int. Pairs per forward pass. Defaults to 8.
        chunk_size: int. See `token_logprobs`. Defaults to `None` (128).
        disable_lora: bool. Score with the LoRA update switched off.
            Defaults to `True`.
        bucket_multiple: int. Score pairs of similar length together, each
            batch trimmed to a multiple of this many tokens (`LengthBuckets`);
            the results come back in the original order. Defaults to `None`
            (every batch padded to the longest pair).

    Returns:
        A dict with `reference_chosen_logps` and `reference_rejected_logps`,
        NumPy float32 arrays of shape `(pairs,)`.
    """
    missing = [key for key in PAIR_INPUT_KEYS if key not in x]
    if missing:
        raise KerasAlignError(
            f"The preference batch has no {missing}; make it with "
            "PreferencePreprocessor.batch."
        )
    inputs = {key: x[key] for key in PAIR_INPUT_KEYS + POSITION_KEYS if key in x}
    context = lora_disabled(model) if disable_lora else contextlib.nullcontext()
    with context:
        # A new model, so its predict function is traced inside the block.
        scorer = _ReferenceScorer(model, chunk_size=chunk_size)
        if bucket_multiple:
            from kerasalign.data.length_buckets import LengthBuckets

            buckets = LengthBuckets(
                inputs, batch_size=batch_size, multiple=bucket_multiple, shuffle=False
            )
            outputs = scorer.predict(buckets.keras_input(), verbose=0)
            order = np.concatenate(buckets.batch_rows())
            restored = np.empty_like(order)
            restored[order] = np.arange(len(order))
            outputs = {key: np.asarray(outputs[key])[restored] for key in REFERENCE_KEYS}
        else:
            outputs = scorer.predict(inputs, batch_size=batch_size, verbose=0)
    return {key: np.asarray(outputs[key], dtype="float32") for key in REFERENCE_KEYS}
