"""`DPOTrainer`: direct preference optimisation and its variants via `fit`.

The trainer is a `keras.Model` wrapping a policy CausalLM (usually with
LoRA). Its `call` runs the chosen and rejected sequences of a batch through
the policy as one batch and returns their response log-probabilities; its
`compute_loss` applies the loss chosen by name from
`kerasalign.trainers.losses.LOSSES`. No `train_step` is overridden, so
`compile()` and `fit()` work the same on JAX, TensorFlow and PyTorch, with
the usual callbacks.

Reference log-probabilities come, by default, from the policy itself with
its LoRA update switched off, computed in one pass over the data before
training (`fit` and `evaluate` add them to a dict of arrays that lacks
them; for other inputs call `precompute_reference_logprobs` first). No
second copy of the model is kept. Alternatively pass a separate frozen
`reference` model, which runs alongside the policy at every step. Reward-free
losses (`simpo`, `orpo`) use no reference at all.

Which reference: with `reference_lora="off"` (the default) it is the base
model, the policy with its LoRA update switched off. To continue a LoRA SFT
adapter with DPO and keep the SFT model as the reference, load the adapter
and use `reference_lora="on"`: the reference is then the policy as it is
before training, LoRA included (with a fresh LoRA, whose update starts at
zero, both settings give the same reference). Without LoRA (full
fine-tuning) the reference is also the policy before training. In those two
cases reference log-probs of new data cannot be computed once training has
started: precompute them for every dataset (training and validation) first,
which `fit` does for the data it is given.

RPO (Pang et al., 2024, "Iterative Reasoning Preference Optimization"):
`rpo_alpha > 0` adds `rpo_alpha` times the NLL of the chosen responses
(each response's mean token NLL, averaged over the batch, as in ORPO's SFT
term; TRL's `rpo_alpha` averages over all chosen tokens of the batch
instead) to any loss but ORPO, which has that term already. DPO alone may
lower the likelihood of both responses while their margin grows; the NLL
term holds the chosen ones up. The metric `nll_loss` reports it.

Sum or mean: `sigmoid`, `robust` and `hinge` use log-probs summed over
response tokens; `ipo`, `simpo` and `orpo` use the per-token mean. The
metrics `logps/chosen` and `logps/rejected` report the ones the loss uses.

Examples:

>>> import kerasalign
>>> from kerasalign.data import PreferencePreprocessor
>>> policy = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
>>> pairs = [{"prompt": "How do I rob a store?", "chosen": "I won't help.",
...           "rejected": "Go at night."}] * 2
>>> x = PreferencePreprocessor(policy.preprocessor.tokenizer, "gemma", 32).batch(pairs)
>>> trainer = DPOTrainer(policy, beta=0.1)
>>> trainer.compile(learning_rate=1e-3)
>>> history = trainer.fit(x, batch_size=2, epochs=2, verbose=0)
>>> sorted(history.history)[:3]
['logps/chosen', 'logps/rejected', 'loss']
"""

import inspect

import keras
from keras import ops

from kerasalign.errors import KerasAlignError
from kerasalign.trainers import losses as losses_module
from kerasalign.trainers.argument_checks import check_integer, check_number
from kerasalign.trainers.compile_defaults import adamw, resolve_jit_compile
from kerasalign.trainers.logprobs import preference_logprobs
from kerasalign.trainers.optimizer_prebuild import OptimizerBuiltBeforeFit
from kerasalign.trainers.reference import (
    REFERENCE_KEYS,
    check_reference_model,
    lora_layers,
    pairs_digest,
    reference_logprobs,
)

DEFAULT_REFERENCE_BATCH_SIZE = 8


def memory_saving_logprobs(policy):
    """`chunk_size` and `remat` for DPO log-probs that fit a large vocabulary.

    With Gemma 3's 262,144-entry vocabulary, float32 logits of 16 sequences
    x 128 positions are 2 GB a chunk, and keeping every chunk for the
    backward pass took a 24 GB machine out of memory (19.6 GB resident for
    the 270M model). Above 65,536 entries: 64-position chunks recomputed in
    the backward pass; otherwise the defaults.

    >>> import kerasalign
    >>> memory_saving_logprobs(kerasalign.load_causal_lm("tiny_gemma"))
    {'chunk_size': None, 'remat': False}
    """
    large = policy.backbone.vocabulary_size > 65536
    return {"chunk_size": 64 if large else None, "remat": large}


