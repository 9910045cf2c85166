"""Aggregation of per-fold, per-seed scores into mean +- std tables."""

from __future__ import annotations

import math
from collections.abc import Mapping
from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Headline metrics per task kind, in table order.
HEADLINE = {
    "categorical": ["UA", "WA", "macro_F1"],
    "dimensional": ["CCC_mean", "CCC_valence", "CCC_arousal", "CCC_dominance", "PCC_valence", "PCC_arousal", "PCC_dominance", "MSE_valence", "MSE_arousal", "MSE_dominance"],
}
PERCENT = {"UA", "WA", "macro_F1"}
#: The metric recomputed on each seed's test predictions pooled over all folds (the way many
#: papers report cross-validation, e.g. leave-one-speaker-out on EmoDB), per task kind.
POOLED = {"categorical": "UA", "dimensional": "CCC_mean"}


def summarize(metrics: pd.DataFrame, *, systems: Sequence[str] | None = None) -> pd.DataFrame:
    """Per system: mean and std of every metric over all (seed, fold) runs, the std over seeds
    of the per-seed fold means, and the number of runs. A std of a single value is NaN (not 0).

    >>> frame = pd.DataFrame({"system": ["a", "a"], "seed": [0, 0], "fold": ["1", "2"], "UA": [0.5, 0.7]})
    >>> row = summarize(frame).iloc[0]
    >>> round(float(row["UA_mean"]), 3), round(float(row["UA_std"]), 3), int(row["runs"])
    (0.6, 0.141, 2)
    """
    if metrics.empty:
        return pd.DataFrame(columns=["system", "runs"])
    names = [c for c in metrics.columns if c not in {"system", "seed", "fold", "n_test"}]
    rows = []
    order = list(systems) if systems is not None else list(dict.fromkeys(metrics["system"]))
    for system in order:
        part = metrics[metrics["system"] == system]
        if part.empty:
            continue
        row: dict[str, object] = {"system": system, "runs": int(len(part)), "folds": int(part["fold"].nunique()),
                                  "seeds": int(part["seed"].nunique())}
        for name in names:
            values = part[name].astype(float)
            row[f"{name}_mean"] = float(values.mean())
            row[f"{name}_std"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
            seed_means = part.groupby("seed")[name].mean()
            row[f"{name}_seed_std"] = float(seed_means.std(ddof=1)) if len(seed_means) > 1 else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def pooled_summary(
    predictions: pd.DataFrame,
    *,
    task_type: str,
    labels: Sequence[str] | None = None,
    targets: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Per system: ``<metric>_pooled_mean`` / ``_pooled_std``, the headline metric (UA or mean
    CCC) of each seed's test predictions pooled over folds, then mean and std over seeds.

    Fold means (:func:`summarize`) weight every fold equally; pooling weights every utterance
    equally, so with folds of unequal size and class balance the two differ, and papers use both.

    >>> frame = pd.DataFrame({"system": "a", "seed": 0, "fold": ["1", "1", "2"],
    ...                       "truth": ["x", "y", "x"], "prediction": ["x", "x", "x"]})
    >>> float(pooled_summary(frame, task_type="categorical", labels=["x", "y"]).iloc[0]["UA_pooled_mean"])
    0.5
    """
    from emofuse.evaluation.analyses import pooled_scores

    metric = POOLED[task_type]
    if predictions.empty:
        return pd.DataFrame(columns=["system", f"{metric}_pooled_mean", f"{metric}_pooled_std"])
    scores = pooled_scores(predictions, by=("system", "seed"), labels=labels, targets=targets)
    grouped = scores.groupby("system", sort=False)[metric]
    return pd.DataFrame({
        "system": list(grouped.groups),
        f"{metric}_pooled_mean": grouped.mean().to_numpy(),
        f"{metric}_pooled_std": grouped.std(ddof=1).to_numpy(),
    })


def format_score(mean: float, std: float | None, *, percent: bool) -> str:
    """``63.2 ± 4.1`` for percentages, ``0.512 ± 0.031`` otherwise; the mean alone when there is
    no spread to show (a single value: ``std`` NaN or ``None``).

    >>> format_score(0.632, 0.041, percent=True), format_score(0.5, float("nan"), percent=False)
    ('63.2 ± 4.1', '0.500')
    """
    if mean is None or (isinstance(mean, float) and np.isnan(mean)):
        return "n/a"
    single = std is None or (isinstance(std, float) and np.isnan(std))
    if percent:
        return f"{100 * mean:.1f}" + ("" if single else f" ± {100 * std:.1f}")
    return f"{mean:.3f}" + ("" if single else f" ± {std:.3f}")


def summary_table(summary: pd.DataFrame, *, task_type: str,
                  references: Mapping[str, Mapping[str, float]] | None = None) -> pd.DataFrame:
    """The headline metrics per system (mean ± std over folds × seeds), the pooled headline
    metric where ``summary`` has it, the number of runs and the papers' values."""
    metrics = [m for m in HEADLINE[task_type] if f"{m}_mean" in summary.columns]
    pooled = POOLED[task_type]
    has_pooled = f"{pooled}_pooled_mean" in summary.columns
    references = references or {}
    rows = []
    for row in summary.to_dict(orient="records"):
        cells = {"system": str(row["system"])}
        for metric in metrics:
            cells[metric] = format_score(row[f"{metric}_mean"], row[f"{metric}_std"], percent=metric in PERCENT)
        if has_pooled:
            cells[f"{pooled} pooled"] = format_score(row[f"{pooled}_pooled_mean"], row[f"{pooled}_pooled_std"],
                                                     percent=pooled in PERCENT)
        cells["runs"] = str(row["runs"])
        if references:
            cells["paper"] = ", ".join(f"{k} {v}" for k, v in references.get(str(row["system"]), {}).items())
        rows.append(cells)
    return pd.DataFrame(rows)


def summary_caption(*, task_type: str, protocol: str, verdict: str, seeds: Sequence[int], pooled: bool) -> str:
    """What a summary table shows, in one paragraph."""
    metric = POOLED[task_type]
    spread = "mean ± standard deviation over folds × seeds" if len(seeds) > 1 else \
        "mean ± standard deviation over folds (one seed)"
    text = (f"Protocol `{protocol}` ({verdict}); seeds {', '.join(map(str, seeds))}. {spread[0].upper()}{spread[1:]}"
            + (" (UA, WA, macro-F1 in %)." if task_type == "categorical" else "."))
    if pooled:
        text += (f" `{metric} pooled`: {metric} of each seed's test predictions pooled over folds"
                 + (", mean ± std over seeds." if len(seeds) > 1 else "."))
    return text
