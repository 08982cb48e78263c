"""Training objectives, each a `keras.Model` trained with `compile` and `fit`."""

from kerasalign.trainers.dpo_trainer import DPOTrainer
from kerasalign.trainers.logprobs import sequence_logprobs
from kerasalign.trainers.metrics_recorder import MetricsRecorder
from kerasalign.trainers.reward_model import RewardModel
from kerasalign.trainers.sft_trainer import SFTTrainer, masked_token_loss

__all__ = [
    "DPOTrainer",
    "MetricsRecorder",
    "RewardModel",
    "SFTTrainer",
    "masked_token_loss",
    "sequence_logprobs",
]
