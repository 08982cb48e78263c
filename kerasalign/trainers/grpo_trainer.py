"""`GRPOTrainer`: group relative policy optimisation, no value model.

GRPO (Shao et al., 2024, DeepSeekMath) samples `G` responses to each prompt
and uses each response's score relative to its group as the advantage of
all its tokens: `A_i = (r_i - mean(r)) / (std(r) + eps)`. The loss is PPO's
clipped surrogate plus `beta` times the k3 estimate of the KL to the
reference, averaged over each response's tokens and then over responses.
It needs no value head and no GAE; a group whose responses all score the
same contributes no gradient.

Examples:

>>> import kerasalign
>>> policy = kerasalign.load_causal_lm("tiny_gemma", lora_rank=4)
>>> trainer = GRPOTrainer(policy, kerasalign.trainers.keyword_reward("please"),
...                       num_generations=4, max_new_tokens=16)
>>> trainer.compile(learning_rate=1e-4)
>>> trainer.expand_prompts(["Hi", "Bye"])[:5]
['Hi', 'Hi', 'Hi', 'Hi', 'Bye']

Then `trainer.fit(prompts, epochs=1, batch_size=8)` samples 4 responses
to each of 8 prompts per rollout batch (see `OnlineTrainer.fit`).
"""

import numpy as np

from kerasalign.errors import KerasAlignError
from kerasalign.trainers.advantages import group_advantages
from kerasalign.trainers.argument_checks import check_number
from kerasalign.trainers.online_trainer import OnlineTrainer
from kerasalign.trainers.rl_losses import grpo_loss


class GRPOTrainer(OnlineTrainer):
    """Optimise a LoRA policy against a reward with GRPO.

    A rollout batch of `batch_size` prompts holds `batch_size *
    num_generations` responses.

    Args:
        policy: `keras_hub.models.CausalLM` with LoRA enabled.
        reward: a `kerasalign.RewardModel` or a callable
            `(prompts, responses) -> scores`.
        num_generations: int. `G`, responses sampled per prompt (>= 2).
            Defaults to 4.
        beta: float. Weight of the KL term in the loss; 0 drops it (the
            KL is still measured and reported). Defaults to 0.04.
        scale_rewards: bool. Divide by the group's standard deviation;
            `False` only centres the scores (Dr. GRPO). Defaults to `True`.
        **kwargs: the arguments of `OnlineTrainer` (`template`,
            `max_new_tokens`, `sampler`, `temperature`, `num_minibatches`,
            `optimization_epochs`, `clip_range`, `missing_eos_penalty`,
            `chunk_size`, `remat`, `seed`, ...).
    """

    LOSS_METRICS = (
        "loss/kl_avg",
        "loss/policy_avg",
        "policy/approxkl_avg",
        "policy/clipfrac_avg",
    )

    def __init__(
        self,
        policy,
        reward,
        *,
        num_generations=4,
        beta=0.04,
        scale_rewards=True,
        **kwargs,
    ):
        if (
            isinstance(num_generations, bool)
            or not isinstance(num_generations, (int, np.integer))
            or num_generations < 2
        ):
            raise KerasAlignError(
                "num_generations (G) must be an integer >= 2: GRPO compares each "
                "response with the other responses to the same prompt. Received: "
                f"num_generations={num_generations!r}"
            )
        super().__init__(policy, reward, **kwargs)
        self.num_generations = int(num_generations)
        self.SAMPLES_PER_PROMPT = self.num_generations
        self.beta = check_number("beta", beta, allow_minimum=True)
        self.scale_rewards = bool(scale_rewards)

    def kl_coefficient(self):
        return self.beta

    def _training_inputs(self, scores, policy_outputs, reference_logprobs, action_mask):
        advantages = group_advantages(
            scores, self.num_generations, scale=self.scale_rewards
        )
        group_std = scores.reshape(-1, self.num_generations).std(axis=1)
        inputs = {"reference_logprobs": reference_logprobs, "advantages": advantages}
        metrics = {
            "objective/scores_std": float(scores.std()),
            "objective/frac_reward_zero_std": float(np.mean(group_std == 0)),
        }
        return inputs, metrics

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss, metrics = grpo_loss(
            y_pred["logprobs"],
            x["old_logprobs"],
            x["reference_logprobs"],
            x["advantages"],
            x["action_mask"],
            clip_range=self.clip_range,
            beta=self.beta,
        )
        self.update_loss_metrics(metrics)
        return loss

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_generations": self.num_generations,
                "beta": self.beta,
                "scale_rewards": self.scale_rewards,
            }
        )
        return config
