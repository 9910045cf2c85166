"""Speech recognition: Whisper and pocketsphinx, cached manifest transcription, and WER."""

import emofuse.asr.pocketsphinx  # noqa: F401  (registers the pocketsphinx recogniser)
import emofuse.asr.whisper  # noqa: F401  (registers the whisper recogniser)
from emofuse.asr.base import RECOGNIZERS
from emofuse.asr.base import SpeechRecognizer
from emofuse.asr.base import TranscriptionError
from emofuse.asr.base import build_recognizer
from emofuse.asr.base import parse_recognizer
from emofuse.asr.pocketsphinx import PocketsphinxConfig
from emofuse.asr.pocketsphinx import PocketsphinxRecognizer
from emofuse.asr.transcribe import manifest_word_error_rate
from emofuse.asr.transcribe import transcribe_manifest
from emofuse.asr.wer import error_counts
from emofuse.asr.wer import normalize_transcript
from emofuse.asr.wer import word_error_rate
from emofuse.asr.whisper import WhisperConfig
from emofuse.asr.whisper import WhisperRecognizer

__all__ = [
    "RECOGNIZERS",
    "PocketsphinxConfig",
    "PocketsphinxRecognizer",
    "SpeechRecognizer",
    "TranscriptionError",
    "WhisperConfig",
    "WhisperRecognizer",
    "build_recognizer",
    "error_counts",
    "manifest_word_error_rate",
    "normalize_transcript",
    "parse_recognizer",
    "transcribe_manifest",
    "word_error_rate",
]
