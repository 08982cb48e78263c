"""Build the optimizer before `fit`, so that TensorFlow traces the train step once.

Keras on TensorFlow (without a distribution strategy) creates the optimizer's
slot variables (AdamW's momentum and velocity of every trainable weight)
inside the first trace of the train step. A `tf.function` that creates
variables while tracing is traced a second time, so every `fit` of a new
trainer paid for two traces of the whole forward and backward pass. With the
Gemma 3 270M in bfloat16 on a 2-core CPU, the first DPO step took 34 s with
two traces and 23-24 s with one, the reward model's 32 s and 18-20 s
(docs/runs/align_quick_gemma3_270m/dtype_backend). Keras builds the
optimizer before the first step on JAX and PyTorch; the trainers here do the
same on TensorFlow.

Examples:

>>> import keras
>>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
>>> model.compile(optimizer="adam", loss="mse")
>>> build_optimizer_before_fit(model)
>>> model.optimizer.built == (keras.backend.backend() == "tensorflow")
True
"""

import keras


def build_optimizer_before_fit(model):
    """Create `model.optimizer`'s variables now, on TensorFlow.

    Does nothing on other backends (Keras builds the optimizer before the
    first step there), without an optimizer, when it is built already, or
    while a layer inside the model is unbuilt (its weights would be missing;
    Keras then builds everything while tracing, as before).

    Args:
        model: a compiled `keras.Model`.
    """
    optimizer = getattr(model, "optimizer", None)
    if keras.backend.backend() != "tensorflow" or optimizer is None or optimizer.built:
        return
    if _unbuilt_layers(model):
        return
    # The model's strategy scope: mirrored slots under a `tf.distribute`
    # strategy, a no-op under the default one.
    with model.distribute_strategy.scope():
        optimizer.build(model.trainable_variables)


def _unbuilt_layers(model):
    """Layers inside `model` that may still create weights when first called.

    The model itself (a trainer is "built" only by its first call, but its
    weights are its sub-layers') and KerasHub's preprocessors and tokenizers
    (no weights) do not count.
    """
    import keras_hub

    no_weights = (keras_hub.models.Preprocessor, keras_hub.tokenizers.Tokenizer)
    return [
        layer
        for layer in model._flatten_layers(include_self=False)
        if not layer.built and not isinstance(layer, no_weights)
    ]


class OptimizerBuiltBeforeFit:
    """Mixin for `keras.Model` trainers: `fit` builds the optimizer first.

    Put it before `keras.Model` in the bases:
    `class SFTTrainer(OptimizerBuiltBeforeFit, keras.Model)`.
    """

    def fit(self, *args, **kwargs):
        build_optimizer_before_fit(self)
        return super().fit(*args, **kwargs)
