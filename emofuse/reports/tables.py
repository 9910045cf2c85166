"""Report tables: analysis results formatted as tables of strings (one DataFrame per table).

Cells may use ``**bold**`` and ``code`` spans; the Markdown and HTML writers render both.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from emofuse.data.labels import DISPLAY_NAMES
from emofuse.data.protocols import Fold
from emofuse.evaluation.aggregate import PERCENT
from emofuse.evaluation.aggregate import format_score
from emofuse.evaluation.analyses import DIALOGUE_ACT_NAMES
from emofuse.evaluation.stats import format_p_value

#: Column titles of metric names.
METRIC_TITLES = {"UA": "UA (%)", "WA": "WA (%)", "macro_F1": "macro-F1 (%)", "CCC_mean": "mean CCC"}


def display_name(code: str) -> str:
    """A class code's readable name (``hap`` -> ``happy``); unknown codes are kept."""
    return DISPLAY_NAMES.get(str(code), str(code))


def metric_title(metric: str) -> str:
    """``CCC_valence`` -> ``CCC valence``; UA, WA and macro-F1 with their unit.

    >>> metric_title("CCC_valence"), metric_title("UA"), metric_title("F1_hap")
    ('CCC valence', 'UA (%)', 'F1 happy (%)')
    """
    if metric in METRIC_TITLES:
        return METRIC_TITLES[metric]
    if metric.startswith("F1_"):
        return f"F1 {display_name(metric[3:])} (%)"
    return metric.replace("_", " ")


def is_percent(metric: str) -> bool:
    return metric in PERCENT or metric.startswith("F1_")


def score(mean: float, std: float, metric: str, *, count: int | None = None) -> str:
    """Mean ± std as :func:`emofuse.evaluation.aggregate.format_score` writes it; the value
    alone when it is a single run (``count == 1``).

    >>> score(0.6312, 0.05, "UA"), score(0.41, 0.0, "CCC_valence", count=1)
    ('63.1 ± 5.0', '0.410')
    """
    if count == 1:
        return value(mean, metric)
    return format_score(mean, std, percent=is_percent(metric))


def value(number: float, metric: str) -> str:
    """A single score: percentages with one decimal, others with three."""
    if number is None or not math.isfinite(float(number)):
        return "n/a"
    return f"{100 * number:.1f}" if is_percent(metric) else f"{number:.3f}"


def reference_value(number: float, metric: str) -> str:
    """A paper's number as the recipe records it; percentages given as fractions are scaled.

    >>> reference_value(76.07, "UA"), reference_value(0.739, "UA"), reference_value(0.407, "CCC_valence")
    ('76.07', '73.9', '0.407')
    """
    number = float(number)
    if is_percent(metric) and abs(number) <= 1.0:
        number *= 100
    return f"{number:g}"


def results_table(
    summary: pd.DataFrame,
    *,
    metrics: Sequence[str],
    references: Mapping[str, Mapping[str, float]] | None = None,
    marks: Mapping[str, Mapping[str, str]] | None = None,
) -> pd.DataFrame:
    """One row per system: each metric's mean ± std, its significance marks, the paper's value.

    ``summary`` has ``system``, ``runs`` and ``<metric>_mean`` / ``<metric>_std`` columns
    (:func:`emofuse.evaluation.aggregate.summarize`); ``marks[metric][system]`` are appended to
    the cell; a ``<metric> paper`` column follows a metric when any system has a reference for it.
    """
    references = references or {}
    marks = marks or {}
    rows = []
    for record in summary.to_dict(orient="records"):
        system = str(record["system"])
        row: dict[str, str] = {"system": system}
        for metric in metrics:
            if f"{metric}_mean" not in record:
                continue
            cell = score(record[f"{metric}_mean"], record[f"{metric}_std"], metric)
            row[metric_title(metric)] = cell + marks.get(metric, {}).get(system, "")
            if any(metric in r for r in references.values()):
                reference = references.get(system, {}).get(metric)
                row[f"{metric_title(metric)} paper"] = reference_value(reference, metric) if reference is not None else ""
        row["runs"] = str(record.get("runs", ""))
        rows.append(row)
    return pd.DataFrame(rows)


