"""A run's results: per-fold metrics, pooled test predictions and the summary tables.

:func:`summarize_run` reads every finished fold of a run (through :mod:`emofuse.rundir`) and
writes its results files (see :mod:`emofuse.rundir` for their names): per-fold test metrics,
pooled test predictions, the summary as JSON and Markdown, and cross-corpus metrics with
``evaluate_on`` corpora.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
from collections.abc import Sequence
from typing import Any

import pandas as pd

from emofuse.config import config_hash
from emofuse.config import to_dict
from emofuse.evaluation.aggregate import pooled_summary
from emofuse.evaluation.aggregate import summarize
from emofuse.evaluation.aggregate import summary_caption
from emofuse.evaluation.aggregate import summary_table
from emofuse.experiment import ExperimentConfig
from emofuse.files import jsonable
from emofuse.reports.render import Heading
from emofuse.reports.render import Paragraph
from emofuse.reports.render import Table
from emofuse.reports.render import render_markdown
from emofuse.rundir import CROSS_METRICS_TABLE
from emofuse.rundir import METRICS_TABLE
from emofuse.rundir import PREDICTIONS
from emofuse.rundir import SUMMARY_JSON
from emofuse.rundir import SUMMARY_MARKDOWN
from emofuse.rundir import RunDirectory
from emofuse.rundir import predictions_table


@dataclasses.dataclass
class RunResult:
    """Where a run is, its per-fold test metrics and its summary (``None`` in DDP's secondary
    processes, which write nothing)."""

    directory: pathlib.Path
    metrics: pd.DataFrame | None
    summary: pd.DataFrame | None


#: Training fields every neural system's settings name, in this order; the others only where they differ
#: from :class:`~emofuse.experiment.TrainingConfig`'s defaults. Left out: where and how it ran, not what.
_TRAINING_NAMED = ("optimizer", "learning_rate", "scheduler", "max_epochs", "batch_size")
_TRAINING_HARDWARE = {"accelerator", "devices", "num_nodes", "strategy", "num_workers", "shuffle_buffer"}


def _differences(value: Any, default: Any, prefix: str = "") -> list[str]:
    """``key value`` for every (dotted) field of config dict ``value`` that differs from ``default``."""
    parts = []
    for key, item in value.items():
        if isinstance(item, dict) and isinstance(default.get(key), dict):
            parts += _differences(item, default[key], f"{prefix}{key}.")
        elif key not in default or default[key] != item:
            parts.append(f"{prefix}{key} {_shown(item)}")
    return parts


def _shown(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list):
        return "[" + ", ".join(map(_shown, value)) + "]"
    if isinstance(value, dict):  # a component inside a list (a concat branch): name(settings)
        inner = ", ".join(f"{key} {_shown(item)}" for key, item in value.items() if key != "name")
        return f"{value['name']}({inner})" if "name" in value else "{" + inner + "}"
    return str(value)


def system_settings(config: ExperimentConfig, system: str) -> str:
    """What ``system`` ran with, in one line: its model (or score fusion) and every setting of it
    that differs from the component's defaults, its inputs or members, and for a neural model the
    optimiser, learning rate, schedule, epochs and batch size with every other training setting that
    differs from the defaults (mixed precision, mixup, patience, ...). Read from the resolved config,
    so variants (``--variant paper``) and ``--set`` overrides show as what they set.

    >>> from emofuse.experiment import load_experiment
    >>> config = load_experiment({"name": "x", "data": {"manifest": "m.csv"}, "features": {"f": {"name": "logmel"}},
    ...     "systems": {"a": {"inputs": ["f"], "model": {"name": "cnn14", "channels": [4, 8, 8, 8, 8, 8]},
    ...                       "training": {"max_epochs": 3, "precision": "bf16-mixed"}}}})
    >>> system_settings(config, "a")
    'cnn14: channels [4, 8, 8, 8, 8, 8]; inputs f; adamw, learning rate 0.001, cosine, max 3 epochs, batch 32; precision bf16-mixed'
    """
    from emofuse.components import MODELS
    from emofuse.components import SCORE_FUSIONS
    from emofuse.experiment import TrainingConfig
    from emofuse.systems.base import is_classic_model

    spec = config.systems[system]
    component, registry = (spec.model, MODELS) if spec.model is not None else (spec.fusion, SCORE_FUSIONS)
    assert component is not None  # a system has a model or a fusion
    chosen = to_dict(component.config)
    try:
        default = to_dict(registry.config_class(component.name)())
    except (TypeError, ValueError):  # a config without valid defaults for every field (concat): show them all
        default = {}
    changed = _differences(chosen, default)
    parts = [component.name + (": " + ", ".join(changed) if changed else "")]
    if spec.inputs:
        parts.append("inputs " + ", ".join(spec.inputs))
    if spec.members:
        parts.append("members " + ", ".join(spec.members))
    if spec.normalization != "global":
        parts.append(f"normalization {spec.normalization}")
    if spec.loss_weights is not None:
        parts.append(f"loss_weights {_shown(list(spec.loss_weights))}")
    if spec.model is not None and not is_classic_model(spec.model.name):
        training, defaults = to_dict(spec.training), to_dict(TrainingConfig())
        parts.append(f"{training['optimizer']}, learning rate {training['learning_rate']:g}, {training['scheduler']}, "
                     f"max {training['max_epochs']} epoch{'s' * (training['max_epochs'] != 1)}, batch {training['batch_size']}")
        others = _differences({k: v for k, v in training.items() if k not in _TRAINING_NAMED and k not in _TRAINING_HARDWARE},
                              defaults)
        if others:
            parts.append(", ".join(others))
    return "; ".join(parts)


def task_settings(config: ExperimentConfig) -> str:
    """The task's settings every system shares, in one sentence."""
    task = config.task
    if task.type == "categorical":
        return (f"Categorical: class weighting {task.class_weighting}, label smoothing {task.label_smoothing:g}, "
                f"dev {task.selection_metric} chooses the epoch (or C) where a system selects on the dev set.")
    weights = f", target weights {_shown(list(task.loss_weights))}" if task.loss_weights is not None else ""
    return (f"Dimensional ({', '.join(task.targets)}): {task.loss} loss{weights}, the dev mean CCC chooses the epoch "
            "where a system selects on the dev set.")


