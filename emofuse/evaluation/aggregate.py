"""Aggregation of per-fold, per-seed scores into mean +- std tables."""

from __future__ import annotations

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


def summarize(metrics: pd.DataFrame, *, task_kind: str, systems: Sequence[str] | None = None) -> pd.DataFrame:
    """Per system: mean and std of every metric over all (seed, fold) runs, the std over seeds
    of the per-seed fold means, and the number of runs.

    >>> frame = pd.DataFrame({"system": ["a", "a"], "seed": [0, 0], "fold": ["1", "2"], "UA": [0.5, 0.7]})
    >>> row = summarize(frame, task_kind="categorical").iloc[0]
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
            row[f"{name}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
            seed_means = part.groupby("seed")[name].mean()
            row[f"{name}_seed_std"] = float(seed_means.std(ddof=1)) if len(seed_means) > 1 else 0.0
        rows.append(row)
    return pd.DataFrame(rows)


def pooled_summary(
    predictions: pd.DataFrame,
    *,
    task_kind: str,
    labels: Sequence[str] | None = None,
    targets: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Per system: ``<metric>_pooled_mean`` / ``_pooled_std``, the headline metric (UA or mean
    CCC) of each seed's test predictions pooled over folds, then mean and std over seeds.

    Fold means (:func:`summarize`) weight every fold equally; pooling weights every utterance
    equally, so with folds of unequal size and class balance the two differ, and papers use both.

    >>> frame = pd.DataFrame({"system": "a", "seed": 0, "fold": ["1", "1", "2"],
    ...                       "truth": ["x", "y", "x"], "prediction": ["x", "x", "x"]})
    >>> float(pooled_summary(frame, task_kind="categorical", labels=["x", "y"]).iloc[0]["UA_pooled_mean"])
    0.5
    """
    from emofuse.evaluation.analyses import pooled_scores

    metric = POOLED[task_kind]
    if predictions.empty:
        return pd.DataFrame(columns=["system", f"{metric}_pooled_mean", f"{metric}_pooled_std"])
    scores = pooled_scores(predictions, by=("system", "seed"), labels=labels, targets=targets)
    grouped = scores.groupby("system", sort=False)[metric]
    return pd.DataFrame({
        "system": list(grouped.groups),
        f"{metric}_pooled_mean": grouped.mean().to_numpy(),
        f"{metric}_pooled_std": grouped.std(ddof=1).fillna(0.0).to_numpy(),
    })


def format_score(mean: float, std: float, *, percent: bool) -> str:
    """``63.2 ± 4.1`` for percentages, ``0.512 ± 0.031`` otherwise."""
    if mean is None or (isinstance(mean, float) and np.isnan(mean)):
        return "n/a"
    if percent:
        return f"{100 * mean:.1f} ± {100 * std:.1f}"
    return f"{mean:.3f} ± {std:.3f}"


def summary_markdown(
    summary: pd.DataFrame,
    *,
    title: str,
    task_kind: str,
    protocol: str,
    verdict: str,
    seeds: Sequence[int],
    references: Mapping[str, Mapping[str, float]] | None = None,
) -> str:
    """A Markdown table of the headline metrics (mean ± std over folds and seeds), and the
    pooled headline metric (mean ± std over seeds) where ``summary`` has it."""
    metrics = [m for m in HEADLINE[task_kind] if f"{m}_mean" in summary.columns]
    pooled = POOLED[task_kind]
    has_pooled = f"{pooled}_pooled_mean" in summary.columns
    references = references or {}
    header = ["system", *metrics, *([f"{pooled} pooled"] if has_pooled else []), "runs"]
    if references:
        header.append("paper")
    lines = [
        f"# {title}",
        "",
        f"Protocol `{protocol}` ({verdict}); seeds {', '.join(map(str, seeds))}. "
        "Mean ± standard deviation over folds × seeds"
        + (" (UA, WA, macro-F1 in %)." if task_kind == "categorical" else ".")
        + (f" `{pooled} pooled`: {pooled} of each seed's test predictions pooled over folds, mean ± std over seeds."
           if has_pooled else ""),
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    for row in summary.to_dict(orient="records"):
        cells = [str(row["system"])]
        for metric in metrics:
            cells.append(format_score(row[f"{metric}_mean"], row[f"{metric}_std"], percent=metric in PERCENT))
        if has_pooled:
            cells.append(format_score(row[f"{pooled}_pooled_mean"], row[f"{pooled}_pooled_std"], percent=pooled in PERCENT))
        cells.append(str(row["runs"]))
        if references:
            reference = references.get(str(row["system"]), {})
            cells.append(", ".join(f"{k} {v}" for k, v in reference.items()) or "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
