"""Runs an experiment: every system on every fold and seed, then the summary tables.

Output directory::

    config.yaml  manifest.csv  manifest_<name>.csv (evaluate_on corpora)  folds.json  validation.json
    skipped.csv (if any)
    systems/<system>/seed_<s>/<fold>/predictions.csv        dev and test outputs per utterance
                                   /predictions_<name>.csv  outputs on an ``evaluate_on`` corpus
                                   /metrics.json            test, dev and cross-corpus scores
                                   /model.safetensors  /model.json   (trained systems)
                                   /fusion.json             (score fusion: fitted weights)
    results/metrics.csv  results/predictions.csv  results/summary.json  results/summary.md
    results/cross_metrics.csv  (with ``evaluate_on``)

A finished fold writes ``done.json`` last; a re-run skips finished folds and resumes an
interrupted one from its last Lightning checkpoint. Independent folds can run in parallel
worker processes (``jobs``); multi-GPU / multi-node training goes through Lightning's DDP
(``training.strategy: ddp``), with only the primary process writing results.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import pathlib
import shutil
import warnings
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import lightning as L
import numpy as np
import pandas as pd
import torch
import yaml
from safetensors.torch import save_file
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

import emofuse
from emofuse.cache import atomic_write_text
from emofuse.config import config_hash
from emofuse.config import to_dict
from emofuse.data.corpora.base import CORPORA
from emofuse.data.labels import FOUR_CLASSES
from emofuse.data.labels import get_label_map
from emofuse.data.manifest import Manifest
from emofuse.data.protocols import Fold
from emofuse.data.protocols import make_folds
from emofuse.data.validation import validate_folds
from emofuse.evaluation.aggregate import pooled_summary
from emofuse.evaluation.aggregate import summarize
from emofuse.evaluation.aggregate import summary_markdown
from emofuse.experiment import RAW_INPUTS
from emofuse.experiment import DataConfig
from emofuse.experiment import ExperimentConfig
from emofuse.experiment import SystemConfig
from emofuse.experiment import TaskConfig
from emofuse.features import FeatureError
from emofuse.features import build_extractor
from emofuse.features import extract_features
from emofuse.fusion.base import SCORE_FUSIONS
from emofuse.models.base import MODELS
from emofuse.models.base import ClassicModel
from emofuse.models.base import InputSpec
from emofuse.models.serialization import ModelFileError
from emofuse.models.serialization import load_system_model
from emofuse.models.standardize import Standardizer
from emofuse.models.standardize import SystemModel
from emofuse.tasks import CategoricalTask
from emofuse.tasks import DimensionalTask
from emofuse.tasks import Task
from emofuse.training.data import BucketBatchSampler
from emofuse.training.data import Collator
from emofuse.training.data import UtteranceDataset
from emofuse.training.data import fit_rows
from emofuse.training.data import input_spec
from emofuse.training.data import speaker_standardize
from emofuse.training.module import EmotionModule

log = logging.getLogger(__name__)

MAIN = "main"


class RunError(RuntimeError):
    """An experiment that cannot run as configured."""


@dataclasses.dataclass
class RunResult:
    directory: pathlib.Path
    metrics: pd.DataFrame
    summary: pd.DataFrame


@dataclasses.dataclass
class Corpus:
    """A task-ready manifest and its input streams (input name -> utterance id -> value)."""

    name: str
    manifest: Manifest
    streams: dict[str, Mapping[str, Any]]
    modalities: dict[str, str]


def build_task(config: ExperimentConfig, manifest: Manifest, classes: Sequence[str] | None) -> Task:
    if config.task.type == "dimensional":
        return DimensionalTask(config.task.targets, loss=config.task.loss, weights=config.task.loss_weights)
    return CategoricalTask(classes or manifest.classes(), class_weighting=config.task.class_weighting)


def load_manifest(data: DataConfig, task: TaskConfig, *, cache_dir: str | None = None,
                  progress: bool = False) -> tuple[Manifest, list[str] | None]:
    """The utterances of ``data`` labelled for ``task`` with the transcripts it asks for, and the
    class order (categorical)."""
    if data.corpus is not None:
        manifest = CORPORA.build(data.corpus.name, data.corpus.config)
        default_map = getattr(data.corpus.config, "label_map", None)
    else:
        manifest = Manifest.load(data.manifest)  # type: ignore[arg-type]
        default_map = None
    label_map = data.label_map or default_map
    classes = None
    if task.type == "categorical":
        if label_map:
            mapping = get_label_map(label_map)
            manifest = manifest.with_label_map(mapping)
            classes = [c for c in mapping.classes if c in set(manifest.labels())]
        else:
            manifest = manifest.filter(lambda u: u.label is not None)
            present = set(manifest.labels())
            if present <= set(FOUR_CLASSES):  # the canonical order, for comparable tables
                classes = [c for c in FOUR_CLASSES if c in present]
    else:
        manifest = manifest.filter(lambda u: all(getattr(u, t) is not None for t in task.targets))
    if len(manifest) == 0:
        raise RunError("no utterances are left for this task after label mapping and filtering")
    if data.transcript == "simulated":
        from emofuse.text.noise import add_simulated_asr

        manifest = add_simulated_asr(manifest, wer=data.simulated_wer, seed=data.simulated_seed)
    elif data.transcript == "asr" and data.asr is not None:
        from emofuse.asr.transcribe import transcribe_manifest

        manifest = transcribe_manifest(manifest, asr=data.asr, cache_dir=cache_dir, on_error="skip", progress=progress)
    return manifest, classes


def is_primary_process() -> bool:
    """False in the secondary processes that Lightning's DDP launcher starts."""
    return int(os.environ.get("LOCAL_RANK", 0)) == 0 and int(os.environ.get("NODE_RANK", 0)) == 0


