"""`RewardModel`: a Gemma backbone with a scalar head, trained on preferences.

The reward of a (prompt, response) sequence is a linear head on the
backbone's final hidden state at the last non-padding token (the end-of-turn
marker or end-of-sequence token that closes the response). Training uses the
Bradley-Terry loss `-log sigmoid(r_chosen - r_rejected - margin)`, with each
pair's `margin` from the data (0 when absent) and optional reward centring,
in `compute_loss`, so `compile()` and `fit()` work on every backend.

Inputs are the dicts of `PreferencePreprocessor`: `call` on a batch of pairs
returns `{"chosen_rewards", "rejected_rewards"}`; on `{"token_ids",
"padding_mask"}` it returns the rewards `(batch,)`. `score(prompts,
responses)` does the tokenization for you.

`save_to_directory` writes the LoRA adapter (or the whole backbone as a
preset when LoRA is off), the head and a config; `from_directory` loads it.

Examples:

>>> import kerasalign
>>> causal_lm = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
>>> reward_model = RewardModel(causal_lm, template="gemma", sequence_length=32)
>>> pairs = [{"prompt": "How do I rob a store?", "chosen": "I won't help.",
...           "rejected": "Go at night."}] * 2
>>> x = reward_model.preprocessor.batch(pairs)
>>> reward_model.compile(learning_rate=1e-3)
>>> history = reward_model.fit(x, batch_size=2, epochs=1, verbose=0)
>>> sorted(history.history)
['accuracy', 'loss', 'margin', 'mean_reward']
>>> reward_model.score(["Hi"], ["Hello!"]).shape
(1,)
"""

import json
import pathlib

import keras
import numpy as np
from keras import ops

from kerasalign.data.preference_preprocessor import PreferencePreprocessor
from kerasalign.errors import KerasAlignError
from kerasalign.models import lora
from kerasalign.models.quantization import is_quantized
from kerasalign.trainers.compile_defaults import adamw, resolve_jit_compile
from kerasalign.trainers.losses import bradley_terry_loss
from kerasalign.trainers.optimizer_prebuild import OptimizerBuiltBeforeFit
from kerasalign.trainers.output_dir import staged_output_dir
from kerasalign.trainers.training_run import save_model_weights

CONFIG_FILE = "reward_model.json"
HEAD_FILE = "reward_head.npz"
FORMAT = "kerasalign-reward-model-1"


