"""The run directory: the one module that knows where ``emofuse run`` keeps what.

::

    emofuse-run.json    marker: format version, run id, emofuse version, created, the task
                        (type and outputs); a directory without it is not a run
    config.yaml  manifest.csv  manifest_<corpus>.csv  folds.json  validation.json
    skipped.csv  skipped_<corpus>.csv                 (utterances left out, with why)
    systems/<system>/seed_<s>/<fold>/
        system.json  model.safetensors                the fitted system (what an export copies)
        predictions.csv  predictions_<corpus>.csv     dev and test outputs; outputs on evaluate_on corpora
        metrics.json                                  test, dev and cross-corpus scores
        history.csv  learning_curve.png               per-epoch losses and dev scores (neural systems)
        checkpoints/  logs/                           while training
        done.json                                     written last: the fold is finished
    refit/<system>/seed_<s>/all/                      ``emofuse export --refit``: the system trained on all
                                                      labelled data (same files, no predictions)
    results/  metrics.csv  predictions.csv  summary.json  summary.md  cross_metrics.csv
    evaluations/<name>/                               ``emofuse evaluate``: the same layout again

The runner, ``emofuse report``, ``emofuse export`` and ``emofuse evaluate`` read runs through
:class:`RunDirectory` as typed objects (:class:`~emofuse.experiment.ExperimentConfig`,
:class:`~emofuse.data.manifest.Manifest`, :class:`~emofuse.data.protocols.Fold`,
:class:`~emofuse.predictions.Predictions`). ``--restart`` deletes only the files listed here
(:meth:`RunDirectory.delete`), never a directory it did not create.
"""

from __future__ import annotations

import dataclasses
import datetime
import fnmatch
import json
import logging
import os
import pathlib
import uuid
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

from emofuse.files import atomic_write_text
from emofuse.files import jsonable
from emofuse.predictions import Predictions

if TYPE_CHECKING:
    import pandas as pd

    from emofuse.data.manifest import Manifest
    from emofuse.data.protocols import Fold
    from emofuse.experiment import ExperimentConfig
    from emofuse.systems.base import System

log = logging.getLogger(__name__)

FORMAT = "emofuse-run"
FORMAT_VERSION = 2
MARKER = "emofuse-run.json"
CONFIG = "config.yaml"
FOLDS = "folds.json"
VALIDATION = "validation.json"
SYSTEMS = "systems"
#: Systems refitted on all labelled data (``emofuse export --refit``), as ``refit/<system>/seed_<n>/all``.
REFIT = "refit"
ALL_DATA = "all"
RESULTS = "results"
EVALUATIONS = "evaluations"
PREDICTIONS = "predictions.csv"
METRICS = "metrics.json"
DONE = "done.json"
HISTORY = "history.csv"
LEARNING_CURVE = "learning_curve.png"
CHECKPOINTS = "checkpoints"
LOGS = "logs"
METRICS_TABLE = "metrics.csv"
CROSS_METRICS_TABLE = "cross_metrics.csv"
SUMMARY_JSON = "summary.json"
SUMMARY_MARKDOWN = "summary.md"
#: The main corpus of a run; other names are its ``evaluate_on`` corpora.
MAIN = "main"

#: Files emofuse writes, by directory level (glob patterns); ``delete`` removes these only.
_RUN_FILES = (MARKER, CONFIG, "manifest.csv", "manifest_*.csv", FOLDS, VALIDATION, "skipped.csv", "skipped_*.csv")
_FOLD_FILES = ("system.json", "model.safetensors", "model.onnx", PREDICTIONS, "predictions_*.csv", METRICS, DONE,
               HISTORY, LEARNING_CURVE, ".*.tmp*", ".*")
_RESULT_FILES = (METRICS_TABLE, PREDICTIONS, SUMMARY_JSON, SUMMARY_MARKDOWN, CROSS_METRICS_TABLE, "*.png")


class RunDirectoryError(ValueError):
    """A directory that is not (or not yet) an emofuse run, or a run that lacks what is asked for."""


def _suffix(name: str, corpus: str) -> str:
    stem, dot, extension = name.rpartition(".")
    return name if corpus == MAIN else f"{stem}_{corpus}{dot}{extension}"


