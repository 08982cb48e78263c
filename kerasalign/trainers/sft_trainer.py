"""`SFTTrainer`: supervised fine-tuning of a CausalLM through `compile`/`fit`.

The trainer is a `keras.Model` that wraps a KerasHub CausalLM and takes
pre-tokenized batches from `SFTPreprocessor`, so `fit` runs the same on JAX,
TensorFlow and PyTorch. Its default loss is the token cross-entropy averaged
over response tokens only (`reduction="mean_with_sample_weight"`): Keras'
default reduction would divide by every position, prompt and padding
included, and report a loss that depends on how much padding there is.

With `chunk_size` set, `call` returns the backbone's hidden states and
`compute_loss` computes the same loss (and the token accuracy) from them a
chunk of positions at a time (`kerasalign.trainers.chunked_token_loss`), so
the float32 logits of the whole vocabulary (262,144 entries for Gemma 3)
never exist for the whole batch at once. When `x` also holds
`"loss_positions"` (`kerasalign.data.sft_preprocessor.loss_positions`), the
logits are computed only at those positions: prompt and padding positions
cost the output layer nothing, and with a 262,144-entry vocabulary the output
layer is most of the step.

Examples:

>>> import kerasalign
>>> model = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
>>> preprocessor = kerasalign.data.SFTPreprocessor(model.preprocessor.tokenizer, "gemma", 32)
>>> x, y, w = preprocessor.batch([{"prompt": "Hi", "response": "Hello!"}] * 2)
>>> trainer = SFTTrainer(model)
>>> trainer.compile(learning_rate=1e-3)
>>> history = trainer.fit(x, y, sample_weight=w, epochs=2, verbose=0)
>>> len(history.history["loss"])
2
"""

import keras

from kerasalign.trainers.chunked_token_loss import chunked_token_loss
from kerasalign.trainers.compile_defaults import adamw, resolve_jit_compile
from kerasalign.trainers.logprobs import gather_positions
from kerasalign.trainers.optimizer_prebuild import OptimizerBuiltBeforeFit
from kerasalign.trainers.token_accuracy import TokenAccuracy

LOSS_POSITIONS = "loss_positions"


def masked_token_loss():
    """Token cross-entropy from logits, averaged over weighted tokens."""
    return keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction="mean_with_sample_weight", name="token_loss"
    )


class SFTTrainer(OptimizerBuiltBeforeFit, keras.Model):
    """Fine-tune a CausalLM on `(x, y, sample_weight)` batches.

    Args:
        causal_lm: `keras_hub.models.CausalLM`. The model to train (with
            LoRA enabled for parameter-efficient tuning, or without for full
            fine-tuning).
        chunk_size: int. Compute the loss from hidden states this many
            positions at a time instead of from full logits (less memory for
            large vocabularies; `predict` then returns hidden states).
            Defaults to `None` (full logits, Keras' loss and `TokenAccuracy`).
        remat: bool. With `chunk_size`, recompute each chunk's logits in the
            backward pass instead of keeping them. Defaults to `False`.
    """

    def __init__(self, causal_lm, chunk_size=None, remat=False, **kwargs):
        super().__init__(**kwargs)
        if chunk_size is not None and (
            isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1
        ):
            raise ValueError(
                f"chunk_size must be a positive integer or None. Received: chunk_size={chunk_size!r}"
            )
        if remat and chunk_size is None:
            raise ValueError("remat=True recomputes logits chunk by chunk: set chunk_size too.")
        self.causal_lm = causal_lm
        self.chunk_size = chunk_size
        self.remat = remat
        if chunk_size is not None:
            self.accuracy_tracker = keras.metrics.Mean(name="accuracy")

    def call(self, inputs, training=False):
        if isinstance(inputs, dict) and LOSS_POSITIONS in inputs:
            if self.chunk_size is None:
                raise ValueError(
                    f"x[{LOSS_POSITIONS!r}] is used by the chunked loss only: set chunk_size."
                )
            inputs = {key: value for key, value in inputs.items() if key != LOSS_POSITIONS}
        if self.chunk_size is not None:
            return self.causal_lm.backbone(inputs, training=training)
        return self.causal_lm(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if self.chunk_size is None:
            return super().compute_loss(x, y, y_pred, sample_weight, training)
        if isinstance(x, dict) and LOSS_POSITIONS in x:
            positions = keras.ops.cast(x[LOSS_POSITIONS], "int32")
            valid = keras.ops.cast(positions >= 0, "float32")
            positions = keras.ops.maximum(positions, 0)
            y_pred = gather_positions(y_pred, positions)
            y = gather_positions(keras.ops.cast(y, "int32"), positions)
            if sample_weight is None:
                sample_weight = valid
            else:
                sample_weight = gather_positions(sample_weight, positions) * valid
        loss, accuracy = chunked_token_loss(
            self.causal_lm.backbone,
            y_pred,
            y,
            sample_weight,
            chunk_size=self.chunk_size,
            remat=self.remat,
        )
        weight = (
            keras.ops.size(y) if sample_weight is None else keras.ops.sum(sample_weight)
        )
        self.accuracy_tracker.update_state(accuracy, sample_weight=weight)
        return loss

    def compile(
        self,
        optimizer=None,
        loss=None,
        weighted_metrics=None,
        learning_rate=2e-4,
        weight_decay=0.0,
        **kwargs,
    ):
        """Compile with AdamW and the response-only token loss by default.

        Args:
            optimizer: a Keras optimizer. Defaults to `None`, meaning AdamW
                with `learning_rate` and `weight_decay`.
            loss: a Keras loss. Defaults to `masked_token_loss()`.
            weighted_metrics: list. Defaults to token accuracy over
                response tokens.
            learning_rate: float. Used when `optimizer` is `None`.
                Defaults to `2e-4`.
            weight_decay: float. Used when `optimizer` is `None`.
                Defaults to `0.0`.
            **kwargs: passed to `keras.Model.compile`.
        """
        if optimizer is None:
            optimizer = adamw(learning_rate, weight_decay)
        kwargs["jit_compile"] = resolve_jit_compile(self, kwargs.get("jit_compile", "auto"))
        if self.chunk_size is not None:
            if loss is not None or weighted_metrics is not None:
                raise ValueError(
                    "With chunk_size the trainer computes its own loss and accuracy; "
                    "do not pass loss or weighted_metrics."
                )
            super().compile(optimizer=optimizer, **kwargs)
            return
        if weighted_metrics is None:
            weighted_metrics = [TokenAccuracy(name="accuracy")]
        super().compile(
            optimizer=optimizer,
            loss=loss or masked_token_loss(),
            weighted_metrics=weighted_metrics,
            **kwargs,
        )
