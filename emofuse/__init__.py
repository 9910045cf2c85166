"""emofuse: speech emotion recognition that fuses how something is said with what is said.

The public API is flat: ``emofuse.Manifest``, ``emofuse.prepare_iemocap``,
``emofuse.load_experiment``, ``emofuse.run_experiment``, ... Training names import Lightning on
first use only, so data, models and inference work without it.
"""

__version__ = "0.1.0"

from emofuse.audio import AudioError
from emofuse.audio import read_audio
from emofuse.config import ConfigError
from emofuse.data import FOUR_CLASSES
from emofuse.data import CorpusError
from emofuse.data import Fold
from emofuse.data import LabelMap
from emofuse.data import LeakageError
from emofuse.data import Manifest
from emofuse.data import Utterance
from emofuse.data import make_folds
from emofuse.data import prepare_cremad
from emofuse.data import prepare_emobank
from emofuse.data import prepare_emodb
from emofuse.data import prepare_goemotions
from emofuse.data import prepare_iemocap
from emofuse.data import prepare_manifest
from emofuse.data import prepare_meld
from emofuse.data import prepare_msp_podcast
from emofuse.data import prepare_ravdess
from emofuse.data import prepare_semeval
from emofuse.data import validate_folds
from emofuse.experiment import ExperimentConfig
from emofuse.experiment import load_experiment
from emofuse.features import FEATURES
from emofuse.features import FeatureError
from emofuse.features import extract_features
from emofuse.fusion import SCORE_FUSIONS
from emofuse.models import MODELS

#: Names imported on first use: training (Lightning), inference, ASR and reports.
_LAZY = {
    "run_experiment": "emofuse.training",
    "Runner": "emofuse.training",
    "RunError": "emofuse.training",
    "Recognizer": "emofuse.inference",
    "Prediction": "emofuse.inference",
    "export_run": "emofuse.inference",
    "transcribe_manifest": "emofuse.asr",
    "word_error_rate": "emofuse.asr",
    "build_report": "emofuse.reports",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'emofuse' has no attribute {name!r}")


__all__ = [
    "FEATURES",
    "FOUR_CLASSES",
    "MODELS",
    "SCORE_FUSIONS",
    "AudioError",
    "ConfigError",
    "CorpusError",
    "ExperimentConfig",
    "FeatureError",
    "Fold",
    "LabelMap",
    "LeakageError",
    "Manifest",
    "Prediction",
    "Recognizer",
    "RunError",
    "Runner",
    "Utterance",
    "build_report",
    "export_run",
    "extract_features",
    "load_experiment",
    "make_folds",
    "prepare_cremad",
    "prepare_emobank",
    "prepare_emodb",
    "prepare_goemotions",
    "prepare_iemocap",
    "prepare_manifest",
    "prepare_meld",
    "prepare_msp_podcast",
    "prepare_ravdess",
    "prepare_semeval",
    "read_audio",
    "run_experiment",
    "transcribe_manifest",
    "validate_folds",
    "word_error_rate",
]
