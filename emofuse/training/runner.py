"""Runs an experiment: every system on every fold and seed, then the summary tables.

Output directory::

    config.yaml  manifest.csv  folds.json  validation.json  skipped.csv (if any)
    systems/<system>/seed_<s>/<fold>/predictions.csv   dev and test outputs per utterance
                                   /metrics.json       test (and dev) scores
                                   /model.safetensors  /model.json   (trained systems)
                                   /fusion.json        (fusion systems: fitted weights)
    results/metrics.csv  results/predictions.csv  results/summary.json  results/summary.md

A finished fold writes ``done.json`` last; a re-run skips finished folds and resumes an
interrupted one from its last Lightning checkpoint.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
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
from emofuse.evaluation.aggregate import summarize
from emofuse.evaluation.aggregate import summary_markdown
from emofuse.experiment import RAW_INPUTS
from emofuse.experiment import ExperimentConfig
from emofuse.experiment import SystemConfig
from emofuse.features import FeatureError
from emofuse.features import build_extractor
from emofuse.features import extract_features
from emofuse.fusion.base import SCORE_FUSIONS
from emofuse.models.base import MODELS
from emofuse.models.base import ClassicModel
from emofuse.models.base import InputSpec
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


class RunError(RuntimeError):
    """An experiment that cannot run as configured."""


@dataclasses.dataclass
class RunResult:
    directory: pathlib.Path
    metrics: pd.DataFrame
    summary: pd.DataFrame


def build_task(config: ExperimentConfig, manifest: Manifest, classes: Sequence[str] | None) -> Task:
    if config.task.type == "dimensional":
        return DimensionalTask(config.task.targets, loss=config.task.loss, weights=config.task.loss_weights)
    return CategoricalTask(classes or manifest.classes(), class_weighting=config.task.class_weighting)


def load_manifest(config: ExperimentConfig) -> tuple[Manifest, list[str] | None]:
    """The experiment's utterances (labelled for its task) and the class order."""
    data = config.data
    if data.corpus is not None:
        manifest = CORPORA.build(data.corpus.name, data.corpus.config)
        default_map = getattr(data.corpus.config, "label_map", None)
    else:
        manifest = Manifest.load(data.manifest)  # type: ignore[arg-type]
        default_map = None
    label_map = data.label_map or default_map
    classes = None
    if config.task.type == "categorical":
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
        targets = config.task.targets
        manifest = manifest.filter(lambda u: all(getattr(u, t) is not None for t in targets))
    if len(manifest) == 0:
        raise RunError("no utterances are left for this task after label mapping and filtering")
    return manifest, classes


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
    ) -> None:
        self.config = config
        self.directory = pathlib.Path(directory)
        self.progress = progress
        self.restart = restart
        self.selected = list(systems) if systems else None
        if self.selected:
            unknown = [s for s in self.selected if s not in config.systems]
            if unknown:
                raise RunError(f"unknown systems {unknown}; defined: {list(config.systems)}")

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
            if self.restart:
                shutil.rmtree(self.directory)
        elif self.restart and self.directory.exists():
            shutil.rmtree(self.directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        atomic_write_text(stored, yaml.safe_dump(current, sort_keys=False, allow_unicode=True))

    def _features(self, manifest: Manifest) -> tuple[dict[str, Mapping[str, Any]], dict[str, str], dict[str, str]]:
        """Feature streams (name -> id -> array or text), their modalities, and failures."""
        needed = {source for name in self._systems() for source in self.config.systems[name].inputs}
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
                        text = u.transcript(self.config.data.transcript)
                        if text is None or not text.strip():
                            failures[u.id] = f"utterance {u.id} has no {self.config.data.transcript} transcript"
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
                    transcript=self.config.data.transcript,  # type: ignore[arg-type]
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

    # Running ----------------------------------------------------------------------------
    def run(self) -> RunResult:
        self._prepare_directory()
        manifest, classes = load_manifest(self.config)
        streams, modalities, failures = self._features(manifest)
        if failures:
            pd.DataFrame({"id": list(failures), "reason": list(failures.values())}).to_csv(
                self.directory / "skipped.csv", index=False
            )
            manifest = manifest.filter(lambda u: u.id not in failures)
            log.warning("left out %d utterances without usable input (see skipped.csv)", len(failures))
        manifest.save(self.directory / "manifest.csv")
        task = build_task(self.config, manifest, classes)
        folds = self._folds(manifest)
        jobs = [(s, seed, k, f) for s in self._systems() for seed in self.config.seeds for k, f in enumerate(folds)]
        bar = tqdm(jobs, desc="folds", unit="fold", disable=not self.progress)
        for system, seed, index, fold in bar:
            bar.set_postfix_str(f"{system} seed {seed} {fold.name}")
            directory = self.directory / "systems" / system / f"seed_{seed}" / fold.name
            if (directory / "done.json").exists():
                continue
            directory.mkdir(parents=True, exist_ok=True)
            spec = self.config.systems[system]
            if spec.fusion is not None:
                self._run_fusion(system, spec, seed, fold, task, directory)
            else:
                self._run_model(system, spec, seed, index, fold, task, manifest, streams, modalities, directory)
        return self.collect(task)

    def _folds(self, manifest: Manifest) -> list[Fold]:
        folds = make_folds(self.config.protocol, manifest)
        report = validate_folds(manifest, folds)
        path = self.directory / "folds.json"
        payload = {"protocol": to_dict(self.config.protocol), "folds": [f.to_dict() for f in folds]}
        if path.exists() and json.loads(path.read_text()) != payload:
            raise RunError(f"{path}: the folds differ from the stored ones (did the corpus change?); use --restart")
        atomic_write_text(path, json.dumps(payload))
        atomic_write_text(self.directory / "validation.json", json.dumps(report.to_dict(), indent=2))
        report.enforce(allow_speaker_overlap=self.config.allow_speaker_overlap)
        log.info("protocol %s: %d folds, %s, max text overlap %.1f %%", self.config.protocol.name, len(folds),
                 report.verdict(), 100 * report.max_text_overlap)
        return folds

    def _run_model(
        self,
        name: str,
        spec: SystemConfig,
        seed: int,
        index: int,
        fold: Fold,
        task: Task,
        manifest: Manifest,
        streams: dict[str, Mapping[str, Any]],
        modalities: dict[str, str],
        directory: pathlib.Path,
    ) -> None:
        training = spec.training
        if training.selection == "best_dev" and not fold.dev:
            raise RunError(f"system {name!r}: selection best_dev needs a dev set, but fold {fold.name} has none "
                           "(use selection: last, or a protocol with a dev split)")
        L.seed_everything(seed * 7919 + index, workers=True, verbose=False)
        inputs = [self._stream(streams[s], spec, manifest) for s in spec.inputs]
        specs = [input_spec(s, modalities[s], stream, waveform=s == "waveform") for s, stream in zip(spec.inputs, inputs, strict=True)]
        model = MODELS.build(spec.model.name, spec.model.config, specs, task.output_size)  # type: ignore[union-attr]
        if isinstance(model, ClassicModel):
            self._run_classic(name, spec, model, seed, fold, task, manifest, inputs, specs, directory)
            return
        standardizers = []
        for input_, stream in zip(specs, inputs, strict=True):
            if spec.normalization == "global" and input_.kind in {"vector", "sequence"}:
                standardizers.append(Standardizer(input_.dim).fit(fit_rows(stream, fold.train)))
            else:
                standardizers.append(None)
        system = SystemModel(model, standardizers)
        train_utterances = [manifest[i] for i in fold.train]  # class weights from each utterance once
        module = EmotionModule(system, task, training, task.loss_weights(train_utterances))
        collate = Collator(specs)

        def loader(ids: Sequence[str], *, shuffle: bool) -> DataLoader:
            targets = task.targets([manifest[i] for i in ids])
            dataset = UtteranceDataset(ids, inputs, targets, seed=seed)
            if shuffle and training.length_bucketing:
                sampler = BucketBatchSampler([dataset.length(i) for i in range(len(dataset))], batch_size=training.batch_size, seed=seed)
                return DataLoader(dataset, batch_sampler=sampler, collate_fn=collate, num_workers=training.num_workers)
            # a last training batch of one item would break batch norm: drop it
            drop_last = shuffle and len(ids) % training.batch_size == 1 and len(ids) > 1
            return DataLoader(dataset, batch_size=training.batch_size, shuffle=shuffle, collate_fn=collate,
                              num_workers=training.num_workers, drop_last=drop_last)

        train_loader = loader(list(fold.train) * training.repeat, shuffle=True)
        dev_loader = loader(fold.dev, shuffle=False) if fold.dev else None
        checkpoints = directory / "checkpoints"
        callbacks: list[L.Callback] = [
            L.pytorch.callbacks.ModelCheckpoint(
                dirpath=checkpoints,
                filename="best",
                monitor="dev_score" if training.selection == "best_dev" else None,
                mode="max",
                save_last=True,
                save_top_k=1,
                enable_version_counter=False,
            )
        ]
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
        if not trainer.is_global_zero:
            return
        best = checkpoints / "best.ckpt"
        if training.selection == "best_dev" and best.exists():
            state = torch.load(best, map_location="cpu", weights_only=True)["state_dict"]
            module.load_state_dict(state)
        frames = []
        for split, ids in (("dev", fold.dev), ("test", fold.test)):
            if ids:
                outputs = predict(system, loader(ids, shuffle=False))
                truth = [task.truth(manifest[i]) for i in ids]
                frame = task.prediction_frame(ids, truth, task.scores_from_outputs(outputs))
                frame.insert(0, "split", split)
                frames.append(frame)
        predictions = pd.concat(frames, ignore_index=True)
        save_file({k: v.contiguous() for k, v in system.state_dict().items()}, str(directory / "model.safetensors"))
        description = {
            "emofuse_version": emofuse.__version__,
            "torch_version": torch.__version__,
            "system": name,
            "model": to_dict(spec.model),
            "inputs": [dataclasses.asdict(s) for s in specs],
            "features": {s: to_dict(self.config.features[s]) for s in spec.inputs if s in self.config.features},
            "normalization": spec.normalization,
            "task": to_dict(self.config.task),
            "outputs": task.output_names,
            "transcript": self.config.data.transcript,
            "epochs_trained": int(trainer.current_epoch),
            "best_dev_score": _float(trainer.checkpoint_callback.best_model_score) if trainer.checkpoint_callback else None,
        }
        atomic_write_text(directory / "model.json", json.dumps(description, indent=2))
        self._finish(name, seed, fold, task, predictions, directory)
        shutil.rmtree(checkpoints, ignore_errors=True)

    def _run_classic(
        self,
        name: str,
        spec: SystemConfig,
        model: ClassicModel,
        seed: int,
        fold: Fold,
        task: Task,
        manifest: Manifest,
        inputs: list[Mapping[str, Any]],
        specs: list[InputSpec],
        directory: pathlib.Path,
    ) -> None:
        def matrix(ids: Sequence[str]) -> np.ndarray:
            return np.concatenate([np.stack([np.asarray(s[i]) for i in ids]) for s in inputs], axis=1)

        def targets(ids: Sequence[str]) -> np.ndarray:
            return task.targets([manifest[i] for i in ids]).numpy()

        dev = (matrix(fold.dev), targets(fold.dev)) if fold.dev else (None, None)
        selected = model.fit(matrix(fold.train), targets(fold.train), *dev, kind=task.kind)
        frames = []
        for split, ids in (("dev", fold.dev), ("test", fold.test)):
            if ids:
                truth = [task.truth(manifest[i]) for i in ids]
                frame = task.prediction_frame(ids, truth, model.predict_scores(matrix(ids)))
                frame.insert(0, "split", split)
                frames.append(frame)
        try:
            save_file({k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in model.state().items()},
                      str(directory / "model.safetensors"))
        except NotImplementedError as error:
            log.info("%s: weights not saved (%s)", name, error)
        description = {
            "emofuse_version": emofuse.__version__,
            "system": name,
            "model": to_dict(spec.model),
            "inputs": [dataclasses.asdict(s) for s in specs],
            "features": {s: to_dict(self.config.features[s]) for s in spec.inputs if s in self.config.features},
            "normalization": spec.normalization,
            "task": to_dict(self.config.task),
            "outputs": task.output_names,
            "transcript": self.config.data.transcript,
            "selected": selected,
        }
        atomic_write_text(directory / "model.json", json.dumps(_jsonable(description), indent=2))
        self._finish(name, seed, fold, task, pd.concat(frames, ignore_index=True), directory)

    def _stream(self, stream: Mapping[str, Any], spec: SystemConfig, manifest: Manifest) -> Mapping[str, Any]:
        if spec.normalization != "speaker" or isinstance(stream, _LazyAudio):
            return stream
        first = next(iter(stream.values()))
        if isinstance(first, str):
            return stream
        return speaker_standardize(stream, {u.id: u.speaker for u in manifest})

    def _run_fusion(self, name: str, spec: SystemConfig, seed: int, fold: Fold, task: Task, directory: pathlib.Path) -> None:
        members = []
        for member in spec.members:
            path = self.directory / "systems" / member / f"seed_{seed}" / fold.name / "predictions.csv"
            if not path.exists():
                raise RunError(f"fusion {name!r}: member {member!r} has no predictions for seed {seed}, {fold.name}")
            members.append(pd.read_csv(path, dtype={"id": str}))
        reference = members[0]
        for member, frame in zip(spec.members[1:], members[1:], strict=True):
            if list(frame["id"]) != list(reference["id"]) or list(frame["split"]) != list(reference["split"]):
                raise RunError(f"fusion {name!r}: member {member!r} predicted other utterances than {spec.members[0]!r}")
        fusion = SCORE_FUSIONS.build(spec.fusion.name, spec.fusion.config, kind=task.kind)  # type: ignore[union-attr]
        dev = reference["split"] == "dev"
        if task.kind == "categorical":
            truth_dev = np.array([task.classes.index(t) for t in reference.loc[dev, "truth"].astype(str)])
        else:
            truth_dev = task.truth_from_frame(reference[dev])
        fusion.fit([task.scores_from_frame(m[dev]) for m in members], truth_dev)
        fused = fusion([task.scores_from_frame(m) for m in members])
        ids = reference["id"].tolist()
        truth = reference["truth"].astype(str).tolist() if task.kind == "categorical" else task.truth_from_frame(reference)
        predictions = task.prediction_frame(ids, truth, fused)
        predictions.insert(0, "split", reference["split"].tolist())
        atomic_write_text(directory / "fusion.json", json.dumps({"members": list(spec.members), **_jsonable(fusion.describe())}, indent=2))
        self._finish(name, seed, fold, task, predictions, directory)

    def _finish(self, name: str, seed: int, fold: Fold, task: Task, predictions: pd.DataFrame, directory: pathlib.Path) -> None:
        scores = {}
        for split in ("test", "dev"):
            part = predictions[predictions["split"] == split]
            if len(part):
                truth = part["truth"].astype(str).tolist() if task.kind == "categorical" else task.truth_from_frame(part)
                scores[split] = task.evaluate(truth, task.scores_from_frame(part))
        atomic_write_text(directory / "predictions.csv", predictions.to_csv(index=False))
        record = {"system": name, "seed": seed, "fold": fold.name, "n_test": int((predictions["split"] == "test").sum()), **scores}
        atomic_write_text(directory / "metrics.json", json.dumps(_jsonable(record), indent=2))
        atomic_write_text(directory / "done.json", json.dumps({"done": True}))

    # Results ----------------------------------------------------------------------------
    def collect(self, task: Task) -> RunResult:
        rows, frames = [], []
        for name in self._systems():
            for path in sorted((self.directory / "systems" / name).glob("seed_*/*/metrics.json")):
                record = json.loads(path.read_text())
                rows.append({"system": record["system"], "seed": record["seed"], "fold": record["fold"],
                             "n_test": record["n_test"], **record["test"]})
                frame = pd.read_csv(path.parent / "predictions.csv", dtype={"id": str})
                frame = frame[frame["split"] == "test"].drop(columns="split")
                frame.insert(0, "fold", record["fold"])
                frame.insert(0, "seed", record["seed"])
                frame.insert(0, "system", record["system"])
                frames.append(frame)
        metrics = pd.DataFrame(rows)
        results = self.directory / "results"
        results.mkdir(exist_ok=True)
        atomic_write_text(results / "metrics.csv", metrics.to_csv(index=False))
        if frames:
            atomic_write_text(results / "predictions.csv", pd.concat(frames, ignore_index=True).to_csv(index=False))
        summary = summarize(metrics, task_kind=task.kind, systems=self._systems())
        atomic_write_text(results / "summary.json", json.dumps({
            "name": self.config.name,
            "protocol": to_dict(self.config.protocol),
            "seeds": list(self.config.seeds),
            "config_hash": config_hash(self.config),
            "systems": summary.to_dict(orient="records"),
        }, indent=2))
        validation = json.loads((self.directory / "validation.json").read_text())
        atomic_write_text(results / "summary.md", summary_markdown(
            summary,
            title=self.config.name,
            task_kind=task.kind,
            protocol=self.config.protocol.name,
            verdict=validation["verdict"],
            seeds=list(self.config.seeds),
            references=self.config.references,
        ))
        return RunResult(self.directory, metrics, summary)


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


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
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
) -> RunResult:
    """Run (or resume) an experiment into ``directory``."""
    return Runner(config, directory, progress=progress, restart=restart, systems=systems).run()
