"""`SFTTrainer`: supervised fine-tuning of a CausalLM through `compile`/`fit`.

The trainer is a `keras.Model` that wraps a KerasHub CausalLM and takes
pre-tokenized batches from `SFTPreprocessor`, so `fit` runs the same on JAX,
TensorFlow and PyTorch. Its default loss is the token cross-entropy averaged
over response tokens only (`reduction="mean_with_sample_weight"`): Keras'
default reduction would divide by every position, prompt and padding
included, and report a loss that depends on how much padding there is.

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


def masked_token_loss():
    """Token cross-entropy from logits, averaged over weighted tokens."""
    return keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction="mean_with_sample_weight", name="token_loss"
    )


class SFTTrainer(keras.Model):
    """Fine-tune a CausalLM on `(x, y, sample_weight)` batches.

    Args:
        causal_lm: `keras_hub.models.CausalLM`. The model to train (with
            LoRA enabled for parameter-efficient tuning, or without for full
            fine-tuning).
    """

    def __init__(self, causal_lm, **kwargs):
        super().__init__(**kwargs)
        self.causal_lm = causal_lm

    def call(self, inputs, training=False):
        return self.causal_lm(inputs, training=training)

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
        if learning_rate is not None and learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive. Received: {learning_rate!r}")
        if optimizer is None:
            optimizer = keras.optimizers.AdamW(
                learning_rate=learning_rate, weight_decay=weight_decay
            )
        if weighted_metrics is None:
            weighted_metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        super().compile(
            optimizer=optimizer,
            loss=loss or masked_token_loss(),
            weighted_metrics=weighted_metrics,
            **kwargs,
        )
