"""Fusion strategies: score-level fusion of systems, and multi-input fusion models."""

from emofuse.fusion.alignment import AttentionAlignment
from emofuse.fusion.alignment import AttentionAlignmentConfig
from emofuse.fusion.base import SCORE_FUSIONS
from emofuse.fusion.base import ScoreFusion
from emofuse.fusion.block import ClassificationBlock
from emofuse.fusion.block import ClassificationBlockConfig
from emofuse.fusion.concat import ConcatFusion
from emofuse.fusion.concat import ConcatFusionConfig
from emofuse.fusion.conditioning import ConditionedCNN14
from emofuse.fusion.conditioning import ConditionedCNN14Config
from emofuse.fusion.late import LateFusion
from emofuse.fusion.late import LateFusionConfig

__all__ = [
    "SCORE_FUSIONS",
    "AttentionAlignment",
    "AttentionAlignmentConfig",
    "ClassificationBlock",
    "ClassificationBlockConfig",
    "ConcatFusion",
    "ConcatFusionConfig",
    "ConditionedCNN14",
    "ConditionedCNN14Config",
    "LateFusion",
    "LateFusionConfig",
    "ScoreFusion",
]
