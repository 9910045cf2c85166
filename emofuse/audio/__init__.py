"""Audio: reading files and acoustic front-ends."""

from emofuse.audio.io import AudioError
from emofuse.audio.io import read_audio
from emofuse.audio.io import read_utterance
from emofuse.audio.logmel import LogMel
from emofuse.audio.logmel import LogMelConfig
from emofuse.audio.logmel import LogMelStats
from emofuse.audio.logmel import LogMelStatsConfig
from emofuse.audio.logmel import log_mel

__all__ = ["AudioError", "LogMel", "LogMelConfig", "LogMelStats", "LogMelStatsConfig", "log_mel", "read_audio", "read_utterance"]
