"""Report sections over several runs: data-size scaling curves (few-shot runs) and
cross-corpus results (``evaluate_on`` corpora, or runs tested on corpora they never trained on)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

import pandas as pd

from emofuse.config import to_dict
from emofuse.evaluation import analyses
from emofuse.evaluation.stats import SIGNIFICANCE_SYMBOLS
from emofuse.evaluation.stats import mean_and_std
from emofuse.reports import figures
from emofuse.reports import tables
from emofuse.reports.run import Run
from emofuse.reports.run import baseline_systems
from emofuse.reports.run import headline_metric

if TYPE_CHECKING:
    from emofuse.reports.report import _Builder


def scaling_section(builder: _Builder, runs: Sequence[Run]) -> None:
    few = [r for r in runs if r.few_shot]
    if not few:
        return
    builder.heading("Data-size scaling")
    groups: dict[str, list[Run]] = {}
    for run in few:
        groups.setdefault(_scaling_key(run, run.protocol.get("base") or {}), []).append(run)
    for run in runs:
        if not run.few_shot and _scaling_key(run, run.protocol) in groups:
            groups[_scaling_key(run, run.protocol)].append(run)
    for index, members in enumerate(groups.values()):
        members = sorted(members, key=lambda r: r.train_size)
        kind = members[0].task_type
        metric = headline_metric(kind)
        rows = []
        for run in members:
            for record in analyses.seed_means(run.metrics, columns=[metric]).to_dict(orient="records"):
                rows.append({"system": record["system"], "train_size": round(run.train_size, 1), metric: record[metric]})
        curve = analyses.scaling_curve(pd.DataFrame(rows), metric=metric)
        fit = analyses.scaling_fit(curve)
        base = members[0].protocol.get("base") or members[0].protocol
        name = f"scaling_{index + 1}"
        builder.paragraph(f"Runs {', '.join(f'`{r.name}`' for r in members)}: few-shot subsets of protocol "
                          f"`{base.get('name', '?')}` (n_per_class = "
                          + ", ".join(str(r.protocol.get("n_per_class", "all")) for r in sorted(members, key=lambda r: r.train_size))
                          + "); x is the mean number of training utterances per fold; dev and test sets are the same for every size.")
        builder.table(tables.scaling_table(curve, fit, metric=metric),
                      f"{tables.metric_title(metric)} against training-set size (mean ± std over seeds of the fold mean); "
                      "`per doubling`: slope of the least-squares line of the score against log2(size).", name)
        bars = "; error bars: std over seeds" if any(len(r.seeds) > 1 for r in members) else ""
        builder.draw(name, f"{tables.metric_title(metric)} against the number of training examples (log x-axis{bars}).",
                     figures.scaling_figure, curve, ylabel=tables.metric_title(metric),
                     colors=figures.system_colors(members[0].systems + [s for s in curve["system"] if s not in members[0].systems]),
                     title="Score against number of training examples", scale=100.0 if tables.is_percent(metric) else 1.0)


def _scaling_key(run: Run, protocol: Mapping[str, Any]) -> str:
    return json.dumps({"data": to_dict(run.config.data), "task": run.config.task.type,
                       "protocol": dict(protocol)}, sort_keys=True, default=str)


@dataclasses.dataclass(frozen=True)
class _Column:
    title: str
    samples: pd.DataFrame  # system, seed, metrics: per seed, the mean over fold models
    run: Run
    cross: bool


def _corpus_columns(runs: Sequence[Run]) -> list[_Column]:
    """In-domain, cross-corpus-run and ``evaluate_on`` columns, titled ``train → test``."""
    columns: list[_Column] = []
    for run in runs:
        if run.few_shot:
            continue
        train = ", ".join(run.corpora("train")) or run.name
        test = ", ".join(run.corpora("test")) or run.name
        names = [c for c in run.metrics.columns if c not in {"system", "seed", "fold", "n_test"}]
        columns.append(_Column(f"{train} → {test}", analyses.seed_means(run.metrics, columns=names), run, run.cross_corpus))
        for cross in run.cross:
            scores = analyses.pooled_scores(cross.predictions, by=("system", "seed", "fold"),
                                            labels=run.labels if run.task_type == "categorical" else None,
                                            targets=run.targets if run.task_type == "dimensional" else None)
            names = [c for c in scores.columns if c not in {"system", "seed", "fold", "n"}]
            columns.append(_Column(f"{train} → {cross.corpus}", analyses.seed_means(scores, columns=names), run, True))
    keys = [(c.run.task_type, c.title) for c in columns]  # one table per task kind: titles must differ within a kind
    return [dataclasses.replace(c, title=f"{c.title} (`{c.run.name}`)") if keys.count((c.run.task_type, c.title)) > 1 else c
            for c in columns]


def cross_corpus_section(builder: _Builder, runs: Sequence[Run]) -> None:
    columns = _corpus_columns(runs)
    kinds = sorted({c.run.task_type for c in columns if c.cross})
    if not kinds:
        return
    builder.heading("Cross-corpus results")
    alpha = builder.options.alpha
    for kind in kinds:
        part = [c for c in columns if c.run.task_type == kind]
        systems = list(dict.fromkeys(s for c in part for s in c.run.systems))
        baselines = list(builder.options.baselines) if builder.options.baselines else baseline_systems(part[0].run, systems)
        legend = ", ".join(f"{symbol} against `{b}`" for b, symbol in zip(baselines, SIGNIFICANCE_SYMBOLS, strict=False))
        metrics = ["UA"] if kind == "categorical" else [f"PCC_{t}" for t in part[0].run.targets]
        for metric in metrics:
            rows = []
            for system in systems:
                row = {"system": system}
                for column in part:
                    found = column.samples.loc[column.samples["system"] == system, metric] if metric in column.samples else []
                    if len(found) == 0:
                        row[column.title] = ""
                        continue
                    mean, std = mean_and_std(found.to_numpy(dtype=float))
                    mark = ""
                    if baselines and system not in baselines:
                        mark = analyses.baseline_marks(column.samples, metric=metric, systems=[system], baselines=baselines,
                                                       alpha=alpha, test=builder.options.test)[system]
                    row[column.title] = tables.score(mean, std, metric, count=len(found)) + mark
                rows.append(row)
            caption = (f"{tables.metric_title(metric)} in- and cross-corpus (columns: train → test corpus); mean ± std over "
                       "seeds of the mean over fold models"
                       + (" — PCC, as the corpora rate dimensions on different scales" if kind == "dimensional" else "") + "."
                       + (f" Marks: {builder.options.test_name} over seeds, p < {alpha:g}: {legend}." if legend else ""))
            builder.table(pd.DataFrame(rows), caption, f"cross_corpus_{kind}_{metric}")
    builder.paragraph("Each fold model of a run with `evaluate_on` is tested on the whole other corpus and the scores are "
                      "averaged over fold models, as Triantafyllopoulos et al. test every IEMOCAP fold model on MSP-Podcast; "
                      "a run whose test folds come from corpora its training folds never saw is a cross-corpus column "
                      "of its own. In-domain columns are the runs' own test folds.")
