"""Analyses of saved predictions: the numbers behind the papers' tables and figures.

Pure functions over prediction tables: the pooled test predictions of a run, every system,
seed and fold (:func:`emofuse.rundir.predictions_table`):

* categorical: ``system, seed, fold, id, truth, prediction, p_<class>...``
* dimensional: ``system, seed, fold, id, truth_<dim>, pred_<dim>...``

Scores come from :mod:`emofuse.evaluation.metrics`, tests and fitted lines from
:mod:`emofuse.evaluation.stats`. Plotting lives in :mod:`emofuse.reports`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from collections.abc import Sequence

import numpy as np
import pandas as pd

from emofuse.evaluation.metrics import categorical_scores
from emofuse.evaluation.metrics import confusion_matrix
from emofuse.evaluation.metrics import dimensional_scores
from emofuse.evaluation.stats import SIGNIFICANCE_SYMBOLS
from emofuse.evaluation.stats import compare
from emofuse.evaluation.stats import least_squares_line
from emofuse.evaluation.stats import mean_and_std
from emofuse.evaluation.stats import one_sample_ttest
from emofuse.predictions import prediction_column
from emofuse.predictions import truth_column

#: The EMOTyDA dialogue-act taxonomy (Saha et al., 2020) as Triantafyllopoulos et al. list it.
DIALOGUE_ACT_NAMES: dict[str, str] = {
    "a": "acknowledgement",
    "ag": "agreement",
    "ans": "answer",
    "ap": "apology",
    "b": "back-channeling",
    "c": "command",
    "dag": "disagreement",
    "g": "greeting",
    "o": "opinion",
    "oth": "other",
    "q": "question",
    "s": "statement",
}

_KEYS = ("system", "seed", "fold", "stratum", "target", "group")


# Scores ----------------------------------------------------------------------------------


def pooled_scores(
    predictions: pd.DataFrame,
    *,
    by: Sequence[str] = ("system", "seed"),
    labels: Sequence[str] | None = None,
    targets: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Scores of the predictions pooled within each group of ``by`` (one row per group).

    Categorical (``labels`` given): ``UA``, ``WA``, ``macro_F1`` over the classes present in
    the group's truth and ``F1_<class>`` for every class of ``labels``; the F1 of a class
    absent from the group's truth is NaN (undefined), not 0. Dimensional (``targets`` given):
    ``CCC_<dim>``, ``PCC_<dim>``, ``MSE_<dim>`` and ``CCC_mean``, the mean CCC over targets.
    ``n`` is the number of predictions in the group.

    >>> frame = pd.DataFrame({"system": "a", "seed": 0, "truth": ["x", "x", "y"], "prediction": ["x", "y", "y"]})
    >>> row = pooled_scores(frame, labels=["x", "y"]).iloc[0]
    >>> float(row["UA"]), int(row["n"])
    (0.75, 3)
    """
    if (labels is None) == (targets is None):
        raise ValueError("give exactly one of labels (categorical) or targets (dimensional)")
    rows = []
    for key, part in predictions.groupby(list(by), sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        row: dict[str, object] = dict(zip(by, key, strict=True))
        row["n"] = int(len(part))
        if labels is not None:
            truth = part["truth"].astype(str).tolist()
            prediction = part["prediction"].astype(str).tolist()
            scores = categorical_scores(truth, prediction, labels=list(labels))
            present = set(truth)
            for label in labels:
                if label not in present:
                    scores[f"F1_{label}"] = math.nan
            row.update(scores)
        else:
            values = []
            for target in targets or ():
                truth = part[truth_column(target)].to_numpy(dtype=np.float64)
                prediction = part[prediction_column(target)].to_numpy(dtype=np.float64)
                scores = _dimensional(truth, prediction)
                for metric, value in scores.items():
                    row[f"{metric}_{target}"] = value
                values.append(scores["CCC"])
            row["CCC_mean"] = float(np.mean(values)) if values else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def mean_std_table(frame: pd.DataFrame, *, by: Sequence[str] = ("system",), columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Per group of ``by``: ``<column>_mean`` and ``<column>_std`` (``ddof=1``) of each column.

    ``columns`` defaults to every numeric column that is not a key (``system``, ``seed``,
    ``fold``, ...) or ``n``. ``count`` is the number of rows averaged.

    >>> frame = pd.DataFrame({"system": ["a", "a"], "seed": [0, 1], "UA": [0.5, 0.7]})
    >>> row = mean_std_table(frame).iloc[0]
    >>> round(float(row["UA_mean"]), 3), round(float(row["UA_std"]), 4), int(row["count"])
    (0.6, 0.1414, 2)
    """
    if columns is None:
        columns = [c for c in frame.columns if c not in {*_KEYS, *by, "n"} and pd.api.types.is_numeric_dtype(frame[c])]
    rows = []
    for key, part in frame.groupby(list(by), sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        row: dict[str, object] = dict(zip(by, key, strict=True))
        row["count"] = int(len(part))
        for column in columns:
            mean, std = mean_and_std(part[column].to_numpy(dtype=np.float64))
            row[f"{column}_mean"] = mean
            row[f"{column}_std"] = std
        rows.append(row)
    return pd.DataFrame(rows)


def seed_means(metrics: pd.DataFrame, *, columns: Sequence[str]) -> pd.DataFrame:
    """Per system and seed, the mean over folds of each metric (one run of the whole protocol).

    These are the samples of the papers' t-tests: Triantafyllopoulos et al. report mean and
    standard deviation over 5 runs (seeds) of the cross-validation score and test between them.
    """
    return metrics.groupby(["system", "seed"], sort=False)[list(columns)].mean().reset_index()


def best_seed(metrics: pd.DataFrame, *, metric: str, lower_is_better: bool = False) -> dict[str, int]:
    """Per system, the seed with the best fold-mean ``metric`` (the papers' "best model")."""
    means = seed_means(metrics, columns=[metric])
    result = {}
    for system, part in means.groupby("system", sort=False):
        ordered = part.sort_values([metric, "seed"], ascending=[lower_is_better, True], na_position="last")
        result[str(system)] = int(ordered.iloc[0]["seed"])
    return result


# Significance ----------------------------------------------------------------------------


def paired_values(samples: pd.DataFrame, *, metric: str, systems: Sequence[str]) -> dict[str, np.ndarray]:
    """Each system's ``metric`` in one shared order of the samples' keys (``seed``, ``fold``: the
    columns present), NaN where a system lacks a key, so that paired tests compare like with like."""
    keys = [c for c in ("seed", "fold") if c in samples.columns]
    if not keys:
        return {s: samples.loc[samples["system"] == s, metric].to_numpy(dtype=np.float64) for s in systems}
    table = samples.pivot_table(index=keys, columns="system", values=metric, aggfunc="mean")
    return {s: table[s].to_numpy(dtype=np.float64) if s in table.columns else np.full(len(table), np.nan)
            for s in systems}


def pairwise_tests(samples: pd.DataFrame, *, metric: str, systems: Sequence[str] | None = None,
                   test: str = "paired_t") -> pd.DataFrame:
    """Two-sided tests of ``metric`` between every pair of systems (``test``: ``paired_t``,
    ``wilcoxon`` or ``independent_t``; see :func:`emofuse.evaluation.stats.compare`).

    ``samples`` holds one row per system and sample (for example :func:`seed_means`, or one per
    fold and seed); paired tests pair rows by their ``seed`` and ``fold``. Each pair ``(a, b)``
    with ``a`` before ``b`` in ``systems`` gets ``mean_a``, ``mean_b``, ``statistic``,
    ``p_value``, ``n_a`` and ``n_b``.
    """
    systems = list(systems) if systems is not None else list(dict.fromkeys(samples["system"]))
    values = paired_values(samples, metric=metric, systems=systems)
    rows = []
    for i, a in enumerate(systems):
        for b in systems[i + 1 :]:
            test_result = compare(values[a], values[b], test=test)
            rows.append({"system_a": a, "system_b": b, "metric": metric,
                         "mean_a": mean_and_std(values[a])[0], "mean_b": mean_and_std(values[b])[0],
                         "statistic": test_result.statistic, "p_value": test_result.p_value,
                         "n_a": test_result.n[0], "n_b": test_result.n[1]})
    return pd.DataFrame(rows, columns=["system_a", "system_b", "metric", "mean_a", "mean_b", "statistic", "p_value", "n_a", "n_b"])


def baseline_marks(
    samples: pd.DataFrame,
    *,
    metric: str,
    systems: Sequence[str],
    baselines: Sequence[str],
    alpha: float = 0.05,
    symbols: Sequence[str] = SIGNIFICANCE_SYMBOLS,
    test: str = "paired_t",
) -> dict[str, str]:
    """Markers per system: ``symbols[k]`` when it differs from ``baselines[k]`` at ``p < alpha``.

    As in Triantafyllopoulos et al. (2022), Tables 1 and 5: fusion results significantly
    different from the first unimodal baseline (CNN14) are marked *, from the second (BERT) †.
    Baselines themselves get no marks.
    """
    if len(baselines) > len(symbols):
        raise ValueError(f"{len(baselines)} baselines but only {len(symbols)} symbols")
    values = paired_values(samples, metric=metric, systems=list(dict.fromkeys([*systems, *baselines])))
    marks = {}
    for system in systems:
        if system in baselines:
            marks[system] = ""
            continue
        marks[system] = "".join(
            symbol
            for baseline, symbol in zip(baselines, symbols, strict=False)
            if compare(values[system], values[baseline], test=test).p_value < alpha
        )
    return marks


# Confusion matrices ----------------------------------------------------------------------


def confusion_matrices(predictions: pd.DataFrame, *, labels: Sequence[str], normalize: bool = False) -> dict[str, pd.DataFrame]:
    """Per system: rows true classes, columns predicted classes.

    Counts are pooled over folds and averaged over seeds (each test utterance counts once per
    seed, so the counts sum to the number of test utterances); ``normalize`` divides each row
    by its total (the recall of the row class on the diagonal).
    """
    result = {}
    for system, part in predictions.groupby("system", sort=False):
        seeds = part["seed"].nunique() if "seed" in part.columns else 1
        counts = np.asarray(confusion_matrix(part["truth"].astype(str).tolist(), part["prediction"].astype(str).tolist(),
                                             labels=list(labels)), dtype=np.float64)
        if normalize:
            totals = counts.sum(axis=1, keepdims=True)
            matrix = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        else:
            matrix = counts / seeds
        result[str(system)] = pd.DataFrame(matrix, index=list(labels), columns=list(labels))
    return result


# Stratification --------------------------------------------------------------------------


def strata_from_metadata(manifest: pd.DataFrame, key: str = "scripted") -> dict[str, str]:
    """Utterance id -> stratum name from a manifest column (utterances without a value are left out).

    The ``scripted`` flag becomes ``scripted`` / ``improvised``; other columns keep their values.

    >>> frame = pd.DataFrame({"id": ["a", "b", "c"], "scripted": [True, "False", None]})
    >>> strata_from_metadata(frame)
    {'a': 'scripted', 'b': 'improvised'}
    """
    if key not in manifest.columns:
        return {}
    result = {}
    for identifier, value in zip(manifest["id"].astype(str), manifest[key], strict=True):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            continue
        if key == "scripted":
            result[identifier] = "scripted" if _truthy(value) else "improvised"
        else:
            result[identifier] = str(value)
    return result


def stratified_scores(
    predictions: pd.DataFrame,
    strata: Mapping[str, str],
    *,
    labels: Sequence[str] | None = None,
    targets: Sequence[str] | None = None,
    by: Sequence[str] = ("system", "seed"),
) -> pd.DataFrame:
    """:func:`pooled_scores` within each stratum (``stratum`` column); ids without one are left out."""
    frame = predictions.assign(stratum=predictions["id"].astype(str).map(strata))
    frame = frame[frame["stratum"].notna()]
    return pooled_scores(frame, by=[*by, "stratum"], labels=labels, targets=targets)


# Residuals -------------------------------------------------------------------------------


def residuals(predictions: pd.DataFrame, *, targets: Sequence[str]) -> pd.DataFrame:
    """Long table of error residuals ``e = y_true - y_pred`` (Triantafyllopoulos et al., eq. 7).

    One row per prediction and target: the key columns present (``system``, ``seed``,
    ``fold``), ``id``, ``target``, ``truth``, ``prediction``, ``residual``. A negative
    residual is over-prediction, a positive one under-prediction.

    >>> frame = pd.DataFrame({"id": ["a"], "truth_valence": [0.5], "pred_valence": [0.2]})
    >>> round(float(residuals(frame, targets=["valence"])["residual"].iloc[0]), 3)
    0.3
    """
    keys = [c for c in ("system", "seed", "fold") if c in predictions.columns]
    parts = []
    for target in targets:
        part = predictions[[*keys, "id"]].copy()
        part["target"] = target
        part["truth"] = predictions[truth_column(target)].to_numpy(dtype=np.float64)
        part["prediction"] = predictions[prediction_column(target)].to_numpy(dtype=np.float64)
        part["residual"] = part["truth"] - part["prediction"]
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def residual_bias(
    table: pd.DataFrame, groups: Mapping[str, str], *, by: Sequence[str] = ("system", "target")
) -> pd.DataFrame:
    """Per group (for example dialogue act) a two-sided one-sample t-test of mean residual 0.

    ``table`` is :func:`residuals` output; ``groups`` maps utterance ids to groups (ids without
    a group are left out). Columns: ``by``, ``group``, ``n``, ``mean`` and ``std`` of the
    residuals, ``statistic``, ``p_value``. A significant negative mean is over-prediction.
    """
    frame = table.assign(group=table["id"].astype(str).map(groups))
    frame = frame[frame["group"].notna()]
    rows = []
    for key, part in frame.groupby([*by, "group"], sort=False):
        values = part["residual"].to_numpy(dtype=np.float64)
        test = one_sample_ttest(values, mean=0.0)
        mean, std = mean_and_std(values)
        rows.append({**dict(zip([*by, "group"], key, strict=True)), "n": int(values.size), "mean": mean, "std": std,
                     "statistic": test.statistic, "p_value": test.p_value})
    return pd.DataFrame(rows, columns=[*by, "group", "n", "mean", "std", "statistic", "p_value"])


def residual_lines(table: pd.DataFrame, *, by: Sequence[str] = ("system", "target")) -> pd.DataFrame:
    """Least-squares line of residual against gold value per group (regression towards the mean).

    For predictions shrunk towards the mean, ``y_pred = m + k (y - m)`` with ``k < 1``, the
    residual is ``(1 - k)(y - m)``: the slope ``1 - k`` is positive, 0 for residuals that do not
    depend on the gold value, and 1 for a model that always predicts ``m``. Columns: ``by``,
    ``slope``, ``intercept``, ``n``.
    """
    rows = []
    for key, part in table.groupby(list(by), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        slope, intercept = least_squares_line(part["truth"].to_numpy(), part["residual"].to_numpy())
        rows.append({**dict(zip(by, key, strict=True)), "slope": slope, "intercept": intercept, "n": int(len(part))})
    return pd.DataFrame(rows, columns=[*by, "slope", "intercept", "n"])


# Data-size scaling -----------------------------------------------------------------------


def scaling_curve(points: pd.DataFrame, *, metric: str) -> pd.DataFrame:
    """Mean and std of ``metric`` per system and training-set size (a data-size curve).

    ``points`` holds ``system``, ``train_size`` and ``metric`` (one row per run, for example
    per seed); the result has ``system``, ``train_size``, ``mean``, ``std``, ``runs``: systems
    in order of first appearance, sizes ascending.
    """
    rows = []
    for (system, size), part in points.groupby(["system", "train_size"], sort=False):
        mean, std = mean_and_std(part[metric].to_numpy(dtype=np.float64))
        rows.append({"system": system, "train_size": float(size), "mean": mean, "std": std, "runs": int(len(part))})
    frame = pd.DataFrame(rows, columns=["system", "train_size", "mean", "std", "runs"])
    order = {system: index for index, system in enumerate(dict.fromkeys(points["system"]))}
    frame = frame.assign(order=frame["system"].map(order)).sort_values(["order", "train_size"], kind="stable")
    return frame.drop(columns="order").reset_index(drop=True)


def scaling_fit(curve: pd.DataFrame) -> pd.DataFrame:
    """Per system, the least-squares line of the mean score against ``log2(train_size)``.

    Boigne et al. (2020) observe that UA grows in a log fashion with the number of training
    examples; ``per_doubling`` is the slope, the gain per doubling of the training set.
    """
    rows = []
    for system, part in curve.groupby("system", sort=False):
        slope, intercept = least_squares_line(np.log2(part["train_size"].to_numpy(dtype=np.float64)), part["mean"].to_numpy())
        rows.append({"system": system, "per_doubling": slope, "intercept": intercept, "points": int(len(part))})
    return pd.DataFrame(rows, columns=["system", "per_doubling", "intercept", "points"])


def _dimensional(truth: np.ndarray, prediction: np.ndarray) -> dict[str, float]:
    if truth.size < 2:
        return {"CCC": math.nan, "PCC": math.nan, "MSE": float(np.mean((truth - prediction) ** 2)) if truth.size else math.nan}
    with np.errstate(invalid="ignore", divide="ignore"):
        scores = dimensional_scores(truth, prediction)
    return {k: (float(v) if v is not None else math.nan) for k, v in scores.items()}


def _truthy(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes", "scripted"}
    return bool(value)
