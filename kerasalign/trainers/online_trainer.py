"""`OnlineTrainer`: the generation-in-the-loop base of `PPOTrainer` and `GRPOTrainer`.

Online RLHF alternates two phases. The *rollout* phase is Python: sample
responses to a batch of prompts with the policy (KerasHub's compiled
generation), score them with the reward, and compute the per-token
log-probabilities of the sampled tokens under the policy and under the
reference (the same model with its LoRA update switched off, so there is no
second copy in memory) in one compiled `predict`. The *optimisation* phase
goes through Keras' own trainer: the rollout tensors are passed to
`keras.Model.fit` for a few epochs over minibatches, and the objective lives
in `compute_loss`, so the steps run on JAX, TensorFlow and PyTorch alike.

`fit(prompts, epochs=..., batch_size=..., callbacks=...)` drives both
phases with a Keras progress bar over rollout batches and calls Keras
callbacks: `on_train_batch_end` after each rollout batch with its metrics,
`on_epoch_end` after each pass over the prompts with their means. It
returns a `keras.callbacks.History` of the per-epoch means.

Log-probabilities are those of the sampling distribution: the logits are
divided by the sampler's temperature (exactly so for Gemma and Gemma 3; for
Gemma 2 the final soft-cap then applies to the divided logits). With
`top_k`/`top_p` sampling the truncation is not part of the log-probs, as in
TRL; the default `"random"` sampler samples from the full distribution.

Subclasses provide the loss metrics (`LOSS_METRICS`), the per-response
advantages (`_training_inputs`) and `compute_loss`.
"""

import math
import time

import keras
import keras_hub
import numpy as np
from keras import ops

from kerasalign.errors import KerasAlignError
from kerasalign.models import lora
from kerasalign.models.generation import make_sampler, stop_token_ids
from kerasalign.templates import get as get_template
from kerasalign.templates.chat_template import ChatTemplate
from kerasalign.trainers.advantages import masked_values
from kerasalign.trainers.argument_checks import check_integer, check_number
from kerasalign.trainers.compile_defaults import adamw, resolve_jit_compile
from kerasalign.trainers.learning_rate_schedules import optimizer_schedule
from kerasalign.trainers.logprobs import token_logprobs
from kerasalign.trainers.optimizer_prebuild import OptimizerBuiltBeforeFit
from kerasalign.trainers.reference import lora_disabled
from kerasalign.trainers.rewards import check_reward, reward_name, score_responses
from kerasalign.trainers.rollouts import (
    decode_responses,
    encode_prompts,
    sample_responses,
)

ROLLOUT_SAMPLERS = ("random", "top_k", "top_p")


def sampled_token_logprobs(
    causal_lm, inputs, *, temperature=1.0, chunk_size=None, remat=False, training=False
):
    """Per-token log-probs of a batch of sequences, and the hidden states.

    Args:
        causal_lm: `keras_hub.models.CausalLM`.
        inputs: dict with `token_ids` and `padding_mask` `(batch, length)`.
        temperature: float. The logits are divided by it. Defaults to 1.
        chunk_size: int. See `token_logprobs`. Defaults to `None`.
        remat: bool. See `token_logprobs`. Defaults to `False`.
        training: bool. Defaults to `False`.

    Returns:
        `(logprobs, hidden_states)`: `(batch, length - 1)` float32, position
        `t` holding `log p(token t + 1)`, and the backbone's output
        `(batch, length, hidden_dim)`.
    """
    backbone = causal_lm.backbone
    token_ids = ops.convert_to_tensor(inputs["token_ids"])
    hidden_states = backbone(
        {"token_ids": token_ids, "padding_mask": inputs["padding_mask"]}, training=training
    )
    scaled = hidden_states[:, :-1]
    if temperature != 1.0:
        # Logits are linear in the hidden states, so this divides the logits.
        scaled = scaled / ops.cast(temperature, scaled.dtype)
    logprobs = token_logprobs(
        backbone, scaled, token_ids[:, 1:], chunk_size=chunk_size, remat=remat
    )
    return logprobs, hidden_states


def check_prompts(prompts):
    """`prompts` as a list, or a `KerasAlignError` naming the first bad one."""
    if isinstance(prompts, (str, bytes, dict)) or not hasattr(prompts, "__len__"):
        raise KerasAlignError(
            "prompts must be a list of prompts (strings, chat message lists or "
            f"PromptExample records). Received: {type(prompts).__name__}"
        )
    prompts = list(prompts)
    if not prompts:
        raise KerasAlignError("The prompt set is empty: fit needs at least one prompt.")
    for index, prompt in enumerate(prompts):
        if isinstance(prompt, str):
            if not prompt.strip():
                raise KerasAlignError(f"Prompt {index} is empty.")
        elif not isinstance(prompt, (list, tuple)) and not (
            hasattr(prompt, "prompt_messages") or hasattr(prompt, "prompt")
        ):
            raise KerasAlignError(
                f"Prompt {index} is a {type(prompt).__name__}; expected a string, a "
                "list of chat messages or a PromptExample."
            )
    return prompts


