"""Systems: one contract for neural models, classic models, score fusions and model fusions
(:class:`System`), from training to export to inference."""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach(__name__, submod_attrs={
    "base": [
        "System",
        "SystemData",
        "InvalidSystemError",
        "SystemSpec",
        "build_system",
        "load_system",
        "read_spec",
    ],
    "classic": [
        "ClassicSystem",
    ],
    "neural": [
        "NeuralSystem",
    ],
    "onnx": [
        "OnnxSystem",
        "load_onnx_system",
    ],
    "score_fusion": [
        "ScoreFusionSystem",
    ],
})
