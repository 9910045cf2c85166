"""Inference for users: recognisers from trained runs, predictions, timelines and a server.

Nothing here imports Lightning; a recogniser exported to ONNX runs without torch. The HTTP server (``emofuse.inference.server``) needs the
``[serve]`` extra and is imported on its own.
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "directory": [
        "RecognizerConfig",
    ],
    "export": [
        "build_from_run",
        "export_run",
        "fuse_recognizers",
    ],
    "onnx_export": [
        "export_onnx",
    ],
    "prediction": [
        "Prediction",
    ],
    "recognizer": [
        "Recognizer",
        "RecognizerError",
    ],
    "segment": [
        "Segment",
        "SegmentationConfig",
        "Timeline",
        "emotion_timeline",
        "plot_timeline",
        "split_segments",
    ],
    "speakers": [
        "SpeakerConfig",
    ],
})