def pvalue_matrix(pairs: pd.DataFrame, systems: Sequence[str], *, alpha: float = 0.05) -> pd.DataFrame:
    """Pairwise p-values as an upper-triangular system x system table (significant in bold)."""
    table = pd.DataFrame("", index=list(systems), columns=list(systems))
    for record in pairs.to_dict(orient="records"):
        text = format_p_value(record["p_value"])
        if record["p_value"] < alpha:
            text = f"**{text}**"
        table.loc[record["system_a"], record["system_b"]] = text
    for system in systems:
        table.loc[system, system] = "–"
    table = table.iloc[:-1, 1:] if len(systems) > 1 else table
    return table.reset_index(names="system")


def per_class_table(summary: pd.DataFrame, labels: Sequence[str], *, prefix: str = "F1_") -> pd.DataFrame:
    """Systems x classes: mean ± std of ``<prefix><class>`` (percent)."""
    rows = []
    for record in summary.to_dict(orient="records"):
        row = {"system": str(record["system"])}
        for label in labels:
            key = f"{prefix}{label}"
            row[display_name(label)] = score(record.get(f"{key}_mean", math.nan), record.get(f"{key}_std", math.nan), key,
                                             count=record.get("count"))
        rows.append(row)
    return pd.DataFrame(rows)


def strata_table(
    summary: pd.DataFrame, *, metrics: Sequence[str], strata: Sequence[str], systems: Sequence[str]
) -> pd.DataFrame:
    """Systems x metrics, each cell ``value_1 / value_2 / ...`` over ``strata`` (the papers' S/I).

    The best stratum of each cell is in bold, as Triantafyllopoulos et al. highlight it.
    ``summary`` is :func:`emofuse.evaluation.analyses.mean_std_table` by system and stratum.
    """
    rows = []
    for system in systems:
        part = summary[summary["system"] == system]
        row = {"system": system}
        for metric in metrics:
            means = []
            for stratum in strata:
                found = part.loc[part["stratum"] == stratum, f"{metric}_mean"]
                means.append(float(found.iloc[0]) if len(found) else math.nan)
            finite = [m for m in means if math.isfinite(m)]
            best = (min(finite) if metric.startswith("MSE") else max(finite)) if len(finite) > 1 else None
            cells = [f"**{value(m, metric)}**" if best is not None and m == best else value(m, metric) for m in means]
            row[metric_title(metric)] = " / ".join(cells)
        rows.append(row)
    return pd.DataFrame(rows)


def stratum_counts(
    manifest: pd.DataFrame,
    strata: Mapping[str, str],
    *,
    labels: Sequence[str] | None = None,
    strata_order: Sequence[str] | None = None,
    column: str = "label",
) -> pd.DataFrame:
    """Utterances per class (rows, in ``labels`` order) and stratum (columns), with totals."""
    frame = manifest.assign(stratum=manifest["id"].astype(str).map(strata))
    frame = frame[frame["stratum"].notna() & frame[column].notna()]
    table = pd.crosstab(frame[column].astype(str), frame["stratum"])
    rows = list(labels) if labels is not None else sorted(table.index)
    columns = list(strata_order) if strata_order is not None else sorted(table.columns)
    table = table.reindex(index=rows, columns=columns, fill_value=0)
    table["total"] = table.sum(axis=1)
    table.loc["total"] = table.sum(axis=0)
    table.index = [display_name(i) if i != "total" else "total" for i in table.index]
    return table.astype(int).astype(str).reset_index(names="class")


def bias_table(bias: pd.DataFrame, *, systems: Sequence[str], targets: Sequence[str], alpha: float = 0.05, field: str = "p_value") -> pd.DataFrame:
    """Groups (acts) x (target, system): p-values (significant in bold) or mean residuals.

    Laid out as Table 4 of Triantafyllopoulos et al.: one row per dialogue act, one column per
    target and system. ``field`` is ``p_value`` or ``mean`` (with the sign of the bias:
    negative is over-prediction).
    """
    groups = sorted(set(bias["group"].astype(str)))
    counts = bias.groupby("group")["n"].max()
    rows = []
    for group in groups:
        row = {"act": act_title(group), "n": str(int(counts.get(group, 0)))}
        for target in targets:
            for system in systems:
                found = bias[(bias["group"] == group) & (bias["target"] == target) & (bias["system"] == system)]
                column = f"{target} {system}" if len(targets) > 1 else system
                if found.empty:
                    row[column] = ""
                    continue
                record = found.iloc[0]
                if field == "p_value":
                    text = format_p_value(record["p_value"])
                    row[column] = f"**{text}**" if record["p_value"] < alpha else text
                else:
                    text = f"{record['mean']:+.3f}"
                    row[column] = f"**{text}**" if record["p_value"] < alpha else text
        rows.append(row)
    return pd.DataFrame(rows)


