"""Extraction into a sharded feature store on Lightning's ``Trainer.predict``.

One process per device (GPUs, or CPU processes), on one machine or several (DDP through
Lightning's launchers and cluster environments: SLURM, torchrun, ...). Every process plans
the same way: the store's index (:mod:`emofuse.store`) fixes which utterances go into which
shard, and the shards still missing are dealt out round-robin, ``missing[rank::world_size]``.
A process reads its shards' audio (or texts) with a ``DataLoader`` (``num_workers`` decoding
processes), computes ``batch_size`` utterances per ``predict_step`` on its device, and a
``BasePredictionWriter`` appends each step to the shard's partial file and moves the shard
into place when its last step is written. Nothing is gathered across processes, so the
processes only meet at start and end, and the shards do not depend on how many there were.

This module and :mod:`emofuse.training.lightning` are the ones that import Lightning.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from torch.utils.data import DataLoader
from torch.utils.data import Dataset

from emofuse.data.manifest import Manifest
from emofuse.data.manifest import Utterance
from emofuse.experiment import ExperimentConfig
from emofuse.experiment import StoreConfig
from emofuse.features import FeatureError
from emofuse.features import FeatureExtractor
from emofuse.features import FeatureTable
from emofuse.features import audio_key
from emofuse.features import check_finite
from emofuse.features import text_key
from emofuse.store import FeatureStore
from emofuse.store import ShardWriter
from emofuse.training.lightning import ReleaseProcessGroup
from emofuse.training.lightning import quiet_lightning

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Item:
    """One utterance to extract: its id and store key, and its utterance (audio) or text."""

    id: str
    key: str
    source: Utterance | str


@dataclasses.dataclass(frozen=True)
class ShardWork:
    """A shard to write: its number and its items, in row order."""

    shard: int
    items: tuple[Item, ...]


def store_items(extractor: FeatureExtractor, manifest: Manifest, *, transcript: str = "reference") -> tuple[list[Item], dict[str, str]]:
    """The items of ``manifest`` for ``extractor`` (keyed as in the cache), and the ids that
    have nothing to extract from (no transcript), with why."""
    items, failures = [], {}
    for utterance in manifest:
        if extractor.modality == "audio":
            items.append(Item(utterance.id, audio_key(utterance), utterance))
            continue
        text = utterance.transcript(transcript)  # type: ignore[arg-type]
        if text is None or not text.strip():
            failures[utterance.id] = f"utterance {utterance.id} has no {transcript} transcript"
        else:
            items.append(Item(utterance.id, text_key(text), text))
    return items, failures


class ChunkDataset(Dataset):
    """Steps of a process's shards: up to ``batch_size`` items of one shard each, with their
    audio decoded (in DataLoader workers) or their texts; reading errors travel as messages."""

    def __init__(self, work: Sequence[ShardWork], *, batch_size: int, sampling_rate: int, max_duration: float | None) -> None:
        self.chunks = [(w, start) for w in work for start in range(0, len(w.items), batch_size)]
        if not self.chunks:  # more processes than missing shards: one empty step (Lightning refuses empty loaders)
            self.chunks = [(ShardWork(-1, ()), 0)]
        self.batch_size = batch_size
        self.sampling_rate = sampling_rate
        self.max_duration = max_duration

    def __len__(self) -> int:
        return len(self.chunks)

    def __getitem__(self, index: int) -> dict[str, Any]:
        from emofuse.audio.io import AudioError
        from emofuse.audio.io import read_utterance

        work, start = self.chunks[index]
        items = work.items[start : start + self.batch_size]
        inputs: list[Any] = []
        errors: list[str | None] = []
        for item in items:
            if isinstance(item.source, str):
                inputs.append(item.source)
                errors.append(None)
                continue
            try:
                signal = read_utterance(item.source, sampling_rate=self.sampling_rate)
                if self.max_duration is not None:
                    signal = signal[: int(self.max_duration * self.sampling_rate)]
                inputs.append(signal)
                errors.append(None)
            except AudioError as error:
                inputs.append(None)
                errors.append(str(error))
        return {"shard": work.shard, "last": start + self.batch_size >= len(work.items),
                "ids": [i.id for i in items], "keys": [i.key for i in items], "inputs": inputs, "errors": errors}


def _same(batch: Any) -> Any:
    return batch


class ExtractionModule(L.LightningModule):
    """Runs a front-end in ``predict_step``; each process reads the shards ``work[rank::world]``."""

    def __init__(self, extractor: FeatureExtractor, work: Sequence[ShardWork], *, batch_size: int, num_workers: int) -> None:
        super().__init__()
        self.extractor = extractor
        self.work = list(work)
        self.batch_size = batch_size
        self.num_workers = num_workers

    def predict_dataloader(self) -> DataLoader:
        mine = self.work[self.trainer.global_rank :: self.trainer.world_size]
        dataset = ChunkDataset(mine, batch_size=self.batch_size, sampling_rate=self.extractor.sampling_rate,
                               max_duration=self.extractor.max_duration)
        return DataLoader(dataset, batch_size=None, shuffle=False, num_workers=self.num_workers, collate_fn=_same)

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        return batch  # numpy signals and texts: the front-end moves what it computes on

    def on_predict_start(self) -> None:
        self.extractor.to(self.device)
        self._limits = None
        if self.device.type == "cpu":  # BLAS and OpenMP as many threads as Lightning gave torch (cores / processes)
            from threadpoolctl import threadpool_limits

            self._limits = threadpool_limits(limits=torch.get_num_threads())

    def on_predict_end(self) -> None:
        if self._limits is not None:
            self._limits.restore_original_limits()

    def predict_step(self, batch: dict[str, Any], batch_idx: int) -> dict[str, Any]:
        errors = list(batch["errors"])
        arrays: list[Any] = [None] * len(errors)
        good = [k for k, e in enumerate(errors) if e is None]
        if self.extractor.modality == "text":
            try:
                results = self.extractor.extract_texts([batch["inputs"][k] for k in good])
                for k, array in zip(good, results, strict=True):
                    arrays[k] = check_finite(array, f"text {batch['inputs'][k][:40]!r}")
            except FeatureError as error:
                for k in good:
                    errors[k] = str(error)
        else:
            for k in good:
                try:
                    array = self.extractor.extract(batch["inputs"][k], self.extractor.sampling_rate)
                    arrays[k] = check_finite(array, batch["ids"][k])
                except FeatureError as error:
                    errors[k] = str(error)
        return {**{k: batch[k] for k in ("shard", "last", "ids", "keys")}, "arrays": arrays, "errors": errors}


class ShardWriterCallback(BasePredictionWriter):
    """Appends every step to its shard's partial file; the last step of a shard commits it."""

    def __init__(self, store: FeatureStore) -> None:
        super().__init__(write_interval="batch")
        self.store = store
        self.open: ShardWriter | None = None

    def write_on_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, prediction: Any,
                           batch_indices: Sequence[int] | None, batch: Any, batch_idx: int, dataloader_idx: int = 0) -> None:
        if prediction["shard"] < 0:  # the empty step of a process without shards
            return
        if self.open is None or self.open.shard != prediction["shard"]:
            if self.open is not None:
                self.open.abort()
            self.open = self.store.writer(prediction["shard"])
        self.open.write(prediction["ids"], prediction["keys"], prediction["arrays"], prediction["errors"])
        if prediction["last"]:
            self.open.commit()
            self.open = None

    def on_predict_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.open is not None:  # the loader ended inside a shard: leave no partial file
            self.open.abort()
            self.open = None
        trainer.strategy.barrier("emofuse-extraction")


