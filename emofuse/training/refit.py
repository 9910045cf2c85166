"""Refit a run's system on all its labelled data, for deployment (``emofuse export --refit``).

Cross-validation fits one model per fold, each on part of the data; the protocol's scores
estimate how well *the recipe* works. For deployment the recipe is applied once more to every
labelled utterance, with the hyper-parameters that cross-validation chose (never re-chosen on
test data, since there is none left):

- epochs: a system selected on dev (``selection: best_dev``) trains for the median of its
  folds' best dev epochs, and keeps the last epoch; ``selection: last`` keeps ``max_epochs``;
- ``C`` of an SVM or a logistic regression: the value chosen in most folds (ties: the median of
  the tied values);
- score fusion: its fitted parameters (weights, z-norm statistics) averaged over the folds.

Members of a fusion are refitted first, in the run's system order. Each refitted system is
saved under ``refit/<system>/seed_<n>/all`` in the run (a finished one is reused, an
interrupted one resumes from its last checkpoint), with what was chosen and why in its
``metrics.json``. The scores of a refitted system cannot be measured (there is no held-out
data): the protocol's mean ± std is the estimate to quote.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import math
import pathlib
import statistics
from typing import TYPE_CHECKING
from typing import Any

import numpy as np

from emofuse.config import Component
from emofuse.rundir import RunDirectory
from emofuse.rundir import RunDirectoryError
from emofuse.systems.base import System
from emofuse.systems.base import build_system

if TYPE_CHECKING:
    from emofuse.experiment import ExperimentConfig
    from emofuse.rundir import FoldDirectory

log = logging.getLogger(__name__)


class RefitError(ValueError):
    """A run whose folds do not say how to refit a system."""


@dataclasses.dataclass(frozen=True)
class Choice:
    """What cross-validation chose for one system: ``settings`` (``max_epochs``, ``C`` or a
    fusion's ``state``) and ``rule``, the reason in words."""

    system: str
    settings: dict[str, Any]
    rule: str


def _seed_folds(run: RunDirectory, system: str, seed: int) -> list[FoldDirectory]:
    folds = list(run.finished(system, seed))
    expected = run.fold_names()
    missing = [f for f in expected if f not in {d.fold for d in folds}]
    if missing:
        raise RefitError(f"system {system!r}, seed {seed}: folds {missing} have not finished; finish the run "
                         "before refitting (the hyper-parameters are chosen over every fold)")
    return folds


def _best_epoch(fold: FoldDirectory, fitted: dict[str, Any]) -> int | None:
    """The 1-based epoch whose weights a fold kept on dev (from its metrics, or its history)."""
    if "best_epoch" in fitted:
        return int(fitted["best_epoch"])
    from emofuse.training.history import read_history

    history = read_history(fold)
    scores = history["dev_score"].astype(float) if "dev_score" in history else None
    if scores is None or scores.isna().all():
        return None
    return int(history["epoch"].iloc[int(np.nanargmax(scores.to_numpy()))])


def _most_common(values: list[float]) -> float:
    """The value chosen most often; among tied values the (lower) median.

    >>> _most_common([0.01, 0.1, 0.01, 1.0]), _most_common([0.1, 1.0, 0.01])
    (0.01, 0.1)
    """
    counts = collections.Counter(values)
    top = max(counts.values())
    tied = sorted(v for v, n in counts.items() if n == top)
    return tied[(len(tied) - 1) // 2]


def choose_settings(run: RunDirectory, config: ExperimentConfig, system: str, seed: int) -> Choice:
    """What the folds of ``system`` with ``seed`` chose, to be reused on all the data."""
    folds = _seed_folds(run, system, seed)
    system_config = config.systems[system]
    if system_config.fusion is not None:
        states = [fold.load_system().state_dict() for fold in folds]
        keys = sorted(set().union(*states))
        if any(set(s) != set(keys) for s in states):
            raise RefitError(f"fusion {system!r}: its folds fitted different parameters")
        state = {k: np.mean([np.asarray(s[k], dtype=np.float64) for s in states], axis=0) for k in keys}
        rule = (f"{', '.join(keys)} averaged over {len(folds)} folds" if keys
                else "nothing fitted (the same fusion in every fold)")
        return Choice(system, {"state": state}, rule)
    fitted = [fold.metrics().get("fitted", {}) for fold in folds]
    if all("C" in f for f in fitted):
        values = [float(f["C"]) for f in fitted]
        c = _most_common(values)
        return Choice(system, {"C": c}, f"C = {c:g}, chosen on dev in {values.count(c)} of {len(values)} folds "
                                        f"({', '.join(f'{v:g}' for v in values)})")
    training = system_config.training
    if training.selection == "best_dev":
        epochs = [_best_epoch(fold, f) for fold, f in zip(folds, fitted, strict=True)]
        if any(e is None for e in epochs):
            raise RefitError(f"system {system!r}: some folds did not record their best dev epoch")
        chosen = max(1, int(math.floor(statistics.median(epochs) + 0.5)))  # type: ignore[arg-type]
        return Choice(system, {"max_epochs": chosen},
                      f"{chosen} epochs, the median best dev epoch of {len(epochs)} folds ({', '.join(map(str, epochs))})")
    return Choice(system, {"max_epochs": training.max_epochs}, f"{training.max_epochs} epochs as configured (selection: last)")


def refit_systems(run_dir: str | pathlib.Path, system: str, seed: int, *, progress: bool = True) -> tuple[dict[str, System], dict[str, Choice], int]:
    """Refit ``system`` (and the members it needs) of a finished run on all labelled data.

    Returns the systems by name (members first), what was chosen for each, and the number of
    utterances they were trained on.
    """
    from emofuse.tasks import build_task
    from emofuse.training.runner import Runner
    from emofuse.training.seeding import seed_everything

    run = RunDirectory(pathlib.Path(run_dir).resolve())
    config = run.config()
    names = config.closure([system])
    choices = {name: choose_settings(run, config, name, seed) for name in names}
    runner = Runner(config, run.path, progress=progress)
    main, _, task, folds = runner.prepare()
    ids = list(dict.fromkeys(i for fold in folds for part in (fold.train, fold.dev, fold.test) for i in part))
    systems: dict[str, System] = {}
    for name in names:
        directory = run.refit(name, seed)
        choice = choices[name]
        if directory.done:
            systems[name] = directory.load_system()
            continue
        system_config = config.systems[name]
        system_task = task
        if system_config.loss_weights is not None:
            system_task = build_task(config.task, loss_weights=system_config.loss_weights)
        members = [systems[m] for m in system_config.members]
        spec = runner.spec(name, system_task, main, [m.spec for m in members])
        if "C" in choice.settings:
            assert spec.model is not None
            model = Component(spec.model.name, dataclasses.replace(spec.model.config, c_grid=(choice.settings["C"],)))
            spec = dataclasses.replace(spec, model=model)
        seed_everything(seed)
        fitted_system = build_system(spec, members=members or None)
        fitted: dict[str, Any] = {}
        if "state" in choice.settings:
            fitted_system.load_state_dict(choice.settings["state"])
        else:
            training = system_config.training
            if "max_epochs" in choice.settings:
                training = dataclasses.replace(training, max_epochs=choice.settings["max_epochs"], selection="last",
                                               early_stopping_patience=None)
            data = runner.data(name, system_task, main, ids)
            log.info("refitting %s on %d utterances: %s", name, len(ids), choice.rule)
            fitted = fitted_system.fit(data, None, task=system_task, training=training, seed=None,
                                       directory=directory.path, progress=progress)
        directory.save_system(fitted_system, fitted=fitted)
        directory.write_metrics({"trained_on": len(ids), "fitted": fitted, "chosen": _plain(choice)})
        directory.mark_done()
        directory.remove_checkpoints()
        systems[name] = fitted_system
    return systems, choices, len(ids)


def _plain(choice: Choice) -> dict[str, Any]:
    settings = {k: (v if k != "state" else {n: np.asarray(a).tolist() for n, a in v.items()})
                for k, v in choice.settings.items()}
    return {"settings": settings, "rule": choice.rule}


__all__ = ["Choice", "RefitError", "RunDirectoryError", "choose_settings", "refit_systems"]
