"""Export a recogniser to ONNX (the directory layout is in :mod:`emofuse.inference.onnx`).

:func:`export_onnx` writes, for each system of a (PyTorch) recogniser:

- a neural system (a model with its standardisers, or a model fusion over members):
  ``model.onnx``, traced with ``torch.onnx.export`` with the batch and time axes dynamic;
  sequences are traced and padded to at least :data:`MIN_FRAMES` frames (padding never
  changes a prediction: ``tests/test_systems.py``); raw ``text`` inputs are tokenised outside the graph (``tokenizer.json``, the model's
  Hugging Face fast tokenizer) and enter it as token ids and attention mask;
- a score fusion (``late``: average, weighted, z-normalised, selection): a small graph of the
  fitted fusion over the members' stacked outputs and a mask of the members present;
- a classic (scikit-learn) system: its arrays, as they are (numpy predicts them).

Front-ends: numpy ones (log-Mel, openSMILE, pyAudioAnalysis, word vectors) stay as they are;
``text_embedding`` front-ends become ``onnx_text_embedding`` with the encoder exported to
``encoders/<name>/``. Front-ends and models that run torch speech encoders on audio (``ssl``,
``resemblyzer``, ``ssl_finetune``) and models that split raw text into words in Python
(``text_lstm`` on ``text``) are refused with a message that says so.

With the ``speaker`` extra, resemblyzer's speaker encoder is exported too
(``encoders/speaker/encoder.onnx``), so that timelines find speaker turns without torch.

After writing, the ONNX recogniser is loaded and every system's outputs are compared with the
PyTorch ones on the bundled example clips and texts; a difference above ``tolerance`` is an
error. The largest difference is recorded in ``config.json`` (``provenance.onnx``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pathlib
import shutil
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from emofuse.config import Component
from emofuse.files import atomic_write_text
from emofuse.files import library_versions
from emofuse.inference.directory import CONFIG_NAME
from emofuse.inference.directory import ENCODERS_DIR
from emofuse.inference.directory import SYSTEMS_DIR
from emofuse.inference.directory import RecognizerError
from emofuse.inference.recognizer import Recognizer
from emofuse.systems.base import SPEC_FILE
from emofuse.systems.base import System
from emofuse.systems.base import SystemSpec
from emofuse.systems.classic import ClassicSystem
from emofuse.systems.onnx import GRAPH_FILE
from emofuse.systems.onnx import META_FILE
from emofuse.systems.onnx import ONNX_FORMAT
from emofuse.systems.onnx import ONNX_FORMAT_VERSION
from emofuse.systems.onnx import OnnxSystem
from emofuse.systems.score_fusion import ScoreFusionSystem
from emofuse.text.onnx_embedding import ENCODER_FILE
from emofuse.text.onnx_embedding import ENCODER_FORMAT
from emofuse.text.onnx_embedding import ENCODER_FORMAT_VERSION
from emofuse.text.onnx_embedding import ENCODER_META
from emofuse.text.onnx_embedding import TOKENIZER_FILE
from emofuse.text.onnx_embedding import OnnxTextEmbeddingConfig

log = logging.getLogger(__name__)

OPSET = 17
#: Front-ends that run a torch model on audio: not exported.
TORCH_AUDIO_FRONTENDS = {"ssl", "resemblyzer"}
#: Sequences are traced (and padded at run time) to at least this many frames: shapes that a
#: model derives from the length (CNN14's pooling windows on short inputs) are fixed by the trace.
MIN_FRAMES = 256
PROBE_TEXTS = ("I can't believe you did that again, I am furious!", "What a lovely surprise, thank you so much.",
               "The meeting is at ten.", "I miss her every day.")


def export_onnx(recognizer: Recognizer, directory: str | os.PathLike[str], *, opset: int = OPSET,
                tolerance: float = 1e-3) -> pathlib.Path:
    """Write ``recognizer`` as an ONNX recogniser directory and check it against PyTorch
    (see the module docstring); returns the directory."""
    if any(isinstance(s, OnnxSystem) for s in recognizer.systems.values()):
        raise RecognizerError("this recogniser is already an ONNX export")
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(directory / SYSTEMS_DIR, ignore_errors=True)
    features = _export_features(recognizer, directory, opset=opset)
    for name in recognizer.config.systems:
        system = recognizer.systems[name]
        spec = dataclasses.replace(system.spec, features={k: features[k] for k in system.spec.features})
        _export_system(system, spec, directory / SYSTEMS_DIR / name, opset=opset)
    speaker = _export_speaker_encoder(directory, opset=opset)
    provenance = {**recognizer.config.provenance, "onnx": {"opset": opset, "format_version": ONNX_FORMAT_VERSION,
                                                           "speaker_encoder": speaker}}
    config = dataclasses.replace(recognizer.config, versions=library_versions() | _onnx_versions(), provenance=provenance)
    _write_config(directory, config)
    difference = _check(recognizer, directory)
    if difference > tolerance:
        raise RecognizerError(f"the ONNX export differs from PyTorch by {difference:.2e} (more than {tolerance:g}); "
                              f"{directory} is not usable")
    provenance["onnx"]["max_difference"] = float(f"{difference:.3g}")
    _write_config(directory, dataclasses.replace(config, provenance=provenance))
    log.info("exported %s to ONNX in %s (largest difference from PyTorch %.2e)", recognizer.config.name, directory,
             difference)
    return directory


def _onnx_versions() -> dict[str, str]:
    import importlib.metadata

    versions = {}
    for package in ("onnx", "onnxruntime", "tokenizers"):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _write_config(directory: pathlib.Path, config: Any) -> None:
    atomic_write_text(directory / CONFIG_NAME, json.dumps(config.to_dict(), indent=2, ensure_ascii=False) + "\n")


def _export(module: torch.nn.Module, arguments: tuple[torch.Tensor, ...], path: pathlib.Path, *,
            input_names: Sequence[str], output_names: Sequence[str], dynamic_axes: dict[str, dict[int, str]],
            opset: int) -> None:
    """``torch.onnx.export`` (the TorchScript-based exporter: dynamic axes without onnxscript)."""
    try:
        import onnx  # noqa: F401 (the exporter needs it)
    except ImportError:
        raise RecognizerError("ONNX export needs the onnx package: pip install 'emofuse[onnx]'") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    module.eval()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer and deprecation warnings
        torch.onnx.export(module, arguments, str(path), input_names=list(input_names), output_names=list(output_names),
                          dynamic_axes=dynamic_axes, opset_version=opset, dynamo=False, do_constant_folding=True)


# Front-ends ---------------------------------------------------------------------------------------

def _export_features(recognizer: Recognizer, directory: pathlib.Path, *, opset: int) -> dict[str, Component]:
    """Each front-end as the ONNX recogniser runs it (text encoders exported)."""
    result = {}
    for name, component in recognizer.features.items():
        if component.name in TORCH_AUDIO_FRONTENDS:
            raise RecognizerError(f"front-end {name!r} ({component.name}) runs a torch model on audio, which the ONNX "
                                  "export does not cover; export this recogniser in the PyTorch format")
        if component.name == "text_embedding":
            relative = f"{ENCODERS_DIR}/{name}"
            _export_text_encoder(component.config, directory / relative, opset=opset)
            config = component.config
            component = Component("onnx_text_embedding", OnnxTextEmbeddingConfig(
                model=relative, pooling=config.pooling, max_length=config.max_length, batch_size=config.batch_size))
        result[name] = component
    return result


def _tokenizer_settings(tokenizer: Any, max_length: int, accepted: Sequence[str]) -> dict[str, Any]:
    """How :class:`~emofuse.text.onnx_embedding.OnnxTokenizer` reproduces ``tokenizer``."""
    if not getattr(tokenizer, "is_fast", False):
        raise RecognizerError(f"{type(tokenizer).__name__} is not a fast (Rust) tokenizer; the ONNX export needs one "
                              "(tokenizer.json)")
    sample = tokenizer(["a"], padding=True, truncation=True, max_length=max_length)
    tensors = [key for key in ("input_ids", "attention_mask", "token_type_ids") if key in sample and key in accepted]
    return {"max_length": max_length, "padding_side": tokenizer.padding_side, "pad_id": int(tokenizer.pad_token_id or 0),
            "pad_token": tokenizer.pad_token or "[PAD]", "pad_type_id": int(getattr(tokenizer, "pad_token_type_id", 0)),
            "keys": tensors}


class _Encoder(torch.nn.Module):
    """A frozen LM as the ``text_embedding`` front-end uses it: token tensors -> pooled vectors."""

    def __init__(self, model: torch.nn.Module, tokenizer: Any, config: Any, keys: Sequence[str]) -> None:
        super().__init__()
        self.model, self.tokenizer, self.config, self.keys = model, tokenizer, config, list(keys)

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        from emofuse.text.lm import cls_positions
        from emofuse.text.lm import pool

        batch = dict(zip(self.keys, tensors, strict=True))
        hidden = self.model(**batch, output_hidden_states=True).hidden_states[self.config.layer]
        if self.config.pooling == "tokens":
            return hidden  # (batch, tokens, dim)
        pooled = pool(hidden, batch["attention_mask"], self.config.pooling,
                      cls_index=cls_positions(self.tokenizer, batch["input_ids"]))
        return torch.nn.functional.normalize(pooled, dim=-1) if self.config.normalize else pooled


def _export_text_encoder(config: Any, target: pathlib.Path, *, opset: int) -> None:
    from emofuse.text.lm import load_encoder

    tokenizer, model = load_encoder(config.model)
    settings = _tokenizer_settings(tokenizer, config.max_length, ("input_ids", "attention_mask", "token_type_ids"))
    keys = settings.pop("keys")
    names = {key: key for key in keys}
    sample = tokenizer(list(PROBE_TEXTS[:2]), padding=True, truncation=True, max_length=config.max_length,
                       return_tensors="pt")
    shutil.rmtree(target, ignore_errors=True)
    _export(_Encoder(model, tokenizer, config, keys), tuple(sample[k] for k in keys), target / ENCODER_FILE,
            input_names=keys, output_names=["embeddings"],
            dynamic_axes={**{k: {0: "batch", 1: "tokens"} for k in keys},
                          "embeddings": {0: "batch", 1: "tokens"} if config.pooling == "tokens" else {0: "batch"}},
            opset=opset)
    tokenizer.backend_tokenizer.save(str(target / TOKENIZER_FILE))
    meta = {"format": ENCODER_FORMAT, "format_version": ENCODER_FORMAT_VERSION, "source": str(config.model),
            "pooling": config.pooling, "layer": config.layer, "normalize": config.normalize, **settings, "tensors": names}
    atomic_write_text(target / ENCODER_META, json.dumps(meta, indent=2) + "\n")


def _export_speaker_encoder(directory: pathlib.Path, *, opset: int) -> bool:
    """resemblyzer's encoder as ``encoders/speaker/encoder.onnx`` (for speaker turns without
    torch), checked against torch; ``False`` without the ``speaker`` extra."""
    from emofuse.inference.speakers import ONNX_ENCODER
    from emofuse.inference.speakers import SpeakerEncoder
    from emofuse.inference.speakers import SpeakersUnavailable

    path = directory / ONNX_ENCODER
    shutil.rmtree(path.parent, ignore_errors=True)
    try:
        encoder = SpeakerEncoder()
    except SpeakersUnavailable as error:
        log.info("no speaker encoder in the ONNX export: %s", error)
        return False
    mels = torch.rand(2, 150, 40, generator=torch.Generator().manual_seed(0))
    _export(encoder.model, (mels,), path, input_names=["mels"], output_names=["embeddings"],
            dynamic_axes={"mels": {0: "batch", 1: "frames"}, "embeddings": {0: "batch"}}, opset=opset)
    probe = np.random.default_rng(0).random((3, 97, 40)).astype(np.float32)
    difference = float(np.max(np.abs(SpeakerEncoder(path)(probe) - encoder(probe))))
    if difference > 1e-4:
        raise RecognizerError(f"the ONNX speaker encoder differs from resemblyzer's by {difference:.2e}")
    return True


# Systems ------------------------------------------------------------------------------------------

def _write_meta(target: pathlib.Path, system: System, spec: SystemSpec, meta: dict[str, Any]) -> None:
    """``system.json`` (the spec with ONNX front-ends) and ``onnx.json``."""
    payload = {"format": "emofuse-system", "format_version": 1, "versions": library_versions() | _onnx_versions(),
               **spec.to_dict()}
    atomic_write_text(target / SPEC_FILE, json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    atomic_write_text(target / META_FILE, json.dumps({"format": ONNX_FORMAT, "format_version": ONNX_FORMAT_VERSION,
                                                      **meta}, indent=2, ensure_ascii=False) + "\n")


def _export_system(system: System, spec: SystemSpec, target: pathlib.Path, *, opset: int) -> None:
    target.mkdir(parents=True, exist_ok=True)
    if isinstance(system, ClassicSystem):
        original, system.spec = system.spec, spec
        try:
            system.save(target)
        finally:
            system.spec = original
        _write_meta(target, system, spec, {"kind": "classic"})
    elif isinstance(system, ScoreFusionSystem):
        _export_fusion(system, target, opset=opset)
        _write_meta(target, system, spec, {"kind": "score_fusion", "opset": opset, "inputs": [],
                                           "tensors": {"scores": "(batch, members, outputs)", "present": "(batch, members)",
                                                       "fused": "(batch, outputs)"}})
    else:
        inputs = _export_model(system, target, opset=opset)
        _write_meta(target, system, spec, {"kind": "model", "opset": opset, "inputs": inputs, "output": "scores"})


class _Pretokenized:
    """Stands in for a model's tokenizer while it is traced: returns the graph's token tensors."""

    def __init__(self, tokenizer: Any) -> None:
        self.cls_token_id = getattr(tokenizer, "cls_token_id", None)
        self.tensors: dict[str, torch.Tensor] = {}

    def __call__(self, texts: Sequence[str], **kwargs: Any) -> dict[str, torch.Tensor]:
        return dict(self.tensors)


class _Flat(torch.nn.Module):
    """A :class:`SystemModel` taking flat tensors (values, lengths, token tensors per input)."""

    def __init__(self, module: torch.nn.Module, layout: Sequence[tuple[str, str, list[str]]],
                 stubs: dict[str, _Pretokenized]) -> None:
        super().__init__()
        self.module, self.layout, self.stubs = module, list(layout), stubs

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        inputs: list[Any] = []
        position = 0
        for name, kind, names in self.layout:
            values = tensors[position : position + len(names)]
            position += len(names)
            if kind == "vector":
                inputs.append((values[0], None))
            elif kind == "text":  # the model's tokenizer returns these tensors
                self.stubs[name].tensors = {n[len(name) + 1 :]: v for n, v in zip(names, values, strict=True)}
                inputs.append((["?"] * int(values[0].shape[0]), None))
            else:
                inputs.append((values[0], values[1]))
        return self.module(inputs)


def _text_owner(module: torch.nn.Module, name: str) -> torch.nn.Module:
    """The one submodule that tokenises the raw text input ``name`` (an ``lm_classifier``)."""
    owners = [m for m in module.modules() if hasattr(m, "tokenizer") and hasattr(m.tokenizer, "is_fast")]
    if len(owners) != 1:
        raise RecognizerError(f"input {name!r}: the ONNX export needs exactly one model with a Hugging Face tokenizer "
                              f"reading raw text, found {len(owners)} (a model that splits words in Python, text_lstm "
                              "on raw text, cannot be exported)")
    return owners[0]


def _export_model(system: System, target: pathlib.Path, *, opset: int) -> list[dict[str, Any]]:
    """Trace a neural system's module; returns ``onnx.json``'s ``inputs``."""
    module = getattr(system, "module", None)
    if not isinstance(module, torch.nn.Module):
        raise RecognizerError(f"{type(system).__name__} cannot be exported to ONNX")
    generator = torch.Generator().manual_seed(0)
    layout: list[tuple[str, str, list[str]]] = []
    arguments: list[torch.Tensor] = []
    axes: dict[str, dict[int, str]] = {}
    entries: list[dict[str, Any]] = []
    stubs: dict[str, _Pretokenized] = {}
    owners: list[tuple[torch.nn.Module, Any]] = []
    for spec in system.spec.inputs:
        name = spec.name
        entry: dict[str, Any] = {"name": name, "kind": spec.kind, "dim": spec.dim}
        if spec.kind == "vector":
            names = [name]
            arguments.append(torch.randn(3, spec.dim, generator=generator))
            axes[name] = {0: "batch"}
        elif spec.kind == "text":
            owner = _text_owner(module, name)
            tokenizer = owner.tokenizer
            max_length = int(getattr(getattr(owner, "config", None), "max_length", 512))
            settings = _tokenizer_settings(tokenizer, max_length, ("input_ids", "attention_mask", "token_type_ids"))
            keys = settings.pop("keys")
            names = [f"{name}.{k}" for k in keys]
            sample = tokenizer(list(PROBE_TEXTS[:3]), padding=True, truncation=True, max_length=max_length,
                               return_tensors="pt")
            arguments += [sample[k] for k in keys]
            axes.update({n: {0: "batch", 1: f"{name}_tokens"} for n in names})
            file = f"tokenizer.{name}.json"
            tokenizer.backend_tokenizer.save(str(target / file))
            entry["tokenizer"] = {"file": file, **settings, "tensors": dict(zip(keys, names, strict=True))}
            stubs[name] = _Pretokenized(tokenizer)
            owners.append((owner, tokenizer))
        elif spec.kind == "waveform":
            raise RecognizerError(f"model {system.spec.model.name if system.spec.model else '?'!r} reads the raw "
                                  "waveform with a torch speech encoder, which the ONNX export does not cover; export "
                                  "this recogniser in the PyTorch format")
        else:  # a sequence: zero-padded values and lengths
            names = [name, f"{name}.lengths"]
            entry["min_frames"] = frames = MIN_FRAMES
            arguments += [torch.randn(3, frames, spec.dim, generator=generator),
                          torch.tensor([frames, frames - 7, frames // 2])]
            axes[name] = {0: "batch", 1: f"{name}_frames"}
            axes[f"{name}.lengths"] = {0: "batch"}
        entry["tensors"] = names
        layout.append((name, spec.kind, names))
        entries.append(entry)
    for (owner, _), stub in zip(owners, stubs.values(), strict=True):
        owner.tokenizer = stub
    try:
        _export(_Flat(module, layout, stubs), tuple(arguments), target / GRAPH_FILE,
                input_names=[n for _, _, names in layout for n in names], output_names=["scores"],
                dynamic_axes={**axes, "scores": {0: "batch"}}, opset=opset)
    except RecognizerError:
        raise
    except Exception as error:  # noqa: BLE001 - tracing fails in many ways; name the model
        raise RecognizerError(f"model {system.spec.model.name if system.spec.model else '?'!r} could not be exported "
                              f"to ONNX: {type(error).__name__}: {error}") from None
    finally:
        for owner, tokenizer in owners:
            owner.tokenizer = tokenizer
    return entries


class _LateFusionGraph(torch.nn.Module):
    """A fitted :class:`~emofuse.fusion.late.LateFusion` over stacked member outputs, with the
    members present per item (weights renormalised over them, as ``restrict`` does)."""

    def __init__(self, fusion: Any, members: int) -> None:
        super().__init__()
        self.method, self.task_type = fusion.config.method, fusion.task_type
        weights = fusion.weights if fusion.weights is not None else tuple(1.0 / members for _ in range(members))
        statistics = fusion.statistics if fusion.statistics is not None else [(0.0, 1.0)] * members
        self.register_buffer("weights", torch.tensor(weights, dtype=torch.float32))
        self.register_buffer("mean", torch.tensor([m for m, _ in statistics], dtype=torch.float32))
        self.register_buffer("std", torch.tensor([s for _, s in statistics], dtype=torch.float32))

    def forward(self, scores: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        # scores (batch, members, outputs), present (batch, members) -> (batch, outputs)
        uniform = present / present.sum(dim=1, keepdim=True).clamp(min=1.0)
        if self.method in {"average", "znorm"}:
            weights = uniform
        else:
            weighted = self.weights[None, :] * present
            total = weighted.sum(dim=1, keepdim=True)
            weights = torch.where(total > 0, weighted / total.clamp(min=1e-30), uniform)
        if self.method == "select" or self.task_type == "dimensional" or self.method == "average":
            return (weights.unsqueeze(-1) * scores).sum(dim=1)
        logs = torch.log_softmax(torch.log(scores.clamp(min=1e-12)), dim=-1)
        if self.method == "znorm":
            logs = (logs - self.mean[None, :, None]) / self.std[None, :, None]
        return torch.softmax((weights.unsqueeze(-1) * logs).sum(dim=1), dim=-1)


def _export_fusion(system: ScoreFusionSystem, target: pathlib.Path, *, opset: int) -> None:
    from emofuse.fusion.late import LateFusion

    if not isinstance(system.fusion, LateFusion):
        raise RecognizerError(f"score fusion {system.spec.fusion.name if system.spec.fusion else '?'!r} cannot be "
                              "exported to ONNX (late fusion can)")
    members = len(system.spec.members)
    outputs = len(system.outputs)
    scores = torch.softmax(torch.randn(2, members, outputs), dim=-1)
    _export(_LateFusionGraph(system.fusion, members), (scores, torch.ones(2, members)), target / GRAPH_FILE,
            input_names=["scores", "present"], output_names=["fused"],
            dynamic_axes={"scores": {0: "batch"}, "present": {0: "batch"}, "fused": {0: "batch"}}, opset=opset)


# The check ---------------------------------------------------------------------------------------

def _check(recognizer: Recognizer, directory: pathlib.Path) -> float:
    """The largest difference between every system's outputs under PyTorch and ONNX on the
    bundled example clips and a few texts (each alone and in one batch)."""
    from emofuse.inference.batch import examples_directory

    exported = Recognizer.from_pretrained(directory, asr="none", speech_check=False)
    run = exported.system_outputs

    def checked(signals: list[np.ndarray | None], texts: list[str | None]) -> dict[str, list[np.ndarray | None]]:
        try:
            return run(signals, texts)
        except Exception as error:  # noqa: BLE001 - onnxruntime's errors have their own types
            raise RecognizerError(f"the ONNX export fails when run: {type(error).__name__}: {error}") from None

    clips = sorted(c for c in examples_directory().glob("*.wav") if c.stem != "dialogue")  # the short clips
    signals: list[np.ndarray | None] = [recognizer.load_audio(c) for c in clips]
    texts: list[str | None] = [PROBE_TEXTS[k % len(PROBE_TEXTS)] for k in range(len(signals))]
    signals += [None, signals[0]]
    texts += [PROBE_TEXTS[0], None]
    everything = list(range(len(signals)))
    difference = 0.0
    for batch in [[k] for k in everything] + [everything]:  # each item alone, then all in one batch
        chosen_signals = [signals[k] for k in batch]
        chosen_texts = [texts[k] for k in batch]
        before = recognizer.system_outputs(chosen_signals, chosen_texts)
        after = checked(chosen_signals, chosen_texts)
        for name, rows in before.items():
            for old, new in zip(rows, after[name], strict=True):
                if (old is None) != (new is None):
                    raise RecognizerError(f"system {name!r}: the ONNX export answers other items than PyTorch")
                if old is not None:
                    difference = max(difference, float(np.max(np.abs(np.asarray(old) - np.asarray(new)))))
    return difference
