"""Fusion strategies: score-level fusion of systems, and multi-input fusion models."""

from emofuse.fusion.base import SCORE_FUSIONS
from emofuse.fusion.base import ScoreFusion
from emofuse.fusion.block import ClassificationBlock
from emofuse.fusion.block import ClassificationBlockConfig
from emofuse.fusion.late import LateFusion
from emofuse.fusion.late import LateFusionConfig

__all__ = ["SCORE_FUSIONS", "ClassificationBlock", "ClassificationBlockConfig", "LateFusion", "LateFusionConfig", "ScoreFusion"]
