"""Reading a run directory written by ``emofuse run`` into plain tables for the report.

What is read (see :mod:`emofuse.training.runner` for the layout)::

    config.yaml  manifest.csv  folds.json  validation.json  skipped.csv (optional)
    results/metrics.csv  results/predictions.csv          (or, for an unfinished run, the
    systems/<system>/seed_<s>/<fold>/{metrics.json, predictions.csv}  files of finished folds)
    systems/<system>/seed_<s>/<fold>/predictions_<name>.csv   (``evaluate_on`` corpora)
    manifest_<name>.csv                                         (optional, see below)

Cross-corpus results come from two sources:

* corpora the run's fold models were also tested on (``evaluate_on: {<name>: <data>}``): each
  fold model's predictions on the whole corpus in ``predictions_<name>.csv`` (the columns of
  ``predictions.csv``, ``split`` = ``test``). The corpus is named by ``manifest_<name>.csv``'s
  ``corpus`` column when the runner writes that file, else by the ``evaluate_on`` entry's corpus
  reader (or manifest file name);
* runs whose test utterances all come from corpora that none of their training utterances come
  from (by the manifest's ``corpus`` column), for example ``official_splits`` on a manifest that
  joins two corpora.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from typing import Any

import pandas as pd
import yaml


class RunDirectoryError(ValueError):
    """A directory that is not (or not yet) a run directory the report can read."""


@dataclasses.dataclass(frozen=True)
class CrossCorpusSet:
    """Predictions of a run's fold models on a whole other corpus (an ``evaluate_on`` entry).

    ``predictions`` has ``system, seed, fold, id`` and the task's truth and prediction columns;
    ``fold`` names the training fold whose model made the prediction.
    """

    name: str
    corpus: str
    predictions: pd.DataFrame
    manifest: pd.DataFrame | None


@dataclasses.dataclass(frozen=True)
class Run:
    """One run directory as tables."""

    path: pathlib.Path
    config: dict[str, Any]
    manifest: pd.DataFrame
    folds: list[dict[str, Any]]
    validation: dict[str, Any]
    metrics: pd.DataFrame
    predictions: pd.DataFrame
    skipped: pd.DataFrame | None
    cross: list[CrossCorpusSet]
    dev_metrics: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)

    @property
    def name(self) -> str:
        return str(self.config.get("name") or self.path.name)

    @property
    def kind(self) -> str:
        return str((self.config.get("task") or {}).get("type", "categorical"))

    @property
    def protocol(self) -> dict[str, Any]:
        return dict(self.config.get("protocol") or {})

    @property
    def seeds(self) -> list[int]:
        return sorted(int(s) for s in self.metrics["seed"].unique()) if not self.metrics.empty else []

    @property
    def systems(self) -> list[str]:
        """Systems in the runner's order (members before the systems that fuse them)."""
        found = list(dict.fromkeys(self.metrics["system"].astype(str))) if not self.metrics.empty else []
        configured = [s for s in (self.config.get("systems") or {}) if s in found]
        return configured + [s for s in found if s not in configured]

    @property
    def targets(self) -> list[str]:
        """Dimensional targets, in the order of the prediction columns."""
        columns = [c[len("pred_"):] for c in self.predictions.columns if c.startswith("pred_")]
        return columns or list((self.config.get("task") or {}).get("targets") or [])

    @property
    def labels(self) -> list[str]:
        """Class codes in the task's order (the order of the ``p_<class>`` columns)."""
        columns = [c[2:] for c in self.predictions.columns if c.startswith("p_")]
        if columns:
            return columns
        if "truth" in self.predictions.columns:
            return sorted(set(self.predictions["truth"].astype(str)) | set(self.predictions["prediction"].astype(str)))
        return []

    @property
    def references(self) -> dict[str, dict[str, float]]:
        return {str(k): dict(v or {}) for k, v in (self.config.get("references") or {}).items()}

    @property
    def few_shot(self) -> bool:
        return self.protocol.get("name") == "few_shot"

    @property
    def train_size(self) -> float:
        """Mean number of training utterances per fold."""
        sizes = [len(f.get("train", [])) for f in self.folds]
        return sum(sizes) / len(sizes) if sizes else float("nan")

    def corpora(self, part: str) -> list[str]:
        """Corpora of the utterances in ``part`` (``train`` or ``test``) over all folds."""
        if "corpus" not in self.manifest.columns:
            return []
        corpus = dict(zip(self.manifest["id"].astype(str), self.manifest["corpus"], strict=True))
        ids = {i for f in self.folds for i in f.get(part, [])}
        return sorted({str(corpus[i]) for i in ids if i in corpus and pd.notna(corpus[i])})

    @property
    def cross_corpus(self) -> bool:
        """Whether the test utterances come from corpora that training never saw."""
        train, test = set(self.corpora("train")), set(self.corpora("test"))
        return bool(train and test and not train & test)

    def system_config(self, system: str) -> dict[str, Any]:
        return dict((self.config.get("systems") or {}).get(system) or {})