def _mean_logs(rows):
    keys = dict.fromkeys(key for row in rows for key in row)
    return {key: float(np.mean([row[key] for row in rows if key in row])) for key in keys}


class OnlineTrainer(OptimizerBuiltBeforeFit, keras.Model):
    """Base class of the online RLHF trainers (see the module docstring).

    Args:
        policy: `keras_hub.models.CausalLM` with LoRA enabled
            (`load_causal_lm(preset, lora_rank=r)`). Trained in place.
        reward: a `kerasalign.RewardModel` (or any object with
            `score(prompts, responses)`) or a callable
            `reward(prompts, responses)` returning one number per response.
        template: str or template. Renders each prompt for generation.
            Defaults to `"gemma"`.
        max_new_tokens: int. Response length limit. Defaults to 64.
        max_prompt_length: int. Prompts are padded (or cut from the start)
            to this many tokens. Defaults to `None`: the longest prompt
            given to `fit`.
        sampler: str. `"random"` (the full distribution), `"top_k"` or
            `"top_p"`. Defaults to `"random"`.
        temperature: float. Sampling temperature. Defaults to 1.0.
        top_k: int. For `sampler="top_k"`. Defaults to 50.
        top_p: float. For `sampler="top_p"`. Defaults to 0.9.
        num_minibatches: int. Minibatches per rollout batch in each
            optimisation epoch. Defaults to 1.
        optimization_epochs: int. Passes of `fit` over each rollout batch.
            Defaults to 1.
        clip_range: float. `eps` of the policy ratio clip. Defaults to 0.2.
        missing_eos_penalty: float or `None`. Subtracted from the score of
            a response that did not end with a stop token within
            `max_new_tokens`. Defaults to `None` (no penalty).
        chunk_size: int. Positions whose logits are computed at once
            (see `token_logprobs`). Defaults to `None` (128).
        remat: bool. Recompute each chunk's logits in the backward pass.
            Defaults to `False`.
        seed: int. Seed of the prompt order and the sampler. Defaults to
            `None`.
        **kwargs: passed to `keras.Model`.
    """

    LOSS_METRICS = ()
    SAMPLES_PER_PROMPT = 1

    def __init__(
        self,
        policy,
        reward,
        *,
        template="gemma",
        max_new_tokens=64,
        max_prompt_length=None,
        sampler="random",
        temperature=1.0,
        top_k=50,
        top_p=0.9,
        num_minibatches=1,
        optimization_epochs=1,
        clip_range=0.2,
        missing_eos_penalty=None,
        chunk_size=None,
        remat=False,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not hasattr(policy, "backbone") or getattr(policy, "preprocessor", None) is None:
            raise KerasAlignError(
                "policy must be a KerasHub CausalLM with a preprocessor (e.g. from "
                f"kerasalign.load_causal_lm). Received: {type(policy).__name__}"
            )
        if lora.lora_state(policy) is None:
            raise KerasAlignError(
                "The policy has no LoRA layers. Online RLHF trains a LoRA policy and "
                "uses the same model with its LoRA update switched off as the "
                "reference: load it with load_causal_lm(preset, lora_rank=r)."
            )
        if sampler not in ROLLOUT_SAMPLERS:
            raise KerasAlignError(
                f"sampler must be one of {list(ROLLOUT_SAMPLERS)} (RL needs sampling, "
                f"not greedy decoding). Received: sampler={sampler!r}"
            )
        self.policy = policy
        # The reward is not part of the trained model: set without Keras'
        # tracking, or a RewardModel's weights would become trainable weights
        # of this trainer, which the optimizer then updates (weight decay) and
        # keeps slots for.
        object.__setattr__(self, "reward", check_reward(reward))
        self.template = template
        self._template = get_template(template)
        self.max_new_tokens = check_integer("max_new_tokens", max_new_tokens)
        self.max_prompt_length = (
            None if max_prompt_length is None else check_integer("max_prompt_length", max_prompt_length, 2)
        )
        self.sampler_name = sampler
        self.temperature = check_number("temperature", temperature)
        self.top_k = check_integer("top_k", top_k)
        self.top_p = check_number("top_p", top_p, 0.0, 1.0 + 1e-9)
        self.num_minibatches = check_integer("num_minibatches", num_minibatches)
        self.optimization_epochs = check_integer("optimization_epochs", optimization_epochs)
        self.clip_range = check_number("clip_range", clip_range, 0.0, 1.0)
        self.missing_eos_penalty = (
            None
            if missing_eos_penalty is None
            else check_number("missing_eos_penalty", missing_eos_penalty, allow_minimum=True)
        )
        self.chunk_size = None if chunk_size is None else check_integer("chunk_size", chunk_size)
        self.remat = bool(remat)
        self.seed = seed
        tokenizer = policy.preprocessor.tokenizer
        self.stop_token_ids = stop_token_ids(
            policy, self._template if isinstance(self._template, ChatTemplate) else None
        )
        self._tokenizer = tokenizer
        self._sampler = self._make_sampler()
        self._prompt_length = self.max_prompt_length
        # Metrics assigned to the model are tracked and reset by Keras.
        self._trackers = {name: keras.metrics.Mean(name=name) for name in self.LOSS_METRICS}
        self.truncated_prompts = 0

    # -- Keras side: one optimisation step --------------------------------

    def call(self, inputs, training=False):
        """Per-token log-probs (and subclass outputs) of `token_ids`.

        In inference mode (`predict`, as in the rollout) the outputs also
        hold `reference_logprobs`, the log-probs with LoRA switched off.
        """
        logprobs, hidden_states = sampled_token_logprobs(
            self.policy,
            inputs,
            temperature=self.temperature,
            chunk_size=self.chunk_size,
            remat=self.remat,
            training=training,
        )
        outputs = {"logprobs": logprobs, **self.extra_outputs(hidden_states[:, :-1], training)}
        if not training:
            # The LoRA scale is read when a function is traced, so a compiled
            # `predict` holds both forward passes: with and without LoRA.
            with lora_disabled(self.policy):
                reference_logprobs, _ = sampled_token_logprobs(
                    self.policy, inputs, temperature=self.temperature, chunk_size=self.chunk_size
                )
            outputs["reference_logprobs"] = ops.stop_gradient(reference_logprobs)
        return outputs

    def extra_outputs(self, hidden_states, training=False):
        """Outputs besides the log-probs (PPO's values). Defaults to none."""
        return {}

    def update_loss_metrics(self, metrics):
        """Update the trackers of `LOSS_METRICS` from a loss's metrics dict."""
        for name, tracker in self._trackers.items():
            tracker.update_state(metrics[name])

    def compile(self, optimizer=None, learning_rate=5e-5, weight_decay=0.0, **kwargs):
        """Compile with AdamW by default; the loss is the trainer's own.

        Args:
            optimizer: a Keras optimizer. Defaults to `None`, meaning AdamW
                with `learning_rate` and `weight_decay`.
            learning_rate: float. Used when `optimizer` is `None`.
                Defaults to `5e-5`.
            weight_decay: float. Used when `optimizer` is `None`.
                Defaults to `0.0`.
            **kwargs: passed to `keras.Model.compile`.
        """
        if optimizer is None:
            optimizer = adamw(learning_rate, weight_decay)
        kwargs["jit_compile"] = resolve_jit_compile(self, kwargs.get("jit_compile", "auto"))
        super().compile(optimizer=optimizer, **kwargs)

    # -- Python side: rollouts --------------------------------------------

    def _make_sampler(self):
        if self.sampler_name == "random":
            return keras_hub.samplers.RandomSampler(temperature=self.temperature, seed=self.seed)
        return make_sampler(
            self.sampler_name,
            temperature=self.temperature,
            top_k=self.top_k,
            top_p=self.top_p,
            seed=self.seed,
        )

    def _encode(self, prompts):
        texts = [self._template.render_prompt(prompt) for prompt in prompts]
        token_ids, padding_mask, truncated = encode_prompts(
            self._tokenizer, texts, self._prompt_length
        )
        self.truncated_prompts += truncated
        return token_ids, padding_mask

    def expand_prompts(self, prompts):
        """The prompts of one rollout batch, each repeated per sample."""
        return [prompt for prompt in prompts for _ in range(self.SAMPLES_PER_PROMPT)]

    def kl_coefficient(self):
        """The coefficient of the KL penalty in `objective/rlhf_reward`."""
        return 0.0

    def _forward_batch_size(self, rollout_size):
        return max(1, rollout_size // self.num_minibatches)

    def rollout(self, prompts):
        """Sample, score and log-prob one batch of prompts.

        Args:
            prompts: list of prompts (one rollout batch).

        Returns:
            A dict: `prompts` and `responses` (lists, one entry per sample),
            `scores` (after the missing-end penalty), `inputs` (the dict of
            arrays `fit` trains on) and `metrics` (the rollout's metrics).
        """
        if getattr(self.policy, "sampler", None) is not self._sampler:
            self.policy.compile(sampler=self._sampler)
        prompts = self.expand_prompts(check_prompts(prompts))
        start = time.perf_counter()
        token_ids, padding_mask = self._encode(prompts)
        generated = sample_responses(
            self.policy,
            token_ids,
            padding_mask,
            max_new_tokens=self.max_new_tokens,
            stop_token_ids=self.stop_token_ids,
        )
        generation_seconds = time.perf_counter() - start
        responses = decode_responses(
            self._tokenizer, generated["token_ids"], generated["response_mask"], self.stop_token_ids
        )
        scores = score_responses(self.reward, prompts, responses)
        if self.missing_eos_penalty:
            scores = scores - self.missing_eos_penalty * (~generated["ended"])
        forward_inputs = {
            "token_ids": generated["token_ids"],
            "padding_mask": generated["padding_mask"],
        }
        batch_size = self._forward_batch_size(len(prompts))
        policy_outputs = self.predict(forward_inputs, batch_size=batch_size, verbose=0)
        action_mask = generated["response_mask"][:, 1:].astype("float32")
        old_logprobs = masked_values(np.asarray(policy_outputs["logprobs"], "float32"), action_mask)
        reference_logprobs = masked_values(
            np.asarray(policy_outputs["reference_logprobs"], "float32"), action_mask
        )
        inputs = {
            **forward_inputs,
            "action_mask": action_mask,
            "old_logprobs": old_logprobs,
        }
        extra_inputs, metrics = self._training_inputs(
            scores, policy_outputs, reference_logprobs, action_mask
        )
        inputs.update(extra_inputs)
        # Both are already 0 outside the response.
        sequence_kl = (old_logprobs - reference_logprobs).sum(axis=1)
        non_score_reward = -self.kl_coefficient() * sequence_kl
        lengths = generated["response_mask"].sum(axis=1)
        metrics = {
            "objective/scores": float(scores.mean()),
            "objective/kl": float(sequence_kl.mean()),
            "objective/entropy": float(-old_logprobs.sum(axis=1).mean()),
            "objective/non_score_reward": float(non_score_reward.mean()),
            "objective/rlhf_reward": float((scores + non_score_reward).mean()),
            "completions/mean_length": float(lengths.mean()),
            "completions/clipped_ratio": float(1.0 - generated["ended"].mean()),
            **metrics,
            "time/generation_s": generation_seconds,
            "time/rollout_s": time.perf_counter() - start,
        }
        return {
            "prompts": prompts,
            "responses": responses,
            "scores": scores,
            "inputs": inputs,
            "metrics": metrics,
        }

    def _training_inputs(self, scores, policy_outputs, reference_logprobs, action_mask):
        """Advantages (and other targets) of a rollout: `(inputs, metrics)`."""
        raise NotImplementedError

    def after_update(self, rollout):
        """Called after the optimisation of each rollout batch."""

    # -- The loop -----------------------------------------------------------

    def optimize(self, inputs):
        """Run the optimisation epochs over one rollout batch with `keras.Model.fit`.

        Returns:
            The loss metrics averaged over the optimisation epochs.
        """
        rollout_size = len(inputs["token_ids"])
        history = super().fit(
            inputs,
            batch_size=self._forward_batch_size(rollout_size),
            epochs=self.optimization_epochs,
            shuffle=True,
            verbose=0,
            callbacks=[keras.callbacks.TerminateOnNaN()],
        )
        return {key: float(np.mean(values)) for key, values in history.history.items()}

    def fit(self, prompts, epochs=1, batch_size=8, callbacks=None, verbose="auto", shuffle=True):
        """Train on a set of prompts: rollouts, rewards and Keras optimisation steps.

        Args:
            prompts: list of prompts: strings (user messages), chat message
                lists ending with a user turn, or `PromptExample` records.
            epochs: int. Passes over the prompts. Defaults to 1.
            batch_size: int. Prompts per rollout batch; the last batch of an
                epoch is filled from the start of the (shuffled) order, so
                every rollout batch has the same shape. Defaults to 8.
            callbacks: list of `keras.callbacks.Callback`. Called per rollout
                batch (`on_train_batch_*`) and per epoch. Defaults to `None`.
            verbose: `"auto"`, 0 or 1. A progress bar over rollout batches.
                Defaults to `"auto"` (1).
            shuffle: bool. Shuffle the prompts each epoch. Defaults to `True`.

        Returns:
            A `keras.callbacks.History` whose `history` holds the per-epoch
            means of every metric.

        Raises:
            KerasAlignError: bad arguments, a reward returning bad scores, or
                a loss that became NaN or infinite (training stops; save
                nothing from this policy).
        """
        prompts = check_prompts(prompts)
        epochs = check_integer("epochs", epochs)
        batch_size = check_integer("batch_size", batch_size)
        if not self.compiled:
            raise KerasAlignError("Call compile() on the trainer before fit().")
        rollout_size = batch_size * self.SAMPLES_PER_PROMPT
        if rollout_size % self.num_minibatches:
            raise KerasAlignError(
                f"A rollout batch of {rollout_size} responses does not split into "
                f"num_minibatches={self.num_minibatches} equal minibatches; choose a "
                "batch_size (times the samples per prompt) divisible by it."
            )
        if self.max_prompt_length is None:
            texts = [self._template.render_prompt(prompt) for prompt in prompts]
            lengths = [len(ids) for ids in self._tokenizer.tokenize(texts)]
            self._prompt_length = max(lengths) + 1
        verbose = 1 if verbose == "auto" else verbose
        steps_per_epoch = math.ceil(len(prompts) / batch_size)
        callback_list = keras.callbacks.CallbackList(
            callbacks,
            add_history=True,
            add_progbar=bool(verbose),
            model=self,
            verbose=verbose,
            epochs=epochs,
            steps=steps_per_epoch,
        )
        rng = np.random.default_rng(self.seed)
        self.stop_training = False
        callback_list.on_train_begin()
        epoch_logs = {}
        for epoch in range(epochs):
            callback_list.on_epoch_begin(epoch)
            order = rng.permutation(len(prompts)) if shuffle else np.arange(len(prompts))
            order = np.resize(order, steps_per_epoch * batch_size)
            step_logs = []
            for step in range(steps_per_epoch):
                callback_list.on_train_batch_begin(step)
                batch = [prompts[i] for i in order[step * batch_size : (step + 1) * batch_size]]
                logs = self.train_on_prompts(batch)
                if not math.isfinite(logs.get("loss", 0.0)):
                    self.stop_training = True
                    raise KerasAlignError(
                        f"Training diverged at epoch {epoch + 1}, rollout batch "
                        f"{step + 1}: the loss became NaN or infinite, so the policy's "
                        "weights are no longer usable; do not save them. Lower the "
                        "learning rate or check the reward's scale."
                    )
                step_logs.append(logs)
                callback_list.on_train_batch_end(step, logs)
                if self.stop_training:
                    break
            epoch_logs = _mean_logs(step_logs)
            callback_list.on_epoch_end(epoch, epoch_logs)
            if self.stop_training:
                break
        callback_list.on_train_end(epoch_logs)
        history = next(
            callback for callback in callback_list.callbacks
            if isinstance(callback, keras.callbacks.History)
        )
        self.history = history
        return history

    def train_on_prompts(self, prompts):
        """One rollout batch: generate, score, optimise. Returns its metrics."""
        rollout = self.rollout(prompts)
        schedule = optimizer_schedule(self.optimizer)
        # The rate of this batch's first update (the optimizer's step is
        # synced between `fit` calls).
        rate = {} if schedule is None else {
            "learning_rate": float(ops.convert_to_numpy(schedule(self.optimizer.iterations)))
        }
        start = time.perf_counter()
        loss_logs = self.optimize(rollout["inputs"])
        self.after_update(rollout)
        return {
            **loss_logs,
            **rollout["metrics"],
            **rate,
            "time/update_s": time.perf_counter() - start,
        }

    def get_config(self):
        """The trainer's hyperparameters (the policy and reward are not serialised)."""
        return {
            "name": self.name,
            "template": self.template if isinstance(self.template, str) else repr(self.template),
            "reward": reward_name(self.reward),
            "max_new_tokens": self.max_new_tokens,
            "max_prompt_length": self.max_prompt_length,
            "sampler": self.sampler_name,
            "temperature": self.temperature,
            "top_k": self.top_k,
            "top_p": self.top_p,
            "num_minibatches": self.num_minibatches,
            "optimization_epochs": self.optimization_epochs,
            "clip_range": self.clip_range,
            "missing_eos_penalty": self.missing_eos_penalty,
            "chunk_size": self.chunk_size,
            "remat": self.remat,
            "seed": self.seed,
        }
