"""Speech recognition: pocketsphinx and Whisper engines, cached manifest transcription, and WER."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "base": ["Transcriber", "TranscriptionError", "build_transcriber", "check_asr", "parse_asr"],
    "pocketsphinx": ["PocketsphinxConfig", "PocketsphinxTranscriber"],
    "transcribe": ["manifest_word_error_rate", "transcribe_manifest"],
    "wer": ["error_counts", "normalize_transcript", "word_error_rate"],
    "whisper": ["WhisperConfig", "WhisperTranscriber"],
})
