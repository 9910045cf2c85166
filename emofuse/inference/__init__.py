"""Inference for users: recognisers from trained runs, predictions, timelines and a server.

Nothing here imports Lightning. The HTTP server (``emofuse.inference.server``) needs the
``[serve]`` extra and is imported on its own.
"""

from emofuse.inference.export import build_from_run
from emofuse.inference.export import export_run
from emofuse.inference.export import fuse_recognizers
from emofuse.inference.recognizer import Prediction
from emofuse.inference.recognizer import Recognizer
from emofuse.inference.recognizer import RecognizerConfig
from emofuse.inference.recognizer import RecognizerError
from emofuse.inference.recognizer import SystemSpec
from emofuse.inference.segment import Segment
from emofuse.inference.segment import SegmentationConfig
from emofuse.inference.segment import Timeline
from emofuse.inference.segment import emotion_timeline
from emofuse.inference.segment import plot_timeline
from emofuse.inference.segment import split_segments
from emofuse.inference.transcribe import ASRConfig
from emofuse.inference.transcribe import Transcriber
from emofuse.inference.transcribe import build_transcriber

__all__ = [
    "ASRConfig",
    "Prediction",
    "Recognizer",
    "RecognizerConfig",
    "RecognizerError",
    "Segment",
    "SegmentationConfig",
    "SystemSpec",
    "Timeline",
    "Transcriber",
    "build_from_run",
    "build_transcriber",
    "emotion_timeline",
    "export_run",
    "fuse_recognizers",
    "plot_timeline",
    "split_segments",
]
