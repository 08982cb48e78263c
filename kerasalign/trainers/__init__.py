"""Training objectives, each a `keras.Model` trained with `compile` and `fit`."""

from kerasalign.trainers.metrics_recorder import MetricsRecorder
from kerasalign.trainers.sft_trainer import SFTTrainer, masked_token_loss

__all__ = ["MetricsRecorder", "SFTTrainer", "masked_token_loss"]
