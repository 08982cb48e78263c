"""The `kerasalign align` job: base -> SFT -> reward model -> DPO -> report."""

from kerasalign.align.align_job import AlignJob
from kerasalign.align.align_settings import AlignSettings
from kerasalign.align.stage_runner import Stage, StageRunner

__all__ = ["AlignJob", "AlignSettings", "Stage", "StageRunner"]