class Runner:
    """Runs ``config`` into ``directory`` (see the module docstring for the layout)."""

    def __init__(
        self,
        config: ExperimentConfig,
        directory: str | pathlib.Path,
        *,
        progress: bool = True,
        restart: bool = False,
        systems: Sequence[str] | None = None,
        jobs: int = 1,
    ) -> None:
        self.config = config
        self.directory = pathlib.Path(directory)
        self.progress = progress
        self.restart = restart
        self.jobs = jobs
        self.selected = list(systems) if systems else None
        self.primary = is_primary_process()
        if self.selected:
            unknown = [s for s in self.selected if s not in config.systems]
            if unknown:
                raise RunError(f"unknown systems {unknown}; defined: {list(config.systems)}")
        if jobs < 1:
            raise RunError(f"jobs must be at least 1, got {jobs}")
        self._state: tuple[Corpus, dict[str, Corpus], Task, list[Fold]] | None = None

    # Set-up -----------------------------------------------------------------------------
    def _prepare_directory(self) -> None:
        stored = self.directory / "config.yaml"
        current = to_dict(self.config)
        if stored.exists():
            previous = yaml.safe_load(stored.read_text())
            finished = any((self.directory / "systems").glob("*/*/*/done.json"))
            if previous != json.loads(json.dumps(current)) and not self.restart and finished:
                raise RunError(
                    f"{self.directory} holds a run of a different config; use another output directory "
                    "or --restart to discard it"
                )
        if self.restart and self.directory.exists() and self.primary:
            shutil.rmtree(self.directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.primary:
            atomic_write_text(stored, yaml.safe_dump(current, sort_keys=False, allow_unicode=True))

    def _systems(self) -> list[str]:
        order = self.config.system_order()
        if not self.selected:
            return order
        wanted: set[str] = set()

        def add(name: str) -> None:
            wanted.add(name)
            for member in self.config.systems[name].members:
                add(member)

        for name in self.selected:
            add(name)
        return [n for n in order if n in wanted]

    def _load_corpus(self, name: str, data: DataConfig, classes: Sequence[str] | None = None) -> tuple[Corpus, list[str] | None]:
        """Read a corpus for the task, extract its input streams and drop (or refuse) bad utterances."""
        manifest, found = load_manifest(data, self.config.task, cache_dir=self.config.extraction.cache_dir,
                                        progress=self.progress)
        if classes is not None:  # an evaluate_on corpus must use the main task's classes
            unknown = sorted(set(manifest.labels()) - set(classes))
            if unknown:
                raise RunError(f"evaluate_on {name!r}: classes {unknown} are not in the task's classes {list(classes)}; "
                               "use a label map onto the same classes")
        streams, modalities, failures = self._features(manifest, data)
        if failures:
            skipped = self.directory / ("skipped.csv" if name == MAIN else f"skipped_{name}.csv")
            if self.primary:
                pd.DataFrame({"id": list(failures), "reason": list(failures.values())}).to_csv(skipped, index=False)
            manifest = manifest.filter(lambda u: u.id not in failures)
            log.warning("%s: left out %d utterances without usable input (see %s)", name, len(failures), skipped.name)
        return Corpus(name, manifest, streams, modalities), found

    def _features(self, manifest: Manifest, data: DataConfig) -> tuple[dict[str, Mapping[str, Any]], dict[str, str], dict[str, str]]:
        """Feature streams (name -> id -> array or text), their modalities, and failures."""
        needed = {source for name in self._systems() for source in self.config.system_inputs(name)}
        extraction = self.config.extraction
        streams: dict[str, Mapping[str, Any]] = {}
        modalities: dict[str, str] = {}
        failures: dict[str, str] = {}
        for name in sorted(needed):
            if name in RAW_INPUTS:
                modalities[name] = RAW_INPUTS[name]
                if name == "text":
                    texts = {}
                    for u in manifest:
                        text = u.transcript(data.text_field)
                        if text is None or not text.strip():
                            failures[u.id] = f"utterance {u.id} has no {data.text_field} transcript"
                        else:
                            texts[u.id] = text
                    streams[name] = texts
                else:
                    from emofuse.audio.io import read_utterance

                    streams[name] = _LazyAudio(manifest, read_utterance)
                continue
            extractor = build_extractor(self.config.features[name])
            modalities[name] = extractor.modality
            try:
                table = extract_features(
                    extractor,
                    manifest,
                    cache_dir=extraction.cache_dir,
                    num_workers=extraction.num_workers,
                    on_error="skip",
                    transcript=data.text_field,  # type: ignore[arg-type]
                    progress=self.progress,
                )
            except FeatureError as error:
                raise RunError(str(error)) from None
            streams[name] = table.values
            for identifier, message in table.failures.items():
                failures.setdefault(identifier, f"{name}: {message}")
        if failures and extraction.on_error == "raise":
            listing = "\n".join(f"  {i}: {m}" for i, m in list(failures.items())[:20])
            more = f"\n  ... and {len(failures) - 20} more" if len(failures) > 20 else ""
            raise RunError(
                f"{len(failures)} utterances have no usable input:\n{listing}{more}\n"
                "Every good utterance's features are cached. Fix or remove these, or set "
                "extraction.on_error: skip to leave them out (they are then listed in skipped.csv)."
            )
        return streams, modalities, failures

    def _folds(self, manifest: Manifest) -> list[Fold]:
        folds = make_folds(self.config.protocol, manifest)
        report = validate_folds(manifest, folds)
        path = self.directory / "folds.json"
        payload = {"protocol": to_dict(self.config.protocol), "folds": [f.to_dict() for f in folds]}
        if path.exists() and json.loads(path.read_text()) != payload:
            raise RunError(f"{path}: the folds differ from the stored ones (did the corpus change?); use --restart")
        if self.primary:
            atomic_write_text(path, json.dumps(payload))
            atomic_write_text(self.directory / "validation.json", json.dumps(report.to_dict(), indent=2))
        report.enforce(allow_speaker_overlap=self.config.allow_speaker_overlap)
        log.info("protocol %s: %d folds, %s, max text overlap %.1f %%", self.config.protocol.name, len(folds),
                 report.verdict(), 100 * report.max_text_overlap)
        return folds

    def prepare(self) -> tuple[Corpus, dict[str, Corpus], Task, list[Fold]]:
        """Read the corpora, extract features and make the folds (once per process)."""
        if self._state is None:
            main, classes = self._load_corpus(MAIN, self.config.data)
            if self.primary:
                main.manifest.save(self.directory / "manifest.csv")
            task = build_task(self.config, main.manifest, classes)
            task_classes = list(task.classes) if isinstance(task, CategoricalTask) else None
            extras = {name: self._load_corpus(name, data, task_classes)[0] for name, data in self.config.evaluate_on.items()}
            if self.primary:
                for name, corpus in extras.items():
                    corpus.manifest.save(self.directory / f"manifest_{name}.csv")
            folds = self._folds(main.manifest)
            self._state = (main, extras, task, folds)
        return self._state

    # Running ----------------------------------------------------------------------------
    def run(self) -> RunResult:
        self._prepare_directory()
        _, _, task, folds = self.prepare()
        systems = self._systems()
        jobs = [(s, seed, k) for s in systems for seed in self.config.seeds for k in range(len(folds))]
        pending = [job for job in jobs if not self._fold_directory(job[0], job[1], folds[job[2]]).joinpath("done.json").exists()]
        bar = tqdm(total=len(jobs), initial=len(jobs) - len(pending), desc="folds", unit="fold", disable=not self.progress)
        if self.jobs > 1:
            for level in self._levels(systems):
                batch = [job for job in pending if job[0] in level]
                self._run_parallel(batch, bar)
        else:
            for system, seed, index in pending:
                bar.set_postfix_str(f"{system} seed {seed} {folds[index].name}")
                self.run_job(system, seed, index)
                bar.update()
        bar.close()
        if not self.primary:
            return RunResult(self.directory, pd.DataFrame(), pd.DataFrame())
        return self.collect(task)

    def _levels(self, systems: list[str]) -> list[set[str]]:
        """Systems grouped so that every member is in an earlier group than its fusion."""
        depth: dict[str, int] = {}
        for name in systems:  # already in dependency order
            members = self.config.systems[name].members
            depth[name] = 1 + max((depth[m] for m in members), default=-1)
        return [{n for n in systems if depth[n] == d} for d in range(max(depth.values()) + 1)]

    def _run_parallel(self, batch: list[tuple[str, int, int]], bar: tqdm) -> None:
        if not batch:
            return
        from joblib import Parallel
        from joblib import delayed

        threads = max(1, (os.cpu_count() or 1) // self.jobs)
        calls = (delayed(_run_job_in_worker)(self.config, str(self.directory), job, threads) for job in batch)
        for _ in Parallel(n_jobs=self.jobs, return_as="generator_unordered")(calls):
            bar.update()

    def _fold_directory(self, system: str, seed: int, fold: Fold) -> pathlib.Path:
        return self.directory / "systems" / system / f"seed_{seed}" / fold.name

    def run_job(self, system: str, seed: int, index: int) -> None:
        """Train (or fuse) one system on one fold with one seed."""
        main, extras, task, folds = self.prepare()
        fold = folds[index]
        directory = self._fold_directory(system, seed, fold)
        if (directory / "done.json").exists():
            return
        directory.mkdir(parents=True, exist_ok=True)
        spec = self.config.systems[system]
        if spec.fusion is not None:
            if self.primary:
                self._run_fusion(system, spec, seed, fold, task, [MAIN, *extras], directory)
        else:
            self._run_model(system, spec, seed, index, fold, task, main, extras, directory)

    def _run_model(
        self,
        name: str,
        spec: SystemConfig,
        seed: int,
        index: int,
        fold: Fold,
        task: Task,
        main: Corpus,
        extras: dict[str, Corpus],
        directory: pathlib.Path,
    ) -> None:
        training = spec.training
        if spec.loss_weights is not None:
            if not isinstance(task, DimensionalTask):
                raise RunError(f"system {name!r}: loss_weights apply to dimensional tasks")
            task = DimensionalTask(task.targets_names, loss=task.loss_name, weights=spec.loss_weights)
        L.seed_everything(seed * 7919 + index, workers=True, verbose=False)
        sources = self.config.system_inputs(name)
        inputs = {corpus.name: [self._stream(corpus, s, spec) for s in sources] for corpus in (main, *extras.values())}
        specs = [input_spec(s, main.modalities[s], stream, waveform=s == "waveform") for s, stream in zip(sources, inputs[MAIN], strict=True)]
        extra: dict[str, Any] = {}
        if spec.members:
            extra["members"] = [self._trained_member(m, seed, fold)[0] for m in spec.members]
        model = MODELS.build(spec.model.name, spec.model.config, specs, task.output_size, **extra)  # type: ignore[union-attr]
        if isinstance(model, ClassicModel):
            if self.primary:
                self._run_classic(name, spec, model, seed, fold, task, main, extras, inputs, specs, directory)
            return
        if training.selection == "best_dev" and not fold.dev:
            raise RunError(f"system {name!r}: selection best_dev needs a dev set, but fold {fold.name} has none "
                           "(use selection: last, or a protocol with a dev split)")
        standardizers = []
        for input_, stream in zip(specs, inputs[MAIN], strict=True):
            if spec.normalization == "global" and input_.kind in {"vector", "sequence"} and not spec.members:
                standardizers.append(Standardizer(input_.dim).fit(fit_rows(stream, fold.train)))
            else:
                standardizers.append(None)
        system = SystemModel(model, standardizers)
        module = EmotionModule(system, task, training, task.loss_weights([main.manifest[i] for i in fold.train]))
        collate = Collator(specs)

        def loader(corpus: Corpus, ids: Sequence[str], *, shuffle: bool) -> DataLoader:
            targets = task.targets([corpus.manifest[i] for i in ids])
            dataset = UtteranceDataset(ids, inputs[corpus.name], targets, seed=seed)
            if shuffle and training.length_bucketing:
                sampler = BucketBatchSampler([dataset.length(i) for i in range(len(dataset))], batch_size=training.batch_size, seed=seed)
                return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=training.num_workers)
            # a last training batch of one item would break batch norm: drop it
            drop_last = shuffle and len(ids) % training.batch_size == 1 and len(ids) > 1
            return DataLoader(dataset, batch_size=training.batch_size, shuffle=shuffle, collate_fn=collate,
                              num_workers=training.num_workers, drop_last=drop_last)

        train_loader = loader(main, list(fold.train) * training.repeat, shuffle=True)
        dev_loader = loader(main, fold.dev, shuffle=False) if fold.dev else None
        checkpoints = directory / "checkpoints"
        callbacks: list[L.Callback] = [  # last.ckpt after every epoch (for resuming), best.ckpt on dev
            L.pytorch.callbacks.ModelCheckpoint(dirpath=checkpoints, filename="last", monitor=None, save_top_k=1,
                                                enable_version_counter=False)
        ]
        if training.selection == "best_dev":
            callbacks.append(L.pytorch.callbacks.ModelCheckpoint(dirpath=checkpoints, filename="best", monitor="dev_score",
                                                                 mode="max", save_top_k=1, enable_version_counter=False))
        if training.early_stopping_patience is not None and training.selection == "best_dev":
            callbacks.append(
                L.pytorch.callbacks.EarlyStopping(monitor="dev_score", mode="max", patience=training.early_stopping_patience)
            )
        with quiet_lightning():
            trainer = L.Trainer(
                max_epochs=training.max_epochs,
                accelerator=training.accelerator,
                devices=training.devices,
                num_nodes=training.num_nodes,
                strategy=training.strategy,
                precision=training.precision,
                gradient_clip_val=training.gradient_clip,
                callbacks=callbacks,
                logger=L.pytorch.loggers.CSVLogger(directory, name="logs"),  # logs/version_N per attempt
                enable_progress_bar=False,
                enable_model_summary=False,
                num_sanity_val_steps=0,
                default_root_dir=directory,
                limit_val_batches=1.0 if dev_loader is not None else 0,
            )
            last = checkpoints / "last.ckpt"
            trainer.fit(module, train_loader, dev_loader, ckpt_path=str(last) if last.exists() else None)
        if not (trainer.is_global_zero and self.primary):
            return
        # weights from the checkpoint files, which every strategy (including ddp_spawn) writes
        selected = checkpoints / ("best.ckpt" if training.selection == "best_dev" else "last.ckpt")
        if not selected.exists():
            selected = checkpoints / "last.ckpt"
        checkpoint = torch.load(selected, map_location="cpu", weights_only=True)
        module.load_state_dict(checkpoint["state_dict"])
        epochs_trained = _completed_epochs(torch.load(checkpoints / "last.ckpt", map_location="cpu", weights_only=True))
        system = module.system.cpu()
        frames = {MAIN: self._main_frame(task, main, fold, lambda ids: predict(system, loader(main, ids, shuffle=False)))}
        for corpus in extras.values():
            frames[corpus.name] = self._corpus_frame(task, corpus, main, fold,
                                                     lambda ids, c=corpus: predict(system, loader(c, ids, shuffle=False)))
        save_file({k: v.contiguous() for k, v in system.state_dict().items()}, str(directory / "model.safetensors"))
        description = self._description(name, spec, specs, sources, task)
        description.update({
            "normalization": "none" if spec.members else spec.normalization,
            "members": [self._trained_member(m, seed, fold)[1] for m in spec.members],
            "epochs_trained": epochs_trained,
            "best_dev_score": _best_score(checkpoint),
        })
        atomic_write_text(directory / "model.json", json.dumps(_jsonable(description), indent=2))
        self._finish(name, seed, fold, task, frames, directory)
        shutil.rmtree(checkpoints, ignore_errors=True)

    def _run_classic(
        self,
        name: str,
        spec: SystemConfig,
        model: ClassicModel,
        seed: int,
        fold: Fold,
        task: Task,
        main: Corpus,
        extras: dict[str, Corpus],
        inputs: dict[str, list[Mapping[str, Any]]],
        specs: list[InputSpec],
        directory: pathlib.Path,
    ) -> None:
        def matrix(corpus: Corpus, ids: Sequence[str]) -> np.ndarray:
            return np.concatenate([np.stack([np.asarray(s[i]) for i in ids]) for s in inputs[corpus.name]], axis=1)

        def targets(ids: Sequence[str]) -> np.ndarray:
            return task.targets([main.manifest[i] for i in ids]).numpy()

        dev = (matrix(main, fold.dev), targets(fold.dev)) if fold.dev else (None, None)
        selected = model.fit(matrix(main, fold.train), targets(fold.train), *dev, kind=task.kind)
        frames = {MAIN: self._main_frame(task, main, fold, lambda ids: model.predict_scores(matrix(main, ids)))}
        for corpus in extras.values():
            frames[corpus.name] = self._corpus_frame(task, corpus, main, fold, lambda ids, c=corpus: model.predict_scores(matrix(c, ids)))
        try:
            save_file({k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in model.state().items()},
                      str(directory / "model.safetensors"))
        except NotImplementedError as error:
            log.info("%s: weights not saved (%s)", name, error)
        description = self._description(name, spec, specs, self.config.system_inputs(name), task)
        description["selected"] = selected
        atomic_write_text(directory / "model.json", json.dumps(_jsonable(description), indent=2))
        self._finish(name, seed, fold, task, frames, directory)

    def _description(self, name: str, spec: SystemConfig, specs: list[InputSpec], sources: Sequence[str], task: Task) -> dict:
        return {
            "emofuse_version": emofuse.__version__,
            "torch_version": torch.__version__,
            "system": name,
            "model": to_dict(spec.model),
            "inputs": [dataclasses.asdict(s) for s in specs],
            "features": {s: to_dict(self.config.features[s]) for s in sources if s in self.config.features},
            "normalization": spec.normalization,
            "task": to_dict(self.config.task),
            "outputs": task.output_names,
            "transcript": self.config.data.transcript,
        }

    @staticmethod
    def _main_frame(task: Task, main: Corpus, fold: Fold, scores_of: Any) -> pd.DataFrame:
        frames = []
        for split, ids in (("dev", fold.dev), ("test", fold.test)):
            if ids:
                scores = scores_of(ids)
                scores = task.scores_from_outputs(scores) if isinstance(scores, torch.Tensor) else scores
                frame = task.prediction_frame(ids, [task.truth(main.manifest[i]) for i in ids], scores)
                frame.insert(0, "split", split)
                frames.append(frame)
        return pd.concat(frames, ignore_index=True)

    @staticmethod
    def _corpus_frame(task: Task, corpus: Corpus, main: Corpus, fold: Fold, scores_of: Any) -> pd.DataFrame:
        """Outputs on an ``evaluate_on`` corpus: all of it, except that utterances it shares with the
        main corpus (the same corpus with other transcripts, say) count only in the fold they test."""
        test = set(fold.test)
        ids = [i for i in corpus.manifest.ids if i not in main.manifest or i in test]
        if not ids:
            raise RunError(f"evaluate_on {corpus.name!r} has no utterances to test in fold {fold.name}")
        scores = scores_of(ids)
        scores = task.scores_from_outputs(scores) if isinstance(scores, torch.Tensor) else scores
        frame = task.prediction_frame(ids, [task.truth(corpus.manifest[i]) for i in ids], scores)
        frame.insert(0, "split", "test")
        return frame

    def _trained_member(self, member: str, seed: int, fold: Fold) -> tuple[SystemModel, dict]:
        directory = self._fold_directory(member, seed, fold)
        if not (directory / "done.json").exists():
            raise RunError(f"member {member!r} has not finished seed {seed}, {fold.name}")
        try:
            return load_system_model(directory)
        except ModelFileError as error:
            raise RunError(f"member {member!r}: {error}") from None

    def _stream(self, corpus: Corpus, source: str, spec: SystemConfig) -> Mapping[str, Any]:
        stream = corpus.streams[source]
        if spec.normalization != "speaker" or isinstance(stream, _LazyAudio):
            return stream
        if isinstance(next(iter(stream.values())), str):
            return stream
        return speaker_standardize(stream, {u.id: u.speaker for u in corpus.manifest})

    def _run_fusion(self, name: str, spec: SystemConfig, seed: int, fold: Fold, task: Task,
                    corpora: list[str], directory: pathlib.Path) -> None:
        def member_frames(corpus: str) -> list[pd.DataFrame]:
            frames = []
            for member in spec.members:
                filename = "predictions.csv" if corpus == MAIN else f"predictions_{corpus}.csv"
                path = self._fold_directory(member, seed, fold) / filename
                if not path.exists():
                    raise RunError(f"fusion {name!r}: member {member!r} has no {filename} for seed {seed}, {fold.name}")
                frames.append(pd.read_csv(path, dtype={"id": str}))
            for member, frame in zip(spec.members[1:], frames[1:], strict=True):
                if list(frame["id"]) != list(frames[0]["id"]) or list(frame["split"]) != list(frames[0]["split"]):
                    raise RunError(f"fusion {name!r}: member {member!r} predicted other utterances than {spec.members[0]!r}")
            return frames

        fusion = SCORE_FUSIONS.build(spec.fusion.name, spec.fusion.config, kind=task.kind)  # type: ignore[union-attr]
        members = member_frames(MAIN)
        dev = members[0]["split"] == "dev"
        if isinstance(task, CategoricalTask):
            truth_dev = np.array([task.classes.index(t) for t in members[0].loc[dev, "truth"].astype(str)])
        else:
            truth_dev = task.truth_from_frame(members[0][dev])
        fusion.fit([task.scores_from_frame(m[dev]) for m in members], truth_dev)
        frames = {}
        for corpus in corpora:
            members = member_frames(corpus)
            reference = members[0]
            truth = reference["truth"].astype(str).tolist() if isinstance(task, CategoricalTask) else task.truth_from_frame(reference)
            frame = task.prediction_frame(reference["id"].tolist(), truth, fusion([task.scores_from_frame(m) for m in members]))
            frame.insert(0, "split", reference["split"].tolist())
            frames[corpus] = frame
        atomic_write_text(directory / "fusion.json", json.dumps({"members": list(spec.members), **_jsonable(fusion.describe())}, indent=2))
        self._finish(name, seed, fold, task, frames, directory)

    def _finish(self, name: str, seed: int, fold: Fold, task: Task, frames: dict[str, pd.DataFrame], directory: pathlib.Path) -> None:
        def score(part: pd.DataFrame) -> dict[str, float]:
            truth = part["truth"].astype(str).tolist() if isinstance(task, CategoricalTask) else task.truth_from_frame(part)
            return task.evaluate(truth, task.scores_from_frame(part))

        predictions = frames[MAIN]
        scores: dict[str, Any] = {}
        for split in ("test", "dev"):
            part = predictions[predictions["split"] == split]
            if len(part):
                scores[split] = score(part)
        cross = {}
        for corpus, frame in frames.items():
            if corpus != MAIN:
                atomic_write_text(directory / f"predictions_{corpus}.csv", frame.to_csv(index=False))
                cross[corpus] = score(frame)
        atomic_write_text(directory / "predictions.csv", predictions.to_csv(index=False))
        record = {"system": name, "seed": seed, "fold": fold.name, "n_test": int((predictions["split"] == "test").sum()), **scores}
        if cross:
            record["cross"] = cross
        atomic_write_text(directory / "metrics.json", json.dumps(_jsonable(record), indent=2))
        atomic_write_text(directory / "done.json", json.dumps({"done": True}))

    # Results ----------------------------------------------------------------------------
    def collect(self, task: Task) -> RunResult:
        rows, cross_rows, frames = [], [], []
        for name in self._systems():
            for path in sorted((self.directory / "systems" / name).glob("seed_*/*/metrics.json")):
                record = json.loads(path.read_text())
                key = {"system": record["system"], "seed": record["seed"], "fold": record["fold"]}
                rows.append({**key, "n_test": record["n_test"], **record["test"]})
                for corpus, scores in record.get("cross", {}).items():
                    cross_rows.append({"evaluated_on": corpus, **key, **scores})
                frame = pd.read_csv(path.parent / "predictions.csv", dtype={"id": str})
                frame = frame[frame["split"] == "test"].drop(columns="split")
                for column, value in reversed(list(key.items())):
                    frame.insert(0, column, value)
                frames.append(frame)
        metrics = pd.DataFrame(rows)
        results = self.directory / "results"
        results.mkdir(exist_ok=True)
        atomic_write_text(results / "metrics.csv", metrics.to_csv(index=False))
        summary = summarize(metrics, task_kind=task.kind, systems=self._systems())
        if frames:
            predictions = pd.concat(frames, ignore_index=True)
            atomic_write_text(results / "predictions.csv", predictions.to_csv(index=False))
            categorical = isinstance(task, CategoricalTask)
            pooled = pooled_summary(predictions, task_kind=task.kind, labels=list(task.classes) if categorical else None,
                                    targets=None if categorical else list(task.targets_names))
            summary = summary.merge(pooled, on="system", how="left")
        cross = pd.DataFrame(cross_rows)
        cross_summaries = {}
        if not cross.empty:
            atomic_write_text(results / "cross_metrics.csv", cross.to_csv(index=False))
            for corpus, part in cross.groupby("evaluated_on", sort=False):
                cross_summaries[str(corpus)] = summarize(part.drop(columns="evaluated_on"), task_kind=task.kind, systems=self._systems())
        atomic_write_text(results / "summary.json", json.dumps(_jsonable({
            "name": self.config.name,
            "protocol": to_dict(self.config.protocol),
            "seeds": list(self.config.seeds),
            "config_hash": config_hash(self.config),
            "systems": summary.to_dict(orient="records"),
            "cross": {corpus: s.to_dict(orient="records") for corpus, s in cross_summaries.items()},
        }), indent=2))
        validation = json.loads((self.directory / "validation.json").read_text())
        text = summary_markdown(
            summary,
            title=self.config.name,
            task_kind=task.kind,
            protocol=self.config.protocol.name,
            verdict=validation["verdict"],
            seeds=list(self.config.seeds),
            references=self.config.references,
        )
        for corpus, part in cross_summaries.items():
            text += "\n" + summary_markdown(
                part,
                title=f"Evaluated on {corpus}: the fold models on all of it (on its fold test utterances where it shares utterances with the training corpus)",
                task_kind=task.kind,
                protocol=self.config.protocol.name,
                verdict="different corpus",
                seeds=list(self.config.seeds),
            ).replace("# Evaluated", "## Evaluated", 1)
        atomic_write_text(results / "summary.md", text)
        return RunResult(self.directory, metrics, summary)


_WORKER_RUNNERS: dict[tuple[str, str], Runner] = {}


def _run_job_in_worker(config: ExperimentConfig, directory: str, job: tuple[str, int, int], threads: int) -> None:
    """One (system, seed, fold) job in a worker process; the prepared corpora are reused per process."""
    torch.set_num_threads(threads)
    key = (directory, config_hash(config))
    runner = _WORKER_RUNNERS.get(key)
    if runner is None:
        logging.getLogger("emofuse").setLevel(logging.WARNING)
        runner = _WORKER_RUNNERS[key] = Runner(config, directory, progress=False)
    runner.run_job(*job)


@contextlib.contextmanager
def quiet_lightning() -> Iterator[None]:
    """Silence Lightning's start-up chatter and the warnings that small CPU runs always trigger."""
    loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric", "pytorch_lightning")]
    levels = [logger.level for logger in loggers]
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*number of training batches.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*")
        warnings.filterwarnings("ignore", message=".*litlogger.*")
        warnings.filterwarnings("ignore", message=".*no `val_dataloader`.*")  # fixed-epoch training without dev
        warnings.filterwarnings("ignore", message=".*module\\(s\\) in eval mode.*")  # frozen members
        for logger in loggers:
            logger.setLevel(logging.WARNING)
        try:
            yield
        finally:
            for logger, level in zip(loggers, levels, strict=True):
                logger.setLevel(level)


@torch.inference_mode()
def predict(system: torch.nn.Module, loader: DataLoader) -> torch.Tensor:
    """Outputs of ``system`` over ``loader`` in order, in eval mode."""
    was_training = system.training
    system.eval()
    outputs = [system(inputs).float().cpu() for inputs, _ in loader]
    system.train(was_training)
    return torch.cat(outputs)


class _LazyAudio(Mapping[str, np.ndarray]):
    """Waveforms read on access (raw ``waveform`` inputs)."""

    def __init__(self, manifest: Manifest, reader: Any) -> None:
        self.manifest = manifest
        self.reader = reader

    def __getitem__(self, key: str) -> np.ndarray:
        return self.reader(self.manifest[key])

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.manifest.ids)

    def __len__(self) -> int:
        return len(self.manifest)

    def __contains__(self, key: object) -> bool:
        return key in self.manifest


def _completed_epochs(checkpoint: dict) -> int:
    """Epochs finished when the checkpoint was written (recorded by :class:`EmotionModule`)."""
    return int(checkpoint.get("epochs_completed", 0))


def _best_score(checkpoint: dict) -> float | None:
    """The best dev score recorded by the monitoring ModelCheckpoint in a Lightning checkpoint."""
    for key, state in checkpoint.get("callbacks", {}).items():
        if key.startswith("ModelCheckpoint") and "dev_score" in key and state.get("best_model_score") is not None:
            return float(state["best_model_score"])
    return None


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return _jsonable(value.item())
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def run_experiment(
    config: ExperimentConfig,
    directory: str | pathlib.Path,
    *,
    progress: bool = True,
    restart: bool = False,
    systems: Sequence[str] | None = None,
    jobs: int = 1,
) -> RunResult:
    """Run (or resume) an experiment into ``directory``; ``jobs`` folds at a time."""
    return Runner(config, directory, progress=progress, restart=restart, systems=systems, jobs=jobs).run()
