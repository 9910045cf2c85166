"""Systems run by onnxruntime: the inference half of the System contract, without torch.

An exported system directory holds ``system.json`` (its :class:`SystemSpec`, as usual),
``model.onnx`` and ``onnx.json`` (format and version, and how the spec's inputs become the
graph's tensors). Written by :mod:`emofuse.inference.onnx_export`; loaded with
:func:`load_onnx_system`.

- A model system (a neural model with its standardisers, or a model fusion) takes, per input,
  a vector ``(batch, dim)``, a zero-padded sequence ``(batch, frames, dim)`` or waveform
  ``(batch, samples)`` with its lengths, or raw text tokenised by the ``tokenizers`` library
  (``tokenizer.json`` beside the graph). Utterances are batched by length, as
  :class:`~emofuse.systems.neural.NeuralSystem` does, and categorical outputs go through the
  same softmax.
- A score-fusion system takes its members' outputs stacked ``(batch, members, outputs)`` and
  which of them are present ``(batch, members)``; an item with one member present gets that
  member's output, as :class:`~emofuse.systems.score_fusion.ScoreFusionSystem` does.

A classic (scikit-learn) system keeps its arrays (``model.safetensors``, predicted with numpy);
its ``onnx.json`` says ``kind: classic``. ONNX systems cannot be fitted or saved as weights:
:meth:`OnnxSystem.save` copies the files.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
from collections.abc import Mapping
from typing import Any

import numpy as np

from emofuse.systems.base import SPEC_FILE
from emofuse.systems.base import InvalidSystemError
from emofuse.systems.base import System
from emofuse.systems.base import SystemData
from emofuse.systems.base import SystemSpec
from emofuse.systems.base import read_spec

ONNX_FORMAT = "emofuse-onnx"
#: Version 1: model graphs (inputs ``<name>`` / ``<name>.lengths`` / ``<name>.<token tensor>``,
#: output ``scores``) and score-fusion graphs (``scores``, ``present`` -> ``fused``).
ONNX_FORMAT_VERSION = 1
GRAPH_FILE = "model.onnx"
META_FILE = "onnx.json"
#: Utterances per run, as in :data:`emofuse.systems.neural.PREDICT_BATCH_SIZE`.
BATCH_SIZE = 32


def read_meta(directory: pathlib.Path) -> dict[str, Any]:
    """``onnx.json`` of an exported system, checked; errors name the missing file or the version."""
    for name in (SPEC_FILE, META_FILE):
        if not (directory / name).is_file():
            raise InvalidSystemError(f"{directory}: missing {name} (an incomplete or older ONNX export: export it again)")
    try:
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise InvalidSystemError(f"{directory / META_FILE}: invalid JSON: {error}") from None
    if not isinstance(meta, dict) or meta.get("format") != ONNX_FORMAT:
        raise InvalidSystemError(f"{directory / META_FILE} does not describe an {ONNX_FORMAT} system")
    version = meta.get("format_version")
    if version != ONNX_FORMAT_VERSION:
        newer = isinstance(version, int) and version > ONNX_FORMAT_VERSION
        raise InvalidSystemError(f"{directory / META_FILE}: ONNX format_version {version}, this emofuse reads "
                                 f"{ONNX_FORMAT_VERSION} ({'upgrade emofuse' if newer else 'export it again'})")
    needed = "model.safetensors" if meta.get("kind") == "classic" else GRAPH_FILE
    if not (directory / needed).is_file():
        raise InvalidSystemError(f"{directory}: missing {needed} (an incomplete or older ONNX export: export it again)")
    return meta


class OnnxSystem(System):
    """A fitted system loaded from an ONNX export (see the module docstring)."""

    def __init__(self, spec: SystemSpec, directory: pathlib.Path, meta: Mapping[str, Any], *,
                 threads: int | None = None) -> None:
        from emofuse.text.onnx_embedding import onnx_session

        super().__init__(spec)
        self.directory = directory
        self.meta = dict(meta)
        self.session = onnx_session(directory / GRAPH_FILE, threads=threads)
        self._graph_inputs = {i.name for i in self.session.get_inputs()}  # unused inputs are pruned by the exporter
        self.tokenizers = {}
        for entry in self.meta.get("inputs", []):
            if entry["kind"] == "text":
                from emofuse.text.onnx_embedding import OnnxTokenizer

                path = directory / entry["tokenizer"]["file"]
                if not path.is_file():
                    raise InvalidSystemError(f"{directory}: missing {entry['tokenizer']['file']} (export it again)")
                self.tokenizers[entry["name"]] = OnnxTokenizer(path, entry["tokenizer"])

    def fit(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise InvalidSystemError("an ONNX system is exported for inference; train the PyTorch system instead")

    def state_dict(self) -> dict[str, np.ndarray]:
        raise InvalidSystemError("an ONNX system keeps its weights in model.onnx")

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        raise InvalidSystemError("an ONNX system keeps its weights in model.onnx")

    def save(self, directory: str | os.PathLike[str], **kwargs: Any) -> pathlib.Path:
        """Copy ``system.json`` (this spec), the graph, ``onnx.json`` and tokenizers to ``directory``."""
        from emofuse.files import atomic_write_text

        directory = pathlib.Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        if directory.resolve() != self.directory.resolve():
            for path in self.directory.iterdir():
                if path.is_file() and path.name != SPEC_FILE:
                    shutil.copy2(path, directory / path.name)
        saved = json.loads((self.directory / SPEC_FILE).read_text(encoding="utf-8"))
        payload = {key: saved[key] for key in ("format", "format_version", "versions") if key in saved}
        atomic_write_text(directory / SPEC_FILE, json.dumps({**payload, **self.spec.to_dict()}, indent=2,
                                                            ensure_ascii=False) + "\n")
        return directory

    def scores(self, data: SystemData) -> np.ndarray:
        if self.spec.members:
            return self._fuse(data)
        outputs = np.zeros((len(data), len(self.outputs)), dtype=np.float64)
        columns = {entry["name"]: data.column(entry["name"]) for entry in self.meta["inputs"]}
        for positions in self._batches(columns):
            feed: dict[str, np.ndarray] = {}
            for entry in self.meta["inputs"]:
                values = [columns[entry["name"]][k] for k in positions]
                feed.update(self._tensors(entry, values))
            (result,) = self.session.run(["scores"], {k: v for k, v in feed.items() if k in self._graph_inputs})
            outputs[positions] = result
        if self.spec.task_type == "categorical":
            shifted = outputs - outputs.max(axis=1, keepdims=True)
            exp = np.exp(shifted)
            return exp / exp.sum(axis=1, keepdims=True)
        return outputs

    def _batches(self, columns: Mapping[str, list[Any]]) -> list[list[int]]:
        """Positions grouped into batches of similar length (the longest input), as
        :meth:`NeuralSystem.batches` groups them."""
        kinds = {entry["name"]: entry["kind"] for entry in self.meta["inputs"]}
        count = len(next(iter(columns.values()))) if columns else 0
        lengths = [max(_length(kinds[name], column[k]) for name, column in columns.items()) for k in range(count)]
        order = sorted(range(count), key=lambda k: (lengths[k], k))
        return [order[start : start + BATCH_SIZE] for start in range(0, count, BATCH_SIZE)]

    def _tensors(self, entry: Mapping[str, Any], values: list[Any]) -> dict[str, np.ndarray]:
        name, kind = entry["name"], entry["kind"]
        if kind == "text":
            for value in values:
                if not isinstance(value, str):
                    raise InvalidSystemError(f"input {name!r} needs texts, got {type(value).__name__}")
            return self.tokenizers[name](values)
        arrays = [np.asarray(v, dtype=np.float32) for v in values]
        if kind == "vector":
            return {name: np.stack(arrays)}
        lengths = np.array([len(a) for a in arrays], dtype=np.int64)
        frames = max(int(lengths.max()), int(entry.get("min_frames", 0)))  # padding never changes a prediction
        padded = np.zeros((len(arrays), frames, *arrays[0].shape[1:]), dtype=np.float32)
        for row, array in enumerate(arrays):
            padded[row, : len(array)] = array
        return {name: padded, f"{name}.lengths": lengths}

    def _fuse(self, data: SystemData) -> np.ndarray:
        members = self.spec.members
        available = [m for m in members if m in data.members]
        if not available:
            raise InvalidSystemError(f"none of the members {list(members)} has predictions")
        if len(available) == 1:
            return np.asarray(data.members[available[0]].scores, dtype=np.float64)
        scores = np.zeros((len(data), len(members), len(self.outputs)), dtype=np.float32)
        present = np.zeros((len(data), len(members)), dtype=np.float32)
        for k, member in enumerate(members):
            if member in data.members:
                scores[:, k] = data.members[member].scores
                present[:, k] = 1.0
        (fused,) = self.session.run(["fused"], {"scores": scores, "present": present})
        return fused.astype(np.float64)


def _length(kind: str, value: Any) -> int:
    if kind == "text":
        return len(value)
    return 1 if kind == "vector" else int(np.shape(value)[0])


def load_onnx_system(directory: str | os.PathLike[str], *, spec: SystemSpec | None = None,
                     threads: int | None = None) -> System:
    """The exported system in ``directory`` (``spec`` replaces the saved one: a recogniser
    relocates front-end paths, say); a classic system is loaded as arrays, with numpy."""
    directory = pathlib.Path(directory)
    meta = read_meta(directory)
    spec = spec or read_spec(directory)
    if meta.get("kind") == "classic":
        from emofuse.systems.base import load_system

        return load_system(directory, spec=spec)
    return OnnxSystem(spec, directory, meta, threads=threads)
