"""Text embeddings from a language model exported to ONNX: the ``tokenizers`` library and
onnxruntime, without torch or transformers.

An encoder directory (written by :func:`emofuse.inference.onnx_export.export_onnx` from a
``text_embedding`` front-end) holds::

    encoder.onnx     token ids (and attention mask, token types) -> pooled vectors (batch, dim)
                     or, for ``pooling: tokens``, token vectors (batch, tokens, dim)
    tokenizer.json   the Hugging Face fast tokenizer, as ``tokenizers`` reads it
    encoder.json     format and version, pooling, max_length, padding side and id, the tensor names

:class:`OnnxTokenizer` pads and truncates exactly as the transformers tokenizer did at training
time (``padding=True, truncation=True, max_length``); it also tokenises the raw ``text`` input
of exported ``lm_classifier`` systems.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import pathlib
import threading
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import Literal

import numpy as np

from emofuse.features import FeatureError
from emofuse.features import FeatureExtractor
from emofuse.registry import builds

ENCODER_FORMAT = "emofuse-onnx-encoder"
ENCODER_FORMAT_VERSION = 1
ENCODER_FILE = "encoder.onnx"
TOKENIZER_FILE = "tokenizer.json"
ENCODER_META = "encoder.json"


@dataclasses.dataclass(frozen=True)
class OnnxTextEmbeddingConfig:
    """``model``: an encoder directory (see the module docstring); ``pooling`` and
    ``max_length`` must be those it was exported with (they are checked)."""

    model: str
    pooling: Literal["mean", "cls", "tokens"] = "mean"
    max_length: int = 128
    batch_size: int = 32


class OnnxTokenizer:
    """A ``tokenizers`` tokenizer that pads and truncates like ``tokenizer(texts, padding=True,
    truncation=True, max_length=...)`` and returns int64 arrays named as the graph's inputs."""

    def __init__(self, path: pathlib.Path, settings: Mapping[str, Any]) -> None:
        from tokenizers import Tokenizer

        try:
            self.tokenizer = Tokenizer.from_file(str(path))
        except Exception as error:  # noqa: BLE001 - tokenizers raises bare Exceptions
            raise FeatureError(f"{path}: cannot read the tokenizer: {error}") from None
        self.tokenizer.enable_truncation(max_length=int(settings["max_length"]))
        self.tokenizer.enable_padding(direction=settings.get("padding_side", "right"), pad_id=int(settings["pad_id"]),
                                      pad_token=settings["pad_token"], pad_type_id=int(settings.get("pad_type_id", 0)))
        self.names: dict[str, str] = dict(settings["tensors"])  # input_ids / attention_mask / token_type_ids -> graph name
        self._lock = threading.Lock()  # a tokenizer's padding state is not safe across threads

    def __call__(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        with self._lock:
            encodings = self.tokenizer.encode_batch(list(texts))
        fields = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}
        return {graph: np.array([getattr(e, fields[key]) for e in encodings], dtype=np.int64)
                for key, graph in self.names.items()}


def onnx_session(path: pathlib.Path, *, threads: int | None = None):  # noqa: ANN201 (an InferenceSession)
    """An onnxruntime CPU session of ``path`` (``threads``: intra-op threads, default 1)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads or 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return onnxruntime.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as error:  # noqa: BLE001 - onnxruntime raises its own exception types
        raise FeatureError(f"{path}: onnxruntime cannot load it: {error}") from None


def read_encoder_meta(directory: pathlib.Path) -> dict[str, Any]:
    """``encoder.json`` of an encoder directory, checked; errors name the missing file or version."""
    for name in (ENCODER_META, ENCODER_FILE, TOKENIZER_FILE):
        if not (directory / name).is_file():
            raise FeatureError(f"{directory}: missing {name} (an incomplete or older ONNX export: export it again)")
    meta = json.loads((directory / ENCODER_META).read_text(encoding="utf-8"))
    if meta.get("format") != ENCODER_FORMAT:
        raise FeatureError(f"{directory / ENCODER_META} does not describe an {ENCODER_FORMAT}")
    version = meta.get("format_version")
    if version != ENCODER_FORMAT_VERSION:
        raise FeatureError(f"{directory / ENCODER_META}: format_version {version}; this emofuse reads "
                           f"{ENCODER_FORMAT_VERSION} (export it again with this emofuse)")
    return meta


@functools.lru_cache(maxsize=4)
def load_onnx_encoder(directory: str) -> tuple[OnnxTokenizer, Any, dict[str, Any]]:
    """Tokenizer, session and settings of an encoder directory, cached per process."""
    path = pathlib.Path(directory)
    meta = read_encoder_meta(path)
    return OnnxTokenizer(path / TOKENIZER_FILE, meta), onnx_session(path / ENCODER_FILE), meta


@builds(OnnxTextEmbeddingConfig)
class OnnxTextEmbedding(FeatureExtractor):
    """Frozen LM embeddings run by onnxruntime: ``(dim,)`` per text, or ``(tokens, dim)``."""

    modality = "text"
    parallel = False

    def __init__(self, config: OnnxTextEmbeddingConfig) -> None:
        super().__init__(config)
        read_encoder_meta(pathlib.Path(config.model))  # a missing file or an older export fails here, not later

    def extract_texts(self, texts: Sequence[str]) -> list[np.ndarray]:
        tokenizer, session, meta = load_onnx_encoder(self.config.model)
        if meta["pooling"] != self.config.pooling or int(meta["max_length"]) != self.config.max_length:
            raise FeatureError(f"{self.config.model}: exported with pooling {meta['pooling']!r} and max_length "
                               f"{meta['max_length']}, configured with {self.config.pooling!r} and {self.config.max_length}")
        results: list[np.ndarray] = []
        for start in range(0, len(texts), self.config.batch_size):
            batch = tokenizer(texts[start : start + self.config.batch_size])
            (output,) = session.run(None, batch)
            if self.config.pooling == "tokens":
                mask = batch[tokenizer.names["attention_mask"]].astype(bool)
                results += [output[i][mask[i]].astype(np.float32) for i in range(len(output))]
            else:
                results += list(output.astype(np.float32))
        return results