def lines_table(lines: pd.DataFrame, *, systems: Sequence[str], targets: Sequence[str]) -> pd.DataFrame:
    """Systems x targets: ``slope`` of the residual-vs-gold line (with the intercept)."""
    rows = []
    for system in systems:
        row = {"system": system}
        for target in targets:
            found = lines[(lines["system"] == system) & (lines["target"] == target)]
            if found.empty:
                row[target] = ""
                continue
            record = found.iloc[0]
            row[f"{target} slope"] = f"{record['slope']:+.3f}"
            row[f"{target} intercept"] = f"{record['intercept']:+.3f}"
        rows.append(row)
    return pd.DataFrame(rows)


def confusion_table(matrix: pd.DataFrame, *, normalized: bool) -> pd.DataFrame:
    """A confusion matrix with readable class names: percentages, or counts (one decimal when
    averaged over seeds gives fractions)."""
    integral = bool(np.allclose(matrix.to_numpy(), np.round(matrix.to_numpy())))
    table = matrix.map(lambda v: f"{100 * v:.1f}" if normalized else (f"{v:.0f}" if integral else f"{v:.1f}"))
    table.index = [display_name(i) for i in matrix.index]
    table.columns = [display_name(c) for c in matrix.columns]
    return table.reset_index(names="true \\ predicted")


def fold_table(folds: Sequence[Fold], validation: Mapping[str, Any], manifest: pd.DataFrame) -> pd.DataFrame:
    """Per fold: utterances and speakers in train / dev / test, the test speakers, text overlap."""
    speaker = dict(zip(manifest["id"].astype(str), manifest.get("speaker", pd.Series([None] * len(manifest))), strict=True))
    checks = {str(c.get("fold")): c for c in validation.get("folds", [])}
    rows = []
    for fold in folds:
        name = fold.name

        def speakers(part: str, fold: Fold = fold) -> list[str]:
            return sorted({str(speaker[i]) for i in getattr(fold, part) if i in speaker and pd.notna(speaker[i])})

        check = checks.get(name, {})
        test_speakers = speakers("test")
        shown = ", ".join(test_speakers) if len(test_speakers) <= 4 else f"{', '.join(test_speakers[:3])}, … ({len(test_speakers)})"
        overlap = check.get("text_overlap")
        rows.append({
            "fold": name,
            "train": str(len(fold.train)),
            "dev": str(len(fold.dev)),
            "test": str(len(fold.test)),
            "train speakers": str(len(speakers("train"))),
            "dev speakers": str(len(speakers("dev"))),
            "test speakers": shown or "–",
            "shared speakers": str(len(check.get("speakers_shared_train_test", [])) + len(check.get("speakers_shared_dev_test", []))) if check else "",
            "test text seen in train": f"{100 * overlap:.1f} %" if overlap is not None else "",
        })
    return pd.DataFrame(rows)


def scaling_table(curve: pd.DataFrame, fit: pd.DataFrame, *, metric: str) -> pd.DataFrame:
    """Systems x training-set sizes (mean ± std), and the gain per doubling of the training set."""
    sizes = sorted(set(curve["train_size"]))
    rows = []
    for system, part in curve.groupby("system", sort=False):
        row = {"system": str(system)}
        for size in sizes:
            found = part[part["train_size"] == size]
            row[f"n={size:.0f}"] = score(found["mean"].iloc[0], found["std"].iloc[0], metric, count=int(found["runs"].iloc[0])) if len(found) else ""
        slope = fit.loc[fit["system"] == system, "per_doubling"]
        row["per doubling"] = (f"{100 * slope.iloc[0]:+.1f}" if is_percent(metric) else f"{slope.iloc[0]:+.3f}") if len(slope) and math.isfinite(slope.iloc[0]) else "n/a"
        rows.append(row)
    return pd.DataFrame(rows)


def act_title(code: str) -> str:
    """``q`` -> ``q (question)``: a dialogue-act code with its EMOTyDA name."""
    name = DIALOGUE_ACT_NAMES.get(code)
    return f"{code} ({name})" if name else code