@dataclasses.dataclass(frozen=True)
class Marker:
    """What ``emofuse-run.json`` says about a run."""

    id: str
    created: str
    emofuse_version: str
    task_type: str | None = None
    outputs: tuple[str, ...] = ()
    format: str = FORMAT
    format_version: int = FORMAT_VERSION


class FoldDirectory:
    """One (system, seed, fold) of a run."""

    def __init__(self, run: RunDirectory, system: str, seed: int, fold: str, *, root: str = SYSTEMS) -> None:
        self.run = run
        self.system = system
        self.seed = seed
        self.fold = fold
        self.path = run.path / root / system / f"seed_{seed}" / fold

    def __repr__(self) -> str:
        return f"FoldDirectory({self.system!r}, seed {self.seed}, {self.fold!r})"

    @property
    def key(self) -> dict[str, Any]:
        return {"system": self.system, "seed": self.seed, "fold": self.fold}

    @property
    def done(self) -> bool:
        return (self.path / DONE).is_file()

    def mark_done(self) -> None:
        atomic_write_text(self.path / DONE, json.dumps({"done": True, "finished": _now()}))

    @property
    def checkpoints(self) -> pathlib.Path:
        return self.path / CHECKPOINTS

    def remove_checkpoints(self) -> None:
        """Delete the training checkpoints once the fitted system is saved."""
        import shutil

        shutil.rmtree(self.checkpoints, ignore_errors=True)

    @property
    def logs(self) -> pathlib.Path:
        return self.path / LOGS

    @property
    def history_path(self) -> pathlib.Path:
        return self.path / HISTORY

    @property
    def learning_curve_path(self) -> pathlib.Path:
        return self.path / LEARNING_CURVE

    # The fitted system ---------------------------------------------------------------------
    def save_system(self, system: System, *, fitted: Mapping[str, Any] | None = None) -> None:
        system.save(self.path, fitted=fitted, provenance={"run": self.run.marker().id, **self.key})

    def load_system(self, **kwargs: Any) -> System:
        from emofuse.systems.base import load_system

        if not self.done:
            raise RunDirectoryError(f"{self.run.path}: system {self.system!r} has not finished seed {self.seed}, {self.fold}")
        return load_system(self.path, **kwargs)

    # Predictions and metrics ---------------------------------------------------------------
    def write_predictions(self, predictions: Predictions, corpus: str = MAIN) -> None:
        atomic_write_text(self.path / _suffix(PREDICTIONS, corpus), predictions.to_frame().to_csv(index=False))

    def predictions(self, corpus: str = MAIN) -> Predictions:
        import pandas as pd

        path = self.path / _suffix(PREDICTIONS, corpus)
        if not path.is_file():
            raise RunDirectoryError(f"{path} does not exist")
        task_type, outputs = self.run.task()
        return Predictions.from_frame(pd.read_csv(path, dtype={"id": str, "split": str, "truth": str}),
                                      task_type=task_type, outputs=outputs)  # type: ignore[arg-type]

    def corpora(self) -> list[str]:
        """The ``evaluate_on`` corpora this fold has predictions for."""
        stem = PREDICTIONS.rsplit(".", 1)[0] + "_"
        return sorted(p.stem[len(stem):] for p in self.path.glob(_suffix(PREDICTIONS, "*")))

    def write_metrics(self, record: Mapping[str, Any]) -> None:
        atomic_write_text(self.path / METRICS, json.dumps(jsonable({**self.key, **record}), indent=2))

    def metrics(self) -> dict[str, Any]:
        path = self.path / METRICS
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            raise RunDirectoryError(f"{path} does not exist") from None


