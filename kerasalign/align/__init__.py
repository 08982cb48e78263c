"""The `kerasalign align` job: base -> SFT -> reward model -> DPO -> report."""

from kerasalign.align.align_job import AlignJob
from kerasalign.align.align_settings import AlignSettings
from kerasalign.align.on_policy_pairs import mine_preference_pairs, pairs_from_mistakes
from kerasalign.align.stage_runner import Stage, StageRunner

__all__ = [
    "AlignJob",
    "AlignSettings",
    "Stage",
    "StageRunner",
    "mine_preference_pairs",
    "pairs_from_mistakes",
]
