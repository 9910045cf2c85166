"""Models: plain torch modules, one per file, registered by name."""

from emofuse.models.acoustic_lstm import AcousticLSTM
from emofuse.models.acoustic_lstm import AcousticLSTMConfig
from emofuse.models.attention_bilstm import AttentionBiLSTM
from emofuse.models.attention_bilstm import AttentionBiLSTMConfig
from emofuse.models.base import MODELS
from emofuse.models.base import ClassicModel
from emofuse.models.base import EmotionModel
from emofuse.models.base import InputSpec
from emofuse.models.classic import LogisticRegressionConfig
from emofuse.models.classic import SklearnModel
from emofuse.models.classic import SVMConfig
from emofuse.models.cnn14 import CNN14
from emofuse.models.cnn14 import CNN14Config
from emofuse.models.mlp import MLP
from emofuse.models.mlp import MLPConfig
from emofuse.models.pooling import PoolingConfig
from emofuse.models.pooling import PoolingHead
from emofuse.models.resnet34 import ResNet34
from emofuse.models.resnet34 import ResNet34Config
from emofuse.models.ssl_finetune import SSLFinetune
from emofuse.models.ssl_finetune import SSLFinetuneConfig
from emofuse.models.standardize import Standardizer
from emofuse.models.standardize import SystemModel

__all__ = [
    "CNN14",
    "MLP",
    "MODELS",
    "AcousticLSTM",
    "AcousticLSTMConfig",
    "AttentionBiLSTM",
    "AttentionBiLSTMConfig",
    "CNN14Config",
    "ClassicModel",
    "EmotionModel",
    "InputSpec",
    "LogisticRegressionConfig",
    "MLPConfig",
    "PoolingConfig",
    "PoolingHead",
    "ResNet34",
    "ResNet34Config",
    "SSLFinetune",
    "SSLFinetuneConfig",
    "SVMConfig",
    "SklearnModel",
    "Standardizer",
    "SystemModel",
]