class RunDirectory:
    """An ``emofuse run`` directory (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = pathlib.Path(path)

    def __repr__(self) -> str:
        return f"RunDirectory({str(self.path)!r})"

    # The marker ----------------------------------------------------------------------------
    @property
    def is_run(self) -> bool:
        return (self.path / MARKER).is_file()

    def marker(self) -> Marker:
        path = self.path / MARKER
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            hint = " (written by an older emofuse)" if (self.path / CONFIG).is_file() else ""
            raise RunDirectoryError(f"{self.path} is not an emofuse run directory (no {MARKER}){hint}") from None
        except json.JSONDecodeError as error:
            raise RunDirectoryError(f"{path}: invalid JSON: {error}") from None
        if data.get("format") != FORMAT or int(data.get("format_version", 0)) > FORMAT_VERSION:
            raise RunDirectoryError(f"{path}: not a run this emofuse reads (format {data.get('format')!r} "
                                    f"version {data.get('format_version')})")
        data["outputs"] = tuple(data.get("outputs") or ())
        return Marker(**data)

    def create(self, config: ExperimentConfig, *, restart: bool = False) -> None:
        """Make this directory a run of ``config``, or check that it already is one.

        An existing run of another config is refused unless ``restart``, which deletes it (only
        emofuse's own files); a non-empty directory that is not a run is always refused. The seeds
        may change: every seed's folds are its own, so adding seeds to a finished run trains only
        the new ones. So may the systems that nothing has been trained for yet (no fold directory
        of their own or of a system that fuses them): adding a system to a run, or changing one
        before it ran, trains only that system.
        """
        import yaml

        from emofuse.config import to_dict

        current = json.loads(json.dumps(jsonable(to_dict(config))))
        if self.path.exists() and not self.path.is_dir():
            raise RunDirectoryError(f"{self.path} is a file, not a run directory")
        if self.path.is_dir() and any(self.path.iterdir()):
            if not self.is_run:
                raise RunDirectoryError(
                    f"{self.path} exists, is not empty and is not an emofuse run (no {MARKER}); emofuse will not "
                    "write into it or delete it. Choose another output directory.")
            stored = self.path / CONFIG
            previous = yaml.safe_load(stored.read_text()) if stored.is_file() else None
            if restart:
                self.delete()
            elif previous is not None and any(self.finished()):
                previous = _as_parsed(previous)
                trained = self._trained_systems(previous)
                if _comparable(previous, trained) != _comparable(current, trained):
                    raise RunDirectoryError(f"{self.path} holds a run of a different config; use another output "
                                            "directory or --restart to discard it")
        self.path.mkdir(parents=True, exist_ok=True)
        if not self.is_run:
            import emofuse

            marker = Marker(id=uuid.uuid4().hex[:12], created=_now(), emofuse_version=emofuse.__version__)
            self._write_marker(marker)
        atomic_write_text(self.path / CONFIG, yaml.safe_dump(current, sort_keys=False, allow_unicode=True))

    def _trained_systems(self, config: Any) -> set[str]:
        """Systems with a fold directory (finished or interrupted), and every member they fuse."""
        root = self.path / SYSTEMS
        trained = {p.name for p in root.iterdir() if p.is_dir()} if root.is_dir() else set()
        systems = config.get("systems") if isinstance(config, dict) else None
        pending = list(trained)
        while pending and isinstance(systems, dict):
            members = (systems.get(pending.pop()) or {}).get("members") or []
            for member in members:
                if member not in trained:
                    trained.add(member)
                    pending.append(member)
        return trained

    def _write_marker(self, marker: Marker) -> None:
        atomic_write_text(self.path / MARKER, json.dumps(jsonable(dataclasses.asdict(marker)), indent=2))

    def set_task(self, task_type: str, outputs: Sequence[str]) -> None:
        marker = self.marker()
        if marker.task_type is not None and (marker.task_type, marker.outputs) != (task_type, tuple(outputs)):
            raise RunDirectoryError(f"{self.path}: the run predicts {marker.task_type} {list(marker.outputs)}, "
                                    f"not {task_type} {list(outputs)} (did the corpus change?); use --restart")
        self._write_marker(dataclasses.replace(marker, task_type=task_type, outputs=tuple(outputs)))

    def task(self) -> tuple[str, tuple[str, ...]]:
        """The run's task type and output names."""
        marker = self.marker()
        if marker.task_type is None:
            raise RunDirectoryError(f"{self.path}: the run has not prepared its data yet")
        return marker.task_type, marker.outputs

    # Config, data and folds ----------------------------------------------------------------
    def config(self) -> ExperimentConfig:
        import yaml

        from emofuse.config import ConfigError
        from emofuse.experiment import load_experiment

        self.marker()
        path = self.path / CONFIG
        try:
            return load_experiment(yaml.safe_load(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise RunDirectoryError(f"{path} does not exist") from None
        except (ConfigError, yaml.YAMLError) as error:
            raise RunDirectoryError(f"{path}: {error}") from None

    def write_manifest(self, manifest: Manifest, corpus: str = MAIN) -> None:
        manifest.save(self.path / _suffix("manifest.csv", corpus))

    def manifest(self, corpus: str = MAIN) -> Manifest:
        from emofuse.data.manifest import Manifest

        path = self.path / _suffix("manifest.csv", corpus)
        if not path.is_file():
            raise RunDirectoryError(f"{path} does not exist")
        return Manifest.load(path)

    def has_manifest(self, corpus: str = MAIN) -> bool:
        return (self.path / _suffix("manifest.csv", corpus)).is_file()

    def write_skipped(self, failures: Mapping[str, str], corpus: str = MAIN) -> pathlib.Path:
        import pandas as pd

        path = self.path / _suffix("skipped.csv", corpus)
        atomic_write_text(path, pd.DataFrame({"id": list(failures), "reason": list(failures.values())}).to_csv(index=False))
        return path

    def write_folds(self, protocol: Mapping[str, Any], folds: Sequence[Fold]) -> None:
        """Store the folds; an existing, different set is refused (the corpus changed)."""
        path = self.path / FOLDS
        payload = jsonable({"protocol": dict(protocol), "folds": [f.to_dict() for f in folds]})
        if path.exists() and json.loads(path.read_text()) != payload:
            raise RunDirectoryError(f"{path}: the folds differ from the stored ones (did the corpus change?); use --restart")
        atomic_write_text(path, json.dumps(payload))

    def folds(self) -> list[Fold]:
        from emofuse.data.protocols import Fold

        path = self.path / FOLDS
        if not path.is_file():
            raise RunDirectoryError(f"{path} does not exist (the run has not made its folds yet)")
        return [Fold.from_dict(f) for f in json.loads(path.read_text())["folds"]]

    def fold_names(self) -> list[str]:
        return [f.name for f in self.folds()] if (self.path / FOLDS).is_file() else []

    def write_validation(self, report: Mapping[str, Any]) -> None:
        atomic_write_text(self.path / VALIDATION, json.dumps(jsonable(dict(report)), indent=2))

    def validation(self) -> dict[str, Any]:
        path = self.path / VALIDATION
        return json.loads(path.read_text()) if path.is_file() else {}

    # Folds of systems ----------------------------------------------------------------------
    def fold(self, system: str, seed: int, fold: str) -> FoldDirectory:
        return FoldDirectory(self, system, seed, fold)

    def refit(self, system: str, seed: int) -> FoldDirectory:
        """Where ``system`` refitted on all labelled data with ``seed`` lives (see
        :mod:`emofuse.training.refit`); it is never one of the run's folds."""
        return FoldDirectory(self, system, seed, ALL_DATA, root=REFIT)

    def finished(self, system: str | None = None, seed: int | None = None) -> Iterator[FoldDirectory]:
        """Every finished (system, seed, fold), in system, seed and protocol fold order."""
        order = {name: k for k, name in enumerate(self.fold_names())}
        found = []
        pattern = f"{system or '*'}/seed_{'*' if seed is None else seed}/*/{DONE}"
        for done in (self.path / SYSTEMS).glob(pattern):
            fold_path = done.parent
            name, seed_name = fold_path.parts[-3], fold_path.parts[-2]
            found.append(FoldDirectory(self, name, int(seed_name.removeprefix("seed_")), fold_path.name))
        found.sort(key=lambda f: (f.system, f.seed, order.get(f.fold, len(order)), f.fold))
        yield from found

    def predictions(self, corpus: str = MAIN, *, split: str | None = "test",
                    systems: Sequence[str] | None = None) -> dict[tuple[str, int, str], Predictions]:
        """``(system, seed, fold) -> Predictions`` of every finished fold (one split, or all)."""
        result = {}
        for fold in self.finished():
            if systems is not None and fold.system not in systems:
                continue
            try:
                predictions = fold.predictions(corpus)
            except RunDirectoryError:
                continue
            result[(fold.system, fold.seed, fold.fold)] = predictions.select(split) if split else predictions
        return result

    # Results -------------------------------------------------------------------------------
    @property
    def results(self) -> pathlib.Path:
        return self.path / RESULTS

    def write_result(self, name: str, text: str) -> pathlib.Path:
        if not any(fnmatch.fnmatch(name, pattern) for pattern in _RESULT_FILES):
            raise ValueError(f"{name!r} is not a result file name")
        return atomic_write_text(self.results / name, text)

    def evaluation(self, name: str) -> RunDirectory:
        """The directory of ``emofuse evaluate`` results named ``name`` (same layout)."""
        return RunDirectory(self.path / EVALUATIONS / name)

    # Deletion ------------------------------------------------------------------------------
    def delete(self) -> list[pathlib.Path]:
        """Delete what emofuse wrote here (file by file), then the directories that are left
        empty; files emofuse did not write are kept and returned."""
        if not self.is_run:
            raise RunDirectoryError(f"{self.path} is not an emofuse run (no {MARKER}); nothing is deleted")
        kept: list[pathlib.Path] = []
        for root, directories, files in os.walk(self.path, topdown=False, followlinks=False):
            here = pathlib.Path(root)
            relative = here.relative_to(self.path).parts
            for name in files:
                path = here / name
                if not path.is_symlink() and _owned(relative, name):
                    path.unlink()
                else:
                    kept.append(path)
            for name in directories:
                directory = here / name
                if directory.is_symlink():
                    kept.append(directory)
                    continue
                try:
                    directory.rmdir()
                except OSError:
                    pass  # not empty: holds kept files
        if kept:
            log.warning("%s: kept %d files that emofuse did not write (first: %s)", self.path, len(kept), kept[0])
        return kept


def _but_seeds(config: Any) -> Any:
    """A parsed config without its seeds (they may change between invocations of one run)."""
    return {k: v for k, v in config.items() if k != "seeds"} if isinstance(config, dict) else config


def _comparable(config: Any, trained: set[str]) -> Any:
    """What must not change between invocations of one run: everything but the seeds and the
    systems nothing has been trained for."""
    config = _but_seeds(config)
    if isinstance(config, dict) and isinstance(config.get("systems"), dict):
        config = {**config, "systems": {k: v for k, v in config["systems"].items() if k in trained}}
    return config


def _as_parsed(stored: Any) -> Any:
    """A stored ``config.yaml`` as this version of emofuse reads it: keys added since the run was
    written take their defaults, so an upgrade alone never makes a run "of a different config"."""
    from emofuse.config import ConfigError
    from emofuse.config import to_dict
    from emofuse.experiment import load_experiment

    try:
        return json.loads(json.dumps(jsonable(to_dict(load_experiment(stored)))))
    except (ConfigError, ValueError, TypeError):
        return stored


def _owned(relative: tuple[str, ...], name: str) -> bool:
    """Whether a file at ``relative/name`` inside a run is one that emofuse writes."""
    def matches(patterns: Sequence[str]) -> bool:
        return any(fnmatch.fnmatch(name, p) for p in patterns)

    if not relative:
        return matches(_RUN_FILES) or name.startswith(".")
    if relative[0] == RESULTS and len(relative) == 1:
        return matches(_RESULT_FILES) or name.startswith(".")
    if relative[0] == EVALUATIONS and len(relative) >= 2:
        return _owned(relative[2:], name)
    if relative[0] in (SYSTEMS, REFIT) and len(relative) >= 4 and relative[2].startswith("seed_"):
        inner = relative[4:]
        if not inner:
            return matches(_FOLD_FILES)
        if inner[0] == CHECKPOINTS:
            return name.endswith(".ckpt") or name.startswith(".")
        if inner[0] == LOGS:
            return name in {"metrics.csv", "hparams.yaml"}
    return False


def _now() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")


def predictions_table(predictions: Mapping[tuple[str, int, str], Predictions]) -> pd.DataFrame:
    """One table of many folds' predictions, with ``system``, ``seed`` and ``fold`` columns
    first (what the reports' analyses group by)."""
    import pandas as pd

    frames = []
    for (system, seed, fold), part in predictions.items():
        frame = part.to_frame()
        frame = frame.drop(columns=[c for c in ("split",) if c in frame.columns])
        frame.insert(0, "fold", fold)
        frame.insert(0, "seed", seed)
        frame.insert(0, "system", system)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