def extract_to_store(extractor: FeatureExtractor, manifest: Manifest, store: StoreConfig, *,
                     transcript: str = "reference", progress: bool = False) -> FeatureTable:
    """Features of every utterance in ``manifest``, extracted into the sharded store
    ``store.path`` where missing (see the module docstring) and read back from it.

    Utterances that could not be extracted are left out and named in ``failures``.
    """
    feature_store = FeatureStore(store.path, extractor.name, extractor.component, dtype=store.dtype,
                                 shard_size=store.shard_size)
    items, failures = store_items(extractor, manifest, transcript=transcript)
    entries = [(i.id, i.key) for i in items]
    shards = feature_store.plan(entries)
    missing = feature_store.missing(shards)
    if missing:
        index = feature_store.index()
        by_entry = {(i.id, i.key): i for i in items}
        work = [ShardWork(s, tuple(by_entry[e] for e in index.members(s))) for s in missing]
        for shard in missing:
            feature_store.remove_partial(shard)
        log.info("%s: extracting %d of %d shards into %s", extractor.name, len(missing), len(shards), feature_store.directory)
        run_predict(extractor, work, feature_store, store, progress=progress)
    table, errors = feature_store.table(entries)
    failures.update(errors)
    return FeatureTable(extractor.name, table, failures)


