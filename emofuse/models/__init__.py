"""Models: plain torch modules, one per file, registered by name."""

from emofuse.models.base import MODELS
from emofuse.models.base import ClassicModel
from emofuse.models.base import EmotionModel
from emofuse.models.base import InputSpec
from emofuse.models.classic import LogisticRegressionConfig
from emofuse.models.classic import SklearnModel
from emofuse.models.classic import SVMConfig
from emofuse.models.mlp import MLP
from emofuse.models.mlp import MLPConfig
from emofuse.models.standardize import Standardizer
from emofuse.models.standardize import SystemModel

__all__ = [
    "MLP",
    "MODELS",
    "ClassicModel",
    "EmotionModel",
    "InputSpec",
    "LogisticRegressionConfig",
    "MLPConfig",
    "SVMConfig",
    "SklearnModel",
    "Standardizer",
    "SystemModel",
]