def fitted_epochs(run: RunDirectory, systems: Sequence[str]) -> dict[str, str]:
    """Per neural system: the mean best (kept) epoch and epochs trained over its finished folds,
    ``best 12.4 of 18.0 trained``; systems whose folds record no epochs are left out."""
    kept: dict[str, list[tuple[float, float]]] = {}
    for fold in run.finished():
        fitted = fold.metrics().get("fitted", {}) if fold.system in systems else {}
        if "epochs_trained" in fitted:
            best = fitted.get("best_epoch", fitted["epochs_trained"])
            kept.setdefault(fold.system, []).append((float(best), float(fitted["epochs_trained"])))
    return {system: f"best {sum(b for b, _ in pairs) / len(pairs):.1f} of {sum(t for _, t in pairs) / len(pairs):.1f} trained"
            for system, pairs in kept.items()}


def metrics_tables(run: RunDirectory, systems: Sequence[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Test metrics per (system, seed, fold), and cross-corpus metrics per corpus too."""
    rows, cross_rows = [], []
    for fold in run.finished():
        if fold.system not in systems:
            continue
        record = fold.metrics()
        key = fold.key
        rows.append({**key, "n_test": record.get("n_test"), **record.get("test", {})})
        for corpus, scores in record.get("cross", {}).items():
            cross_rows.append({"evaluated_on": corpus, **key, **scores})
    return pd.DataFrame(rows), pd.DataFrame(cross_rows)


def summarize_run(run: RunDirectory, config: ExperimentConfig, *, systems: Sequence[str] | None = None,
                  title: str | None = None) -> RunResult:
    """Write the run's results files (see the module docstring) and return them."""
    systems = list(systems) if systems is not None else config.system_order()
    task_type, outputs = run.task()
    metrics, cross = metrics_tables(run, systems)
    run.write_result(METRICS_TABLE, metrics.to_csv(index=False))
    summary = summarize(metrics, systems=systems)
    predictions = predictions_table(run.predictions(systems=systems))
    if not predictions.empty:
        run.write_result(PREDICTIONS, predictions.to_csv(index=False))
        categorical = task_type == "categorical"
        pooled = pooled_summary(predictions, task_type=task_type, labels=list(outputs) if categorical else None,
                                targets=None if categorical else list(outputs))
        summary = summary.merge(pooled, on="system", how="left")
    cross_summaries: dict[str, pd.DataFrame] = {}
    if not cross.empty:
        run.write_result(CROSS_METRICS_TABLE, cross.to_csv(index=False))
        for corpus, part in cross.groupby("evaluated_on", sort=False):
            cross_summaries[str(corpus)] = summarize(part.drop(columns="evaluated_on"), systems=systems)
    epochs = fitted_epochs(run, systems)
    settings = {system: {"settings": system_settings(config, system), **({"epochs": epochs[system]} if system in epochs else {})}
                for system in summary["system"].astype(str) if system in config.systems}
    validation = run.validation()
    planned = len(validation.get("folds", [])) * len(config.seeds)
    finished = {str(row["system"]): int(row["runs"]) for row in summary.to_dict(orient="records")}
    incomplete = {system: finished.get(system, 0) for system in systems
                  if planned and finished.get(system, 0) < planned}
    run.write_result(SUMMARY_JSON, json.dumps(jsonable({
        "name": config.name,
        "protocol": to_dict(config.protocol),
        "seeds": list(config.seeds),
        "config_hash": config_hash(config),
        "task": {"type": task_type, "outputs": list(outputs)},
        "planned_runs": planned or None,
        "systems": summary.to_dict(orient="records"),
        "settings": settings,
        "cross": {corpus: s.to_dict(orient="records") for corpus, s in cross_summaries.items()},
    }), indent=2))
    verdict = validation.get("verdict", "not validated")
    caption = summary_caption(task_type=task_type, protocol=config.protocol.name, verdict=verdict, seeds=config.seeds,
                              pooled=any(c.endswith("_pooled_mean") for c in summary.columns))
    if incomplete:
        caption += (f" **Incomplete:** of the {planned} runs (folds × seeds) the protocol plans, "
                    + ", ".join(f"{system} finished {runs}" for system, runs in incomplete.items())
                    + "; their scores are over those runs only.")
    blocks: list[Any] = [
        Heading(title or config.name, 1),
        Paragraph(caption),
    ]
    if settings:  # a run with finished folds
        blocks += [
            Table(summary_table(summary, task_type=task_type, references=config.references), ""),
            Heading("Settings", 2),
            Paragraph(task_settings(config) + " Each system's model and training settings as they ran (`config.yaml` "
                      "holds them all); for neural systems the best (kept) epoch and the epochs trained, means over the "
                      "finished runs."),
            Table(pd.DataFrame([{"system": system, "settings": row["settings"], "epochs": row.get("epochs", "")}
                                for system, row in settings.items()]), ""),
        ]
    else:
        blocks.append(Paragraph("No fold has finished yet."))
    for corpus, part in cross_summaries.items():
        blocks += [
            Heading(f"Evaluated on {corpus}", 2),
            Paragraph("The fold models on all of it (on its fold test utterances where it shares utterances with the "
                      "training corpus). " + summary_caption(task_type=task_type, protocol=config.protocol.name,
                                                              verdict="different corpus", seeds=config.seeds, pooled=False)),
            Table(summary_table(part, task_type=task_type), ""),
        ]
    run.write_result(SUMMARY_MARKDOWN, render_markdown(blocks))
    return RunResult(run.path, metrics, summary)
