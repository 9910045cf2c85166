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
    run.write_result(SUMMARY_JSON, json.dumps(jsonable({
        "name": config.name,
        "protocol": to_dict(config.protocol),
        "seeds": list(config.seeds),
        "config_hash": config_hash(config),
        "task": {"type": task_type, "outputs": list(outputs)},
        "systems": summary.to_dict(orient="records"),
        "cross": {corpus: s.to_dict(orient="records") for corpus, s in cross_summaries.items()},
    }), indent=2))
    verdict = run.validation().get("verdict", "not validated")
    blocks: list[Any] = [
        Heading(title or config.name, 1),
        Paragraph(summary_caption(task_type=task_type, protocol=config.protocol.name, verdict=verdict, seeds=config.seeds,
                                  pooled=any(c.endswith("_pooled_mean") for c in summary.columns))),
        Table(summary_table(summary, task_type=task_type, references=config.references), ""),
    ]
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
