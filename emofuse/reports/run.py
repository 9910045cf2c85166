"""A run directory as the report reads it: typed config, manifest and folds, and the tables the
analyses group (per-fold metrics and pooled test predictions).

Everything is read through :class:`emofuse.rundir.RunDirectory`; an unfinished run gives the
folds that are done. Cross-corpus results come from two sources:

* corpora the run's fold models were also tested on (``evaluate_on``): each fold model's
  predictions on the whole corpus. The corpus is named by its manifest's ``corpus`` column,
  else by the ``evaluate_on`` entry's corpus reader (or manifest file name);
* runs whose test utterances all come from corpora that none of their training utterances come
  from (by the manifest's ``corpus`` column), for example ``official_splits`` on a manifest that
  joins two corpora.
"""

from __future__ import annotations

import dataclasses
import functools
import pathlib
from collections.abc import Sequence
from typing import Any

import pandas as pd

from emofuse.config import to_dict
from emofuse.data.manifest import Manifest
from emofuse.data.protocols import Fold
from emofuse.evaluation.stats import SIGNIFICANCE_SYMBOLS
from emofuse.evaluation.summary import metrics_tables
from emofuse.experiment import ExperimentConfig
from emofuse.experiment import SystemConfig
from emofuse.rundir import MAIN
from emofuse.rundir import RunDirectory
from emofuse.rundir import RunDirectoryError
from emofuse.rundir import predictions_table

__all__ = ["CrossCorpusSet", "Run", "RunDirectoryError", "baseline_systems", "headline_metric", "load_run"]


@dataclasses.dataclass(frozen=True)
class CrossCorpusSet:
    """Predictions of a run's fold models on a whole other corpus (an ``evaluate_on`` entry).

    ``predictions`` has ``system, seed, fold, id`` and the task's truth and prediction columns;
    ``fold`` names the training fold whose model made the prediction.
    """

    name: str
    corpus: str
    predictions: pd.DataFrame
    manifest: Manifest | None


@dataclasses.dataclass(frozen=True)
class Run:
    """One run directory, read for the report."""

    path: pathlib.Path
    config: ExperimentConfig
    task_type: str
    outputs: tuple[str, ...]
    manifest: Manifest
    folds: list[Fold]
    validation: dict[str, Any]
    metrics: pd.DataFrame
    predictions: pd.DataFrame
    skipped: int
    cross: list[CrossCorpusSet]
    dev_metrics: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)

    @property
    def name(self) -> str:
        return self.config.name or self.path.name

    @functools.cached_property
    def utterances(self) -> pd.DataFrame:
        """The manifest as a table (one row per utterance, metadata as columns)."""
        return self.manifest.to_frame()

    @property
    def protocol(self) -> dict[str, Any]:
        return to_dict(self.config.protocol)

    @property
    def seeds(self) -> list[int]:
        return sorted(int(s) for s in self.metrics["seed"].unique()) if not self.metrics.empty else []

    @property
    def systems(self) -> list[str]:
        """Systems in the runner's order (members before the systems that fuse them)."""
        found = set(self.metrics["system"].astype(str)) if not self.metrics.empty else set()
        return [s for s in self.config.system_order() if s in found]

    @property
    def targets(self) -> list[str]:
        """Dimensional targets, in output order."""
        return list(self.outputs) if self.task_type == "dimensional" else []

    @property
    def labels(self) -> list[str]:
        """Class codes in the task's order."""
        return list(self.outputs) if self.task_type == "categorical" else []

    @property
    def references(self) -> dict[str, dict[str, float]]:
        return {k: dict(v) for k, v in self.config.references.items()}

    @property
    def few_shot(self) -> bool:
        return self.config.protocol.name == "few_shot"

    @property
    def train_size(self) -> float:
        """Mean number of training utterances per fold."""
        sizes = [len(f.train) for f in self.folds]
        return sum(sizes) / len(sizes) if sizes else float("nan")

    def corpora(self, part: str) -> list[str]:
        """Corpora of the utterances in ``part`` (``train`` or ``test``) over all folds."""
        ids = {i for f in self.folds for i in getattr(f, part)}
        return sorted({u.corpus for u in self.manifest if u.id in ids and u.corpus})

    @property
    def cross_corpus(self) -> bool:
        """Whether the test utterances come from corpora that training never saw."""
        train, test = set(self.corpora("train")), set(self.corpora("test"))
        return bool(train and test and not train & test)

    def system_config(self, system: str) -> SystemConfig:
        return self.config.systems[system]


def headline_metric(kind: str) -> str:
    """UA for categorical tasks, mean CCC for dimensional ones."""
    return "UA" if kind == "categorical" else "CCC_mean"


def baseline_systems(run: Run, systems: Sequence[str]) -> list[str]:
    """Unimodal systems: a model over exactly one input, not built from other systems.

    Where fusions name members, the unimodal members come first; at most one per significance
    symbol is kept, in config order (``--baseline`` chooses others).
    """
    result = []
    for system in systems:
        spec = run.system_config(system)
        if spec.model is not None and len(spec.inputs) == 1 and not spec.members:
            result.append(system)
    members = {m for s in systems for m in run.system_config(s).members}
    result = [s for s in result if s in members] + [s for s in result if s not in members]
    return result[:len(SIGNIFICANCE_SYMBOLS)]


def load_run(path: str | pathlib.Path) -> Run:
    """Read a run directory; an unfinished run gives the folds that are done."""
    run = RunDirectory(path)
    config = run.config()
    task_type, outputs = run.task()
    manifest = run.manifest()
    systems = config.system_order()
    metrics, _ = metrics_tables(run, systems)
    if metrics.empty:
        raise RunDirectoryError(f"{run.path}: no finished folds yet")
    predictions = predictions_table(run.predictions(systems=systems))
    dev_rows = []
    for fold in run.finished():
        record = fold.metrics()
        if record.get("dev"):
            dev_rows.append({**fold.key, **record["dev"]})
    skipped_path = run.path / "skipped.csv"
    skipped = len(pd.read_csv(skipped_path)) if skipped_path.is_file() else 0
    return Run(run.path, config, task_type, outputs, manifest, run.folds(), run.validation(), metrics, predictions,
               skipped, _cross_sets(run, config), pd.DataFrame(dev_rows))


def _cross_sets(run: RunDirectory, config: ExperimentConfig) -> list[CrossCorpusSet]:
    """Predictions of the fold models on each ``evaluate_on`` corpus."""
    names = list(config.evaluate_on)
    for fold in run.finished():
        names += [n for n in fold.corpora() if n not in names]
    sets = []
    for name in names:
        predictions = predictions_table(run.predictions(name, systems=config.system_order()))
        if predictions.empty:
            continue
        manifest = run.manifest(name) if run.has_manifest(name) else None
        sets.append(CrossCorpusSet(name, _corpus_name(name, config, manifest), predictions, manifest))
    return sets


def _corpus_name(name: str, config: ExperimentConfig, manifest: Manifest | None) -> str:
    if name == MAIN:
        return config.name
    if manifest is not None:
        corpora = sorted({u.corpus for u in manifest if u.corpus})
        if corpora:
            return ", ".join(corpora)
    data = config.evaluate_on.get(name)
    if data is not None and data.corpus is not None:
        return data.corpus.name
    if data is not None and data.manifest:
        return pathlib.Path(data.manifest).stem
    return name
