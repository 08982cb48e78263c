"""`PPOTrainer`: RLHF with PPO, a value head, GAE and a KL-penalised reward.

The recipe of Ziegler et al. (2019) and InstructGPT (Ouyang et al., 2022),
as in TRL's PPO trainer: each response's reward is the score of the reward
model on its last token minus `kl_coef * (logp - ref_logp)` on every
token; advantages come from generalised advantage estimation (GAE) with a
value head, are whitened over the batch, and train a clipped policy loss
plus a clipped value loss for a few epochs over minibatches.

The value head is a `Dense(1)` on the policy backbone's final hidden states
(a shared trunk, as in the original RLHF code), so the value loss also
trains the LoRA factors; `value_coef` weighs it.

Examples:

>>> import kerasalign
>>> policy = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
>>> trainer = PPOTrainer(policy, kerasalign.trainers.keyword_reward("please"),
...                      max_new_tokens=16, target_kl=6.0)
>>> trainer.compile(learning_rate=1e-4)
>>> trainer.kl_controller.adaptive, trainer.get_config()["optimization_epochs"]
(True, 4)

Then `trainer.fit(prompts, epochs=1, batch_size=8)` trains (see
`OnlineTrainer.fit`).
"""

import keras
import numpy as np
from keras import ops

from kerasalign.trainers import advantages as advantages_module
from kerasalign.trainers.argument_checks import check_number
from kerasalign.trainers.kl_controller import KLController
from kerasalign.trainers.online_trainer import OnlineTrainer
from kerasalign.trainers.rl_losses import ppo_policy_loss, ppo_value_loss


class PPOTrainer(OnlineTrainer):
    """Optimise a LoRA policy against a reward with PPO.

    Args:
        policy: `keras_hub.models.CausalLM` with LoRA enabled.
        reward: a `kerasalign.RewardModel` or a callable
            `(prompts, responses) -> scores`.
        kl_coef: float. Initial coefficient of the per-token KL penalty.
            Defaults to 0.05.
        target_kl: float or `None`. Target KL per response for the adaptive
            coefficient of Ziegler et al. (2019); `None` keeps `kl_coef`
            fixed. Defaults to `None`.
        kl_horizon: float. Horizon of the adaptive coefficient, in
            responses. Defaults to 10000.
        gamma: float. Discount of GAE. Defaults to 1.0.
        lam: float. Lambda of GAE. Defaults to 0.95.
        value_coef: float. Weight of the value loss. Defaults to 0.1.
        value_clip_range: float. How far a value may move from its rollout
            value before the value loss is clipped. Defaults to 0.2.
        whiten_rewards: bool. Scale the per-token rewards to unit variance
            before GAE (advantages are always whitened). Defaults to `False`.
        **kwargs: the arguments of `OnlineTrainer` (`template`,
            `max_new_tokens`, `sampler`, `temperature`, `num_minibatches`,
            `optimization_epochs`, `clip_range`, `missing_eos_penalty`,
            `chunk_size`, `remat`, `seed`, ...).
    """

    LOSS_METRICS = (
        "loss/policy_avg",
        "loss/value_avg",
        "policy/approxkl_avg",
        "policy/clipfrac_avg",
        "policy/ratio_avg",
        "val/clipfrac_avg",
    )

    def __init__(
        self,
        policy,
        reward,
        *,
        kl_coef=0.05,
        target_kl=None,
        kl_horizon=10000,
        gamma=1.0,
        lam=0.95,
        value_coef=0.1,
        value_clip_range=0.2,
        whiten_rewards=False,
        optimization_epochs=4,
        **kwargs,
    ):
        super().__init__(policy, reward, optimization_epochs=optimization_epochs, **kwargs)
        self.kl_controller = KLController(kl_coef, target=target_kl, horizon=kl_horizon)
        self.kl_coef = self.kl_controller.initial
        self.target_kl = self.kl_controller.target
        self.kl_horizon = self.kl_controller.horizon
        self.gamma = check_number("gamma", gamma, 0.0, 1.0 + 1e-9, allow_minimum=True)
        self.lam = check_number("lam", lam, 0.0, 1.0 + 1e-9, allow_minimum=True)
        self.value_coef = check_number("value_coef", value_coef, allow_minimum=True)
        self.value_clip_range = check_number("value_clip_range", value_clip_range)
        self.whiten_rewards = bool(whiten_rewards)
        self.value_head = keras.layers.Dense(
            1, kernel_initializer="zeros", dtype="float32", name="value_head"
        )
        self.value_head.build((None, None, policy.backbone.hidden_dim))

    def extra_outputs(self, hidden_states, training=False):
        values = self.value_head(ops.cast(hidden_states, "float32"))
        return {"values": values[..., 0]}

    def kl_coefficient(self):
        return self.kl_controller.value

    def _training_inputs(self, scores, policy_outputs, reference_logprobs, action_mask):
        masked_values = advantages_module.masked_values
        old_values = masked_values(np.asarray(policy_outputs["values"], "float32"), action_mask)
        old_logprobs = masked_values(np.asarray(policy_outputs["logprobs"], "float32"), action_mask)
        rewards, _ = advantages_module.kl_penalized_rewards(
            scores, old_logprobs, reference_logprobs, action_mask, self.kl_coefficient()
        )
        if self.whiten_rewards:
            rewards = advantages_module.masked_whiten(rewards, action_mask, shift_mean=False)
        advantages, returns = advantages_module.generalized_advantages(
            rewards, old_values, action_mask, gamma=self.gamma, lam=self.lam
        )
        advantages = advantages_module.masked_whiten(advantages, action_mask)
        inputs = {"old_values": old_values, "advantages": advantages, "returns": returns}
        metrics = {
            "objective/kl_coef": self.kl_coefficient(),
            "val/mean": float(advantages_module.masked_mean(old_values, action_mask)),
            "val/returns_mean": float(advantages_module.masked_mean(returns, action_mask)),
        }
        return inputs, metrics

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        policy_loss, policy_metrics = ppo_policy_loss(
            y_pred["logprobs"],
            x["old_logprobs"],
            x["advantages"],
            x["action_mask"],
            clip_range=self.clip_range,
        )
        value_loss, value_metrics = ppo_value_loss(
            y_pred["values"],
            x["old_values"],
            x["returns"],
            x["action_mask"],
            clip_range=self.value_clip_range,
        )
        self.update_loss_metrics({**policy_metrics, **value_metrics})
        return policy_loss + self.value_coef * value_loss

    def after_update(self, rollout):
        self.kl_controller.update(
            rollout["metrics"]["objective/kl"], len(rollout["responses"])
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "kl_coef": self.kl_coef,
                "target_kl": self.target_kl,
                "kl_horizon": self.kl_horizon,
                "gamma": self.gamma,
                "lam": self.lam,
                "value_coef": self.value_coef,
                "value_clip_range": self.value_clip_range,
                "whiten_rewards": self.whiten_rewards,
            }
        )
        return config