class RewardModel(OptimizerBuiltBeforeFit, keras.Model):
    """A scalar reward on top of a Gemma CausalLM's backbone.

    Args:
        causal_lm: `keras_hub.models.CausalLM`. Gives the backbone (with
            LoRA for parameter-efficient training, or without for full
            fine-tuning) and the tokenizer. Its language-model output layer
            is not used.
        template: str or template. How prompts and responses are rendered.
            Defaults to `"gemma"`.
        sequence_length: int. Maximum tokens per sequence. Defaults to
            `None` (the CausalLM preprocessor's).
        center_rewards_coefficient: float. Weight of the centring term
            `mean((r_c + r_r)^2)` that keeps rewards near 0. Defaults to 0.
        **kwargs: passed to `keras.Model`.
    """

    def __init__(
        self,
        causal_lm,
        template="gemma",
        sequence_length=None,
        center_rewards_coefficient=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not hasattr(causal_lm, "backbone") or getattr(causal_lm, "preprocessor", None) is None:
            raise KerasAlignError(
                "causal_lm must be a KerasHub CausalLM with a preprocessor (e.g. "
                f"from kerasalign.load_causal_lm). Received: {type(causal_lm).__name__}"
            )
        if (
            isinstance(center_rewards_coefficient, bool)
            or not isinstance(center_rewards_coefficient, (int, float))
            or center_rewards_coefficient < 0
        ):
            raise KerasAlignError(
                "center_rewards_coefficient must be a number >= 0. Received: "
                f"center_rewards_coefficient={center_rewards_coefficient!r}"
            )
        self.causal_lm = causal_lm
        self.sequence_length = sequence_length or causal_lm.preprocessor.sequence_length
        self.preprocessor = PreferencePreprocessor(
            causal_lm.preprocessor.tokenizer, template, self.sequence_length
        )
        self.template = getattr(self.preprocessor.template, "name", template)
        self.center_rewards_coefficient = float(center_rewards_coefficient)
        self.reward_head = keras.layers.Dense(
            1,
            kernel_initializer=keras.initializers.RandomNormal(
                stddev=1.0 / np.sqrt(self.backbone.hidden_dim)
            ),
            dtype="float32",
            name="reward_head",
        )
        self.reward_head.build((None, self.backbone.hidden_dim))
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")
        self.margin_tracker = keras.metrics.Mean(name="margin")
        self.mean_reward_tracker = keras.metrics.Mean(name="mean_reward")

    @property
    def backbone(self):
        """The CausalLM's backbone."""
        return self.causal_lm.backbone

    def rewards(self, token_ids, padding_mask, training=False):
        """Rewards `(batch,)` of right-padded sequences."""
        hidden_states = self.backbone(
            {"token_ids": token_ids, "padding_mask": padding_mask}, training=training
        )
        padding_mask = ops.cast(ops.convert_to_tensor(padding_mask), "int32")
        last_positions = ops.sum(padding_mask, axis=1) - 1
        pick = ops.one_hot(last_positions, ops.shape(hidden_states)[1], dtype=hidden_states.dtype)
        last_hidden = ops.sum(hidden_states * pick[:, :, None], axis=1)
        return self.reward_head(ops.cast(last_hidden, "float32"))[:, 0]

    def call(self, inputs, training=False):
        if "chosen_token_ids" not in inputs:
            return self.rewards(inputs["token_ids"], inputs["padding_mask"], training)

        def both(key):
            return ops.concatenate(
                [
                    ops.convert_to_tensor(inputs[f"chosen_{key}"]),
                    ops.convert_to_tensor(inputs[f"rejected_{key}"]),
                ],
                axis=0,
            )

        rewards = self.rewards(both("token_ids"), both("padding_mask"), training)
        chosen_rewards, rejected_rewards = ops.split(rewards, 2, axis=0)
        return {"chosen_rewards": chosen_rewards, "rejected_rewards": rejected_rewards}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if not isinstance(y_pred, dict):
            raise KerasAlignError(
                "RewardModel trains on preference pairs: pass the dict made by "
                "reward_model.preprocessor.batch(pairs) to fit()."
            )
        loss, metrics = bradley_terry_loss(
            y_pred["chosen_rewards"],
            y_pred["rejected_rewards"],
            x.get("margin"),
            center_rewards_coefficient=self.center_rewards_coefficient,
        )
        self.accuracy_tracker.update_state(metrics["accuracy"])
        self.margin_tracker.update_state(metrics["margin"])
        self.mean_reward_tracker.update_state(metrics["mean_reward"])
        return loss

    def compile(self, optimizer=None, learning_rate=1e-4, weight_decay=0.0, **kwargs):
        """Compile with AdamW by default; the loss is Bradley-Terry.

        Args:
            optimizer: a Keras optimizer. Defaults to `None`, meaning AdamW
                with `learning_rate` and `weight_decay`.
            learning_rate: float. Used when `optimizer` is `None`.
                Defaults to `1e-4`.
            weight_decay: float. Used when `optimizer` is `None`.
                Defaults to `0.0`.
            **kwargs: passed to `keras.Model.compile`.
        """
        if optimizer is None:
            optimizer = adamw(learning_rate, weight_decay)
        kwargs["jit_compile"] = resolve_jit_compile(self, kwargs.get("jit_compile", "auto"))
        super().compile(optimizer=optimizer, **kwargs)

    def score(self, prompts, responses, batch_size=8):
        """Rewards of `responses` to `prompts`, as a NumPy float32 array.

        Args:
            prompts: list. Each a user message (str), a list of chat
                messages, or a record with `prompt`/`messages`.
            responses: list of str, one per prompt.
            batch_size: int. Sequences per forward pass. Defaults to 8.
        """
        inputs = self.preprocessor.encode(prompts, responses)
        rewards = self.predict(
            {"token_ids": inputs["token_ids"], "padding_mask": inputs["padding_mask"]},
            batch_size=batch_size,
            verbose=0,
        )
        return np.asarray(rewards, dtype="float32")

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "causal_lm": keras.saving.serialize_keras_object(self.causal_lm),
                "template": self.template,
                "sequence_length": self.sequence_length,
                "center_rewards_coefficient": self.center_rewards_coefficient,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["causal_lm"] = keras.saving.deserialize_keras_object(config["causal_lm"])
        return cls(**config)

    def save_to_directory(self, directory, base_preset=None):
        """Save the reward model into `directory` (replaced atomically).

        Writes `reward_model.json`, `reward_head.npz` and either `adapter/`
        (LoRA factors only) or `model/` (the whole CausalLM as a preset).

        Args:
            directory: str or path.
            base_preset: str. The preset the backbone was loaded from; stored
                so that `from_directory` can rebuild an adapter-only save by
                itself. Defaults to `None`.

        Returns:
            The directory as a `pathlib.Path`.
        """
        directory = pathlib.Path(directory)
        with staged_output_dir(directory) as staging:
            self.write_files(staging, base_preset)
        return directory

    def write_files(self, directory, base_preset=None):
        """Write the reward model's files into an existing directory.

        Returns:
            The names written.
        """
        directory = pathlib.Path(directory)
        weights = save_model_weights(self.causal_lm, directory)
        kernel, bias = (ops.convert_to_numpy(w) for w in self.reward_head.weights)
        np.savez(directory / HEAD_FILE, kernel=kernel, bias=bias)
        config = {
            "format": FORMAT,
            "weights": weights,
            "base_preset": None if base_preset is None else str(base_preset),
            "template": self.template,
            "sequence_length": self.sequence_length,
            "center_rewards_coefficient": self.center_rewards_coefficient,
            "lora": lora.lora_state(self.causal_lm),
            "dtype": self.causal_lm.backbone.dtype_policy.name,
            "quantize": "int8" if is_quantized(self.causal_lm) else None,
            "keras_backend": keras.config.backend(),
        }
        (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2))
        return [weights, HEAD_FILE, CONFIG_FILE]

    @classmethod
    def from_directory(cls, directory, causal_lm=None):
        """Load a reward model saved by `save_to_directory`.

        Args:
            directory: str or path.
            causal_lm: `keras_hub.models.CausalLM` without LoRA, the base the
                adapter was trained on. Defaults to `None`: the directory's
                full model, or its stored `base_preset` in the dtype policy
                (and int8 quantization) the reward model was trained with.
        """
        from kerasalign.models.loader import load_causal_lm

        directory = pathlib.Path(directory)
        config_path = directory / CONFIG_FILE
        if not config_path.is_file() or not (directory / HEAD_FILE).is_file():
            raise KerasAlignError(
                f"{directory} is not a kerasalign reward model directory (expected "
                f"{CONFIG_FILE} and {HEAD_FILE})."
            )
        config = json.loads(config_path.read_text())
        if config.get("format") != FORMAT:
            raise KerasAlignError(
                f"{config_path} has format {config.get('format')!r}; expected {FORMAT!r}."
            )
        if causal_lm is not None and config["weights"] == "model":
            raise KerasAlignError(
                f"The reward model in {directory} holds its whole model; load it "
                "without causal_lm."
            )
        if causal_lm is None:
            if config["weights"] == "model":
                causal_lm = load_causal_lm(str(directory / "model"))
            elif config.get("base_preset"):
                causal_lm = load_causal_lm(
                    config["base_preset"], dtype=config.get("dtype"), quantize=config.get("quantize")
                )
            else:
                raise KerasAlignError(
                    f"The reward model in {directory} is an adapter with no "
                    "stored base preset; pass the base model as causal_lm."
                )
        if config["weights"] == "adapter":
            lora.load_adapter(causal_lm, directory / "adapter")
        reward_model = cls(
            causal_lm,
            template=config["template"],
            sequence_length=config["sequence_length"],
            center_rewards_coefficient=config["center_rewards_coefficient"],
        )
        head = np.load(directory / HEAD_FILE)
        reward_model.reward_head.set_weights([head["kernel"], head["bias"]])
        return reward_model
