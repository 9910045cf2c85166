"""Audio: reading files and acoustic front-ends."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "augment": [
        "SpecAugment",
        "SpecAugmentPolicy",
    ],
    "functionals": [
        "RobustFunctionals",
        "RobustFunctionalsConfig",
        "feature_names",
        "robust_functionals",
    ],
    "io": [
        "AudioError",
        "read_audio",
        "read_utterance",
    ],
    "logmel": [
        "LogMel",
        "LogMelConfig",
        "LogMelStats",
        "LogMelStatsConfig",
        "log_mel",
    ],
    "opensmile": [
        "IS09Windows",
        "IS09WindowsConfig",
        "OpenSmile",
        "OpenSmileConfig",
    ],
    "perturb": [
        "CONDITIONS",
        "AugmentConfig",
        "augment",
        "perturb",
    ],
    "pitch": [
        "PitchTrack",
        "track_pitch",
    ],
    "pyaudioanalysis": [
        "PyAudioAnalysis",
        "PyAudioAnalysisConfig",
    ],
    "speaker": [
        "Resemblyzer",
        "ResemblyzerConfig",
        "SpeakerWeightsError",
        "load_speaker_weights",
    ],
    "ssl": [
        "SSLConfig",
        "SSLEncoder",
        "SSLFeatures",
    ],
    "stream": [
        "AudioStream",
    ],
})