def load_run(path: str | pathlib.Path) -> Run:
    """Read a run directory; an unfinished run gives the folds that are done."""
    path = pathlib.Path(path)
    config_path = path / "config.yaml"
    if not config_path.is_file():
        raise RunDirectoryError(f"{path} is not a run directory (no config.yaml)")
    config = yaml.safe_load(config_path.read_text()) or {}
    manifest = _read_csv(path / "manifest.csv")
    if manifest is None:
        raise RunDirectoryError(f"{path}: manifest.csv is missing")
    folds_path = path / "folds.json"
    folds = json.loads(folds_path.read_text()).get("folds", []) if folds_path.is_file() else []
    validation_path = path / "validation.json"
    validation = json.loads(validation_path.read_text()) if validation_path.is_file() else {}
    metrics = _read_csv(path / "results" / "metrics.csv")
    predictions = _read_csv(path / "results" / "predictions.csv")
    if metrics is None or predictions is None:
        metrics, predictions = _collect_folds(path)
    if metrics.empty:
        raise RunDirectoryError(f"{path}: no finished folds (no results/metrics.csv and no systems/*/seed_*/*/metrics.json)")
    cross = _cross_sets(path, config)
    return Run(path, config, manifest, folds, validation, metrics, predictions, _read_csv(path / "skipped.csv"), cross,
               _dev_metrics(path))


def _read_csv(path: pathlib.Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    return pd.read_csv(path, dtype={"id": str, "speaker": str, "session": str, "fold": str})


def _collect_folds(path: pathlib.Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Metrics and test predictions from the per-fold files (as the runner's ``collect`` does)."""
    rows, frames = [], []
    for metrics_path in sorted((path / "systems").glob("*/seed_*/*/metrics.json")):
        record = json.loads(metrics_path.read_text())
        key = {"system": record["system"], "seed": int(record["seed"]), "fold": str(record["fold"])}
        rows.append({**key, "n_test": record.get("n_test"), **record.get("test", {})})
        frame = _read_csv(metrics_path.parent / "predictions.csv")
        if frame is not None:
            frame = frame[frame["split"] == "test"].drop(columns="split")
            for column, value in reversed(list(key.items())):
                frame.insert(0, column, value)
            frames.append(frame)
    predictions = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return pd.DataFrame(rows), predictions


def _dev_metrics(path: pathlib.Path) -> pd.DataFrame:
    """Dev-set scores of every finished fold (``metrics.json``'s ``dev`` entry), for model selection."""
    rows = []
    for metrics_path in sorted((path / "systems").glob("*/seed_*/*/metrics.json")):
        record = json.loads(metrics_path.read_text())
        if record.get("dev"):
            rows.append({"system": record["system"], "seed": int(record["seed"]), "fold": str(record["fold"]), **record["dev"]})
    return pd.DataFrame(rows)


def _cross_sets(path: pathlib.Path, config: dict[str, Any]) -> list[CrossCorpusSet]:
    """Predictions of the fold models on each ``evaluate_on`` corpus."""
    names = list(config.get("evaluate_on") or {})
    for found in sorted((path / "systems").glob("*/seed_*/*/predictions_*.csv")):
        name = found.stem[len("predictions_"):]
        if name not in names:
            names.append(name)
    sets = []
    for name in names:
        frames = []
        for file in sorted((path / "systems").glob(f"*/seed_*/*/predictions_{name}.csv")):
            system, seed, fold = file.parts[-4], file.parts[-3], file.parts[-2]
            frame = _read_csv(file)
            if frame is None or frame.empty:
                continue
            if "split" in frame.columns:
                frame = frame[frame["split"] == "test"].drop(columns="split")
            frame.insert(0, "fold", fold)
            frame.insert(0, "seed", int(seed.removeprefix("seed_")))
            frame.insert(0, "system", system)
            frames.append(frame)
        if not frames:
            continue
        manifest = _read_csv(path / f"manifest_{name}.csv")
        sets.append(CrossCorpusSet(name, _corpus_name(name, config, manifest), pd.concat(frames, ignore_index=True), manifest))
    return sets


def _corpus_name(name: str, config: dict[str, Any], manifest: pd.DataFrame | None) -> str:
    if manifest is not None and "corpus" in manifest.columns and manifest["corpus"].notna().any():
        return ", ".join(sorted(set(manifest["corpus"].dropna().astype(str))))
    data = (config.get("evaluate_on") or {}).get(name) or {}
    corpus = data.get("corpus") or {}
    if corpus.get("name"):
        return str(corpus["name"])
    return pathlib.Path(str(data["manifest"])).stem if data.get("manifest") else name
