"""Helpers the text benchmarks share: fixed splits, one runner call per system, scoring texts.

Each benchmark trains through the toolkit's own runner (``official_splits`` on a
``benchmark_split`` metadata key: ``train``, ``validation`` for model selection, ``dev`` for the
held-out figures), so a trained system is a run's fold directory (a saved System:
``system.json`` + ``model.safetensors``) that :func:`predict_texts` loads and applies to any
texts, whether it reads the raw text or frozen sentence embeddings.
"""

from __future__ import annotations

import logging
import pathlib
import random
from collections.abc import Sequence
from typing import Any

import numpy as np

from emofuse.data.manifest import Manifest
from emofuse.data.protocols import split_dev

log = logging.getLogger(__name__)

SPLIT_KEY = "benchmark_split"


def stratified_sample(manifest: Manifest, size: int | None, *, seed: int) -> Manifest:
    """At most ``size`` utterances, stratified by label (all of them for ``None``)."""
    if size is None or size >= len(manifest):
        return manifest
    _, kept = split_dev(list(manifest), fraction=size / len(manifest), seed=seed)
    return manifest.subset(kept)


def with_splits(parts: dict[str, Manifest]) -> Manifest:
    """One manifest with ``benchmark_split`` metadata naming each utterance's part."""
    utterances = []
    for name, part in parts.items():
        utterances += [u.replace(metadata={**u.metadata, SPLIT_KEY: name}) for u in part]
    return Manifest(utterances)


def three_way(manifest: Manifest, *, dev_fraction: float, validation_size: int, train_size: int | None,
              seed: int = 0) -> Manifest:
    """``dev`` (held out, reported), ``validation`` (model selection) and ``train`` (optionally
    a stratified subset), all stratified by label and fixed by ``seed``."""
    rest, dev = split_dev(list(manifest), fraction=dev_fraction, seed=seed)
    rest_manifest = manifest.subset(rest)
    train, validation = split_dev(list(rest_manifest), fraction=validation_size / len(rest_manifest), seed=seed + 1)
    train_manifest = stratified_sample(rest_manifest.subset(train), train_size, seed=seed + 2)
    return with_splits({"train": train_manifest, "validation": manifest.subset(validation), "dev": manifest.subset(dev)})


def experiment(name: str, manifest_path: pathlib.Path, systems: dict[str, Any], *, task: dict | None = None,
               features: dict | None = None, cache_dir: pathlib.Path | None = None, seeds: Sequence[int] = (0,)) -> Any:
    from emofuse.experiment import load_experiment

    return load_experiment({
        "name": name,
        "seeds": list(seeds),
        "data": {"manifest": str(manifest_path)},
        "task": task or {"type": "categorical"},
        "protocol": {"name": "official_splits", "key": SPLIT_KEY, "train": "train", "dev": "validation", "test": ["dev"]},
        "features": features or {},
        "extraction": {"cache_dir": str(cache_dir) if cache_dir else None},
        "systems": systems,
    })


def frozen_and_fine_tuned(*, max_length: int, learning_rate: float, epochs: int, frozen_epochs: int,
                          frozen_patience: int) -> dict[str, Any]:
    """The two text systems the benchmarks compare: an MLP head on frozen MiniLM sentence
    embeddings (feature ``minilm``) and the fine-tuned MiniLM (``lm_classifier``)."""
    return {
        "frozen": {"inputs": ["minilm"], "model": {"name": "mlp", "hidden_sizes": [256], "dropout": 0.2},
                   "training": {"optimizer": "adam", "learning_rate": 1e-3, "batch_size": 64, "max_epochs": frozen_epochs,
                                "selection": "best_dev", "early_stopping_patience": frozen_patience}},
        "fine_tuned": {
            "inputs": ["text"],
            "model": {"name": "lm_classifier", "max_length": max_length, "pooling": "mean"},
            "training": {"optimizer": "adamw", "learning_rate": learning_rate, "weight_decay": 0.01,
                         "scheduler": "linear_warmup", "batch_size": 32, "max_epochs": epochs,
                         "selection": "best_dev"},
        },
    }


def fold_directory(run: pathlib.Path, system: str, *, seed: int = 0) -> pathlib.Path:
    return run / "systems" / system / f"seed_{seed}" / "dev"


def test_scores(run: pathlib.Path, system: str) -> dict[str, float]:
    from emofuse.rundir import RunDirectory

    (fold,) = RunDirectory(run).finished(system, 0)
    return fold.metrics()["test"]


def predict_texts(model_directory: str | pathlib.Path, texts: Sequence[str], *, batch_size: int = 64) -> tuple[np.ndarray, list[str]]:
    """Scores of a fold's saved text system on ``texts``: ``(n, outputs)`` and the output names
    (its front-ends, if any, computed as the run computed them)."""
    from emofuse.inference.directory import RecognizerConfig
    from emofuse.inference.recognizer import Recognizer
    from emofuse.systems import load_system

    system = load_system(model_directory)
    recognizer = Recognizer(RecognizerConfig(name="text", heads={system.spec.task_type: "system"}, systems=("system",),
                                             asr="none"), {"system": system})
    if recognizer.reads_audio:
        raise ValueError(f"{model_directory}: the system also reads audio")
    outputs = [recognizer.system_outputs([None] * len(texts[start : start + batch_size]),
                                         list(texts[start : start + batch_size]))["system"]
               for start in range(0, len(texts), batch_size)]
    return np.array([row for part in outputs for row in part]), list(system.outputs)


def seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
