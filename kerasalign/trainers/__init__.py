"""Training objectives, each a `keras.Model` trained with `compile` and `fit`."""

from kerasalign.trainers.dpo_trainer import DPOTrainer
from kerasalign.trainers.grpo_trainer import GRPOTrainer
from kerasalign.trainers.kl_controller import KLController
from kerasalign.trainers.learning_rate_schedules import WarmupDecay
from kerasalign.trainers.logprobs import sequence_logprobs
from kerasalign.trainers.metrics_recorder import MetricsRecorder
from kerasalign.trainers.ppo_trainer import PPOTrainer
from kerasalign.trainers.reward_model import RewardModel
from kerasalign.trainers.rewards import keyword_reward
from kerasalign.trainers.sft_trainer import SFTTrainer, masked_token_loss
from kerasalign.trainers.token_accuracy import TokenAccuracy

__all__ = [
    "DPOTrainer",
    "GRPOTrainer",
    "KLController",
    "MetricsRecorder",
    "PPOTrainer",
    "RewardModel",
    "SFTTrainer",
    "TokenAccuracy",
    "WarmupDecay",
    "keyword_reward",
    "masked_token_loss",
    "sequence_logprobs",
]
