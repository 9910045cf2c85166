"""emofuse: speech emotion recognition that fuses how something is said with what is said.

The public API is flat: ``emofuse.Recognizer``, ``emofuse.Manifest``, ``emofuse.prepare_iemocap``,
``emofuse.load_experiment``, ``emofuse.run_experiment``, ... Every name is imported on first
use, so ``import emofuse`` is instant and pulls in neither torch nor Lightning; a model or
front-end is imported when a config first names it (see :mod:`emofuse.components`).
"""

import lazy_loader

__version__ = "0.2.0"

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "audio.io": [
        "AudioError",
        "read_audio",
    ],
    "calibration": [
        "apply_temperature",
        "expected_calibration_error",
        "fit_temperature",
    ],
    "components": [
        "CORPORA",
        "FEATURES",
        "MODELS",
        "PROTOCOLS",
        "SCORE_FUSIONS",
        "TRANSCRIBERS",
    ],
    "config": [
        "ConfigError",
    ],
    "data.corpora": [
        "CorpusError",
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
    ],
    "data.labels": [
        "FOUR_CLASSES",
        "LabelMap",
    ],
    "data.manifest": [
        "Manifest",
        "Utterance",
    ],
    "data.protocols": [
        "Fold",
        "make_folds",
    ],
    "data.validation": [
        "LeakageError",
        "validate_folds",
    ],
    "experiment": [
        "ExperimentConfig",
        "load_experiment",
    ],
    "features": [
        "FeatureError",
        "extract_features",
    ],
    "predictions": [
        "Predictions",
    ],
    "rundir": [
        "RunDirectory",
    ],
    "store": [
        "FeatureStore",
        "StoreError",
    ],
    "systems": [
        "System",
        "load_system",
    ],
    "training": [
        "RunError",
        "Runner",
        "evaluate_run",
        "run_experiment",
    ],
    "inference": [
        "Prediction",
        "Recognizer",
        "export_run",
    ],
    "asr": [
        "transcribe_manifest",
        "word_error_rate",
    ],
    "reports": [
        "build_report",
    ],
})
