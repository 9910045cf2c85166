"""Audio: reading files and acoustic front-ends."""

from emofuse.audio.augment import SpecAugment
from emofuse.audio.augment import SpecAugmentPolicy
from emofuse.audio.io import AudioError
from emofuse.audio.io import read_audio
from emofuse.audio.io import read_utterance
from emofuse.audio.logmel import LogMel
from emofuse.audio.logmel import LogMelConfig
from emofuse.audio.logmel import LogMelStats
from emofuse.audio.logmel import LogMelStatsConfig
from emofuse.audio.logmel import log_mel
from emofuse.audio.opensmile import IS09Windows
from emofuse.audio.opensmile import IS09WindowsConfig
from emofuse.audio.opensmile import OpenSmile
from emofuse.audio.opensmile import OpenSmileConfig
from emofuse.audio.pyaudioanalysis import PyAudioAnalysis
from emofuse.audio.pyaudioanalysis import PyAudioAnalysisConfig
from emofuse.audio.speaker import Resemblyzer
from emofuse.audio.speaker import ResemblyzerConfig
from emofuse.audio.speaker import SpeakerWeightsError
from emofuse.audio.speaker import load_speaker_weights
from emofuse.audio.ssl import SSLConfig
from emofuse.audio.ssl import SSLEncoder
from emofuse.audio.ssl import SSLFeatures

__all__ = [
    "AudioError",
    "IS09Windows",
    "IS09WindowsConfig",
    "LogMel",
    "LogMelConfig",
    "LogMelStats",
    "LogMelStatsConfig",
    "OpenSmile",
    "OpenSmileConfig",
    "PyAudioAnalysis",
    "PyAudioAnalysisConfig",
    "Resemblyzer",
    "ResemblyzerConfig",
    "SSLConfig",
    "SSLEncoder",
    "SSLFeatures",
    "SpeakerWeightsError",
    "SpecAugment",
    "SpecAugmentPolicy",
    "load_speaker_weights",
    "log_mel",
    "read_audio",
    "read_utterance",
]