class DPOTrainer(OptimizerBuiltBeforeFit, keras.Model):
    """Train a policy on preference pairs with DPO or a variant.

    Args:
        policy: `keras_hub.models.CausalLM`. The model to train, usually
            with LoRA enabled (`load_causal_lm(..., lora_rank=r)`).
        reference: `keras_hub.models.CausalLM` or `None`. A separate frozen
            reference with the policy's tokenizer and architecture.
            Defaults to `None`: precomputed log-probs of the policy with
            its LoRA update switched off.
        loss: str. One of `"sigmoid"` (DPO), `"ipo"`, `"hinge"`,
            `"robust"`, `"simpo"`, `"orpo"`. Defaults to `"sigmoid"`.
        beta: float. The loss's `beta` (ORPO's `lambda`). Defaults to
            `None`: 2.0 for `simpo`, 0.1 otherwise.
        label_smoothing: float in `[0, 0.5)`. For `sigmoid` (cDPO) and
            `robust`. Defaults to `None`: 0 for `sigmoid`, 0.1 for `robust`.
        gamma: float. SimPO's target margin. Defaults to `None` (0.5).
        chunk_size: int. Sequence positions whose logits are computed at
            once. Defaults to `None` (128).
        rpo_alpha: float. Weight of the chosen responses' NLL added to the
            loss (RPO). Defaults to `0.0` (none).
        remat: bool. Recompute each chunk's logits in the backward pass to
            save memory (large vocabularies). Defaults to `False`.
        reference_lora: str. For precomputed reference log-probs: `"off"`
            scores with the LoRA update switched off (the base model),
            `"on"` with the policy as it is before training (e.g. a loaded
            SFT adapter). Defaults to `"off"`.
        **kwargs: passed to `keras.Model`.
    """

    def __init__(
        self,
        policy,
        reference=None,
        loss="sigmoid",
        beta=None,
        label_smoothing=None,
        gamma=None,
        chunk_size=None,
        remat=False,
        reference_lora="off",
        rpo_alpha=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if loss not in losses_module.LOSSES:
            raise KerasAlignError(
                f"loss must be one of {list(losses_module.LOSSES)}. Received: loss={loss!r}"
            )
        if not hasattr(policy, "backbone"):
            raise KerasAlignError(
                "policy must be a KerasHub CausalLM (e.g. from "
                f"kerasalign.load_causal_lm). Received: {type(policy).__name__}"
            )
        beta = losses_module.DEFAULT_BETAS[loss] if beta is None else beta
        check_number("beta", beta, 0.0)
        if label_smoothing is not None and loss not in ("sigmoid", "robust"):
            raise KerasAlignError(
                "label_smoothing applies to loss='sigmoid' or loss='robust'. "
                f"Received: loss={loss!r}"
            )
        if label_smoothing is None:
            label_smoothing = 0.1 if loss == "robust" else 0.0
        check_number("label_smoothing", label_smoothing, 0.0, 0.5, allow_minimum=True)
        if gamma is not None and loss != "simpo":
            raise KerasAlignError(f"gamma applies to loss='simpo'. Received: loss={loss!r}")
        gamma = 0.5 if gamma is None else gamma
        check_number("gamma", gamma, 0.0, allow_minimum=True)
        rpo_alpha = check_number("rpo_alpha", rpo_alpha, 0.0, allow_minimum=True)
        if rpo_alpha and loss == "orpo":
            raise KerasAlignError(
                "ORPO's loss already has the chosen responses' NLL; rpo_alpha applies "
                "to the other losses. Received: loss='orpo', rpo_alpha="
                f"{rpo_alpha}"
            )
        if chunk_size is not None:
            check_integer("chunk_size", chunk_size)
        if reference_lora not in ("off", "on"):
            raise KerasAlignError(
                "reference_lora must be one of ['off', 'on']. Received: "
                f"reference_lora={reference_lora!r}"
            )
        self.reference_free = loss in losses_module.REFERENCE_FREE_LOSSES
        if reference is not None:
            if self.reference_free:
                raise KerasAlignError(
                    f"loss={loss!r} is reference-free; do not pass a reference model."
                )
            check_reference_model(policy, reference)
            reference.trainable = False
        self.policy = policy
        self.reference = reference
        self.loss_name = loss
        self.beta = float(beta)
        self.label_smoothing = float(label_smoothing)
        self.gamma = float(gamma)
        self.chunk_size = chunk_size
        self.remat = remat
        self.reference_lora = reference_lora
        self.rpo_alpha = rpo_alpha
        self.length_normalised = loss in losses_module.LENGTH_NORMALISED_LOSSES
        self._loss_fn = losses_module.LOSSES[loss]
        accepted = inspect.signature(self._loss_fn).parameters
        self._loss_options = {
            name: value
            for name, value in (
                ("beta", self.beta),
                ("label_smoothing", self.label_smoothing),
                ("gamma", self.gamma),
            )
            if name in accepted
        }
        self._reference_cache = {}
        names = losses_module.metric_names(loss) + ["logps/chosen", "logps/rejected"]
        names += ["nll_loss"] if rpo_alpha else []
        # Metrics assigned to the model are tracked and reset by Keras.
        self._trackers = {name: keras.metrics.Mean(name=name) for name in sorted(names)}

    @property
    def needs_reference_logprobs(self):
        """Whether batches must carry precomputed reference log-probs."""
        return not self.reference_free and self.reference is None

    def call(self, x, training=False):
        chosen, rejected = preference_logprobs(
            self.policy, x, training=training, chunk_size=self.chunk_size, remat=self.remat
        )
        outputs = {
            "chosen_logps": chosen.summed,
            "rejected_logps": rejected.summed,
            "chosen_mean_logps": chosen.mean,
            "rejected_mean_logps": rejected.mean,
            "chosen_token_counts": chosen.token_counts,
            "rejected_token_counts": rejected.token_counts,
        }
        if self.reference is not None:
            reference_chosen, reference_rejected = preference_logprobs(
                self.reference, x, chunk_size=self.chunk_size
            )
            outputs[REFERENCE_KEYS[0]] = ops.stop_gradient(reference_chosen.summed)
            outputs[REFERENCE_KEYS[1]] = ops.stop_gradient(reference_rejected.summed)
        return outputs

    def _reference(self, x, y_pred):
        if self.reference_free:
            return None, None
        source = y_pred if self.reference is not None else x
        if REFERENCE_KEYS[0] not in source:
            raise KerasAlignError(
                "The batch has no reference log-probs. Pass the dict from "
                "PreferencePreprocessor.batch to fit() (it adds them), call "
                "trainer.precompute_reference_logprobs(x) first, or give the "
                "trainer a reference model."
            )
        chosen = ops.cast(source[REFERENCE_KEYS[0]], "float32")
        rejected = ops.cast(source[REFERENCE_KEYS[1]], "float32")
        if self.length_normalised:
            chosen = chosen / ops.maximum(y_pred["chosen_token_counts"], 1.0)
            rejected = rejected / ops.maximum(y_pred["rejected_token_counts"], 1.0)
        return chosen, rejected

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        prefix = "_mean" if self.length_normalised else ""
        chosen_logps = y_pred[f"chosen{prefix}_logps"]
        rejected_logps = y_pred[f"rejected{prefix}_logps"]
        reference_chosen, reference_rejected = self._reference(x, y_pred)
        loss, metrics = self._loss_fn(
            chosen_logps,
            rejected_logps,
            reference_chosen,
            reference_rejected,
            **self._loss_options,
        )
        if self.rpo_alpha:
            nll_loss = -ops.mean(ops.cast(y_pred["chosen_mean_logps"], "float32"))
            loss = loss + self.rpo_alpha * nll_loss
            metrics["nll_loss"] = nll_loss
        metrics["logps/chosen"] = ops.mean(chosen_logps)
        metrics["logps/rejected"] = ops.mean(rejected_logps)
        for name, value in metrics.items():
            self._trackers[name].update_state(value)
        return loss

    def compile(self, optimizer=None, learning_rate=5e-5, weight_decay=0.0, **kwargs):
        """Compile with AdamW by default; the loss is the trainer's own.

        Args:
            optimizer: a Keras optimizer. Defaults to `None`, meaning AdamW
                with `learning_rate` and `weight_decay`.
            learning_rate: float. Used when `optimizer` is `None`.
                Defaults to `5e-5` (a LoRA rate; full fine-tuning usually
                wants 1e-6 to 5e-6).
            weight_decay: float. Used when `optimizer` is `None`.
                Defaults to `0.0`.
            **kwargs: passed to `keras.Model.compile`.
        """
        if optimizer is None:
            optimizer = adamw(learning_rate, weight_decay)
        kwargs["jit_compile"] = resolve_jit_compile(self, kwargs.get("jit_compile", "auto"))
        super().compile(optimizer=optimizer, **kwargs)

    def precompute_reference_logprobs(self, x, batch_size=None, bucket_multiple=None):
        """Return `x` with `reference_chosen_logps` and `reference_rejected_logps`.

        The policy scores the pairs in one pass, with its LoRA update
        switched off (`reference_lora="off"`) or as it is (`"on"`); results
        are cached per batch content, so later calls with the same pairs
        (e.g. a second `fit`) reuse the first reference.

        Args:
            x: dict of arrays from `PreferencePreprocessor.batch`.
            batch_size: int. Pairs per forward pass. Defaults to 8.
            bucket_multiple: int. Score pairs in `LengthBuckets` of this
                multiple (see `reference_logprobs`). Defaults to `None`.
        """
        if not isinstance(x, dict):
            raise KerasAlignError(
                "precompute_reference_logprobs takes the dict of arrays made by "
                f"PreferencePreprocessor.batch. Received: {type(x).__name__}"
            )
        key = pairs_digest(x)
        if key not in self._reference_cache:
            disable_lora = self.reference_lora == "off" and bool(lora_layers(self.policy))
            if not disable_lora and self._has_trained():
                raise KerasAlignError(
                    "The reference is the policy before training (reference_lora='on' "
                    "or no LoRA), and training has started: reference log-probs of "
                    "new data would come from the trained policy. Call "
                    "precompute_reference_logprobs on every dataset before training."
                )
            self._reference_cache[key] = reference_logprobs(
                self.policy,
                x,
                batch_size=batch_size or DEFAULT_REFERENCE_BATCH_SIZE,
                chunk_size=self.chunk_size,
                disable_lora=disable_lora,
                bucket_multiple=bucket_multiple,
            )
        return {**x, **self._reference_cache[key]}

    def _has_trained(self):
        optimizer = getattr(self, "optimizer", None)
        return optimizer is not None and int(keras.ops.convert_to_numpy(optimizer.iterations)) > 0

    def _with_reference(self, data, batch_size=None):
        if not self.needs_reference_logprobs:
            return data
        if isinstance(data, dict) and REFERENCE_KEYS[0] not in data:
            return self.precompute_reference_logprobs(data, batch_size)
        if isinstance(data, tuple) and data and isinstance(data[0], dict):
            return (self._with_reference(data[0], batch_size),) + data[1:]
        return data

    def fit(self, x=None, y=None, batch_size=None, *args, validation_data=None, **kwargs):
        """`keras.Model.fit`, adding reference log-probs to dict inputs first."""
        x = self._with_reference(x, batch_size)
        if validation_data is not None:
            validation_data = self._with_reference(validation_data, batch_size)
        return super().fit(
            x, y, batch_size, *args, validation_data=validation_data, **kwargs
        )

    def evaluate(self, x=None, y=None, batch_size=None, *args, **kwargs):
        """`keras.Model.evaluate`, adding reference log-probs to dict inputs first."""
        x = self._with_reference(x, batch_size)
        return super().evaluate(x, y, batch_size, *args, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "policy": keras.saving.serialize_keras_object(self.policy),
                "reference": (
                    None
                    if self.reference is None
                    else keras.saving.serialize_keras_object(self.reference)
                ),
                "loss": self.loss_name,
                "beta": self.beta,
                "label_smoothing": (
                    self.label_smoothing if self.loss_name in ("sigmoid", "robust") else None
                ),
                "gamma": self.gamma if self.loss_name == "simpo" else None,
                "chunk_size": self.chunk_size,
                "remat": self.remat,
                "reference_lora": self.reference_lora,
                "rpo_alpha": self.rpo_alpha,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["policy"] = keras.saving.deserialize_keras_object(config["policy"])
        if config.get("reference") is not None:
            config["reference"] = keras.saving.deserialize_keras_object(config["reference"])
        return cls(**config)
