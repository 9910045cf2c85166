"""Recogniser directories exported to ONNX, loaded without torch or Lightning.

``emofuse export RUN|default -o DIR --format onnx`` (:mod:`emofuse.inference.onnx_export`)
writes the usual recogniser directory with ONNX in place of PyTorch weights::

    config.json                    the recogniser (as for PyTorch exports)
    systems/<name>/system.json     each system's spec; text front-ends become onnx_text_embedding
    systems/<name>/model.onnx      the neural model with its standardisers, or the score fusion
    systems/<name>/onnx.json       format, version and the graph's tensors (and tokenizer.json
                                   beside it for models that read raw text)
    encoders/<front-end>/          encoder.onnx, tokenizer.json and encoder.json of each
                                   language-model front-end

:meth:`Recognizer.from_pretrained` sees the ``model.onnx`` / ``onnx.json`` files and loads the
systems with :func:`load_onnx_systems`: audio front-ends run with numpy and librosa, text
front-ends and models with ``tokenizers`` and onnxruntime, classic (scikit-learn) systems
with numpy as always (their ``onnx.json`` says ``kind: classic`` and their arrays stay in
``model.safetensors``).
"""

from __future__ import annotations

import dataclasses
import pathlib
from typing import TYPE_CHECKING

from emofuse.inference.directory import SYSTEMS_DIR
from emofuse.inference.directory import RecognizerError
from emofuse.inference.directory import localize_features
from emofuse.systems.base import InvalidSystemError
from emofuse.systems.base import System
from emofuse.systems.base import read_spec
from emofuse.systems.onnx import GRAPH_FILE
from emofuse.systems.onnx import META_FILE

if TYPE_CHECKING:
    from emofuse.inference.directory import RecognizerConfig


def is_onnx_recognizer(directory: pathlib.Path) -> bool:
    """Whether any system of the recogniser directory was exported to ONNX."""
    systems = directory / SYSTEMS_DIR
    return systems.is_dir() and any((d / GRAPH_FILE).is_file() or (d / META_FILE).is_file()
                                    for d in systems.iterdir() if d.is_dir())


def load_onnx_systems(directory: pathlib.Path, config: RecognizerConfig, *,
                      threads: int | None = None) -> dict[str, System]:
    """Every system of an ONNX recogniser directory; errors name the system and the missing
    file or version."""
    from emofuse.features import FeatureError
    from emofuse.systems.onnx import load_onnx_system
    from emofuse.text.onnx_embedding import read_encoder_meta

    systems: dict[str, System] = {}
    for name in config.systems:
        system_dir = directory / SYSTEMS_DIR / name
        try:
            spec = read_spec(system_dir)
            spec = dataclasses.replace(spec, features=localize_features(spec.features, directory))
            systems[name] = load_onnx_system(system_dir, spec=spec, threads=threads)
            for component in spec.features.values():
                if component.name == "onnx_text_embedding":
                    read_encoder_meta(pathlib.Path(component.config.model))
        except (InvalidSystemError, FeatureError) as error:
            raise RecognizerError(f"system {name!r}: {error}") from None
    return systems
