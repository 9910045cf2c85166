"""Fusion strategies: score-level fusion of systems, and multi-input fusion models."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "alignment": [
        "AttentionAlignment",
        "AttentionAlignmentConfig",
    ],
    "base": [
        "ScoreFusion",
    ],
    "block": [
        "ClassificationBlock",
        "ClassificationBlockConfig",
    ],
    "concat": [
        "ConcatFusion",
        "ConcatFusionConfig",
    ],
    "conditioning": [
        "ConditionedCNN14",
        "ConditionedCNN14Config",
    ],
    "late": [
        "LateFusion",
        "LateFusionConfig",
    ],
})