def run_predict(extractor: FeatureExtractor, work: Sequence[ShardWork], feature_store: FeatureStore, store: StoreConfig,
                *, progress: bool = False) -> None:
    """Write the shards of ``work`` with ``Trainer.predict`` on the devices of ``store``."""
    module = ExtractionModule(extractor, work, batch_size=store.batch_size, num_workers=store.num_workers)
    with quiet_lightning():
        trainer = L.Trainer(accelerator=store.accelerator, devices=store.devices, num_nodes=store.num_nodes,
                            strategy=store.strategy, precision=store.precision, callbacks=[ShardWriterCallback(feature_store), ReleaseProcessGroup()],
                            logger=False, enable_checkpointing=False, enable_model_summary=False,
                            enable_progress_bar=progress, use_distributed_sampler=False,
                            default_root_dir=feature_store.directory)
        trainer.predict(module, return_predictions=False)


@dataclasses.dataclass(frozen=True)
class StoreReport:
    """What one front-end's store holds after :func:`extract_experiment`."""

    input: str
    directory: str
    utterances: int
    shards: int
    bytes: int
    failures: dict[str, str]


def extract_experiment(config: ExperimentConfig, store: StoreConfig, *, inputs: Sequence[str] | None = None,
                       progress: bool = False) -> list[StoreReport]:
    """Extract the front-ends that ``config``'s systems read (or only ``inputs``) for its corpus
    and its ``evaluate_on`` corpora into ``store``: what ``emofuse run`` with
    ``extraction.store`` reads, computed beforehand on as many devices as ``store`` names."""
    from emofuse.components import RAW_INPUTS
    from emofuse.features import build_extractor
    from emofuse.training.inputs import load_manifest

    needed = sorted({i for name in config.systems for i in config.system_inputs(name)} - set(RAW_INPUTS))
    if inputs:
        unknown = [i for i in inputs if i not in config.features]
        if unknown:
            raise ValueError(f"unknown front-ends {unknown}; the experiment defines {sorted(config.features)}")
        needed = list(inputs)
    corpora = [config.data, *config.evaluate_on.values()]
    manifests = [load_manifest(data, config.task, cache_dir=config.extraction.cache_dir, progress=progress)[0] for data in corpora]
    reports = []
    for name in needed:
        extractor = build_extractor(config.features[name])
        failures: dict[str, str] = {}
        for data, manifest in zip(corpora, manifests, strict=True):
            table = extract_to_store(extractor, manifest, store, transcript=data.text_field, progress=progress)
            failures.update(table.failures)
        feature_store = FeatureStore(store.path, extractor.name, extractor.component, dtype=store.dtype,
                                     shard_size=store.shard_size)
        files = feature_store.shard_files()
        reports.append(StoreReport(name, str(feature_store.directory), len(feature_store.index()), len(files),
                                   sum(f.stat().st_size for f in files), failures))
    return reports
