"""Metrics as pure functions: ``metric(truth, prediction, *, labels=None) -> float``.

Class metrics come from scikit-learn (which, unlike audmetric, keeps items whose prediction
falls outside ``labels`` in the counts); correlations and errors from audmetric. Each docstring
gives the formula; the tests check each against the formula written out.
"""

from __future__ import annotations

from collections.abc import Sequence

import audmetric
import numpy as np
import sklearn.metrics


def weighted_accuracy(truth: Sequence[object], prediction: Sequence[object]) -> float:
    """WA: the fraction of correct predictions (what the SER literature calls weighted accuracy).

    .. math:: WA = \\frac{1}{N} \\sum_i [y_i = \\hat y_i]

    >>> weighted_accuracy(["a", "a", "b"], ["a", "b", "b"])
    0.6666666666666666
    """
    _check(truth, prediction)
    return float(np.mean(np.asarray(truth, dtype=object) == np.asarray(prediction, dtype=object)))


def unweighted_average_recall(
    truth: Sequence[object], prediction: Sequence[object], *, labels: Sequence[object] | None = None
) -> float:
    """UA (UAR): recall averaged over classes with equal weight.

    .. math:: UA = \\frac{1}{K} \\sum_k \\frac{|\\{i: y_i = k, \\hat y_i = k\\}|}{|\\{i: y_i = k\\}|}

    Classes in ``labels`` that never occur in ``truth`` count as recall 0; pass only the
    classes present to leave them out (:func:`categorical_scores` does).

    >>> unweighted_average_recall(["a", "a", "b"], ["a", "b", "b"])
    0.75
    """
    _check(truth, prediction)
    labels = _labels(truth, prediction, labels)
    return float(sklearn.metrics.recall_score(truth, prediction, labels=labels, average="macro", zero_division=0))


def macro_f1(
    truth: Sequence[object], prediction: Sequence[object], *, labels: Sequence[object] | None = None
) -> float:
    """Macro-F1: the unweighted mean of per-class F1 = 2 P R / (P + R).

    >>> round(macro_f1(["a", "a", "b"], ["a", "b", "b"]), 4)
    0.6667
    """
    _check(truth, prediction)
    labels = _labels(truth, prediction, labels)
    return float(sklearn.metrics.f1_score(truth, prediction, labels=labels, average="macro", zero_division=0))


def f1_per_class(
    truth: Sequence[object], prediction: Sequence[object], *, labels: Sequence[object] | None = None
) -> dict[str, float]:
    """F1 of each class, ``{class: 2 P R / (P + R)}``.

    >>> f1_per_class(["a", "a", "b"], ["a", "b", "b"])
    {'a': 0.6666666666666666, 'b': 0.6666666666666666}
    """
    _check(truth, prediction)
    labels = _labels(truth, prediction, labels)
    values = sklearn.metrics.f1_score(truth, prediction, labels=labels, average=None, zero_division=0)
    return {str(k): float(v) for k, v in zip(labels, values, strict=True)}


def confusion_matrix(
    truth: Sequence[object],
    prediction: Sequence[object],
    *,
    labels: Sequence[object] | None = None,
    normalize: bool = False,
) -> list[list[float]]:
    """Rows are true classes, columns predicted classes (counts, or row-normalised).

    >>> confusion_matrix(["a", "a", "b"], ["a", "b", "b"], labels=["a", "b"])
    [[1, 1], [0, 1]]
    """
    _check(truth, prediction)
    labels = _labels(truth, prediction, labels)
    counts = sklearn.metrics.confusion_matrix(truth, prediction, labels=labels)
    if not normalize:
        return counts.tolist()
    totals = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0).tolist()


def concordance_correlation(truth: Sequence[float], prediction: Sequence[float]) -> float:
    """CCC (Lin, 1989).

    .. math:: CCC = \\frac{2 \\rho \\sigma_y \\sigma_{\\hat y}}{\\sigma_y^2 + \\sigma_{\\hat y}^2 + (\\mu_y - \\mu_{\\hat y})^2}

    >>> concordance_correlation([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    1.0
    """
    _check(truth, prediction)
    return float(audmetric.concordance_cc(np.asarray(truth, float), np.asarray(prediction, float)))


def pearson_correlation(truth: Sequence[float], prediction: Sequence[float]) -> float:
    """PCC: covariance over the product of standard deviations.

    >>> pearson_correlation([1.0, 2.0, 3.0], [2.0, 4.0, 6.0])
    1.0
    """
    _check(truth, prediction)
    return float(audmetric.pearson_cc(np.asarray(truth, float), np.asarray(prediction, float)))


def mean_squared_error(truth: Sequence[float], prediction: Sequence[float]) -> float:
    """MSE: mean of (y - y_hat)^2.

    >>> mean_squared_error([1.0, 2.0], [1.0, 4.0])
    2.0
    """
    _check(truth, prediction)
    return float(audmetric.mean_squared_error(np.asarray(truth, float), np.asarray(prediction, float)))


def categorical_scores(
    truth: Sequence[object], prediction: Sequence[object], *, labels: Sequence[object]
) -> dict[str, float]:
    """UA, WA and macro-F1 over the classes present in ``truth`` (plus per-class F1 as ``f1_<class>``)."""
    present = [label for label in labels if label in set(truth)]
    scores = {
        "UA": unweighted_average_recall(truth, prediction, labels=present),
        "WA": weighted_accuracy(truth, prediction),
        "macro_F1": macro_f1(truth, prediction, labels=present),
    }
    for label, value in f1_per_class(truth, prediction, labels=list(labels)).items():
        scores[f"F1_{label}"] = value
    return scores


def dimensional_scores(truth: Sequence[float], prediction: Sequence[float]) -> dict[str, float]:
    """CCC, PCC and MSE of one dimension."""
    return {
        "CCC": concordance_correlation(truth, prediction),
        "PCC": pearson_correlation(truth, prediction),
        "MSE": mean_squared_error(truth, prediction),
    }


def _labels(truth: Sequence[object], prediction: Sequence[object], labels: Sequence[object] | None) -> list:
    return list(labels) if labels is not None else sorted(set(truth) | set(prediction), key=str)


def _check(truth: Sequence[object], prediction: Sequence[object]) -> None:
    if len(truth) != len(prediction):
        raise ValueError(f"truth has {len(truth)} items but prediction has {len(prediction)}")
    if len(truth) == 0:
        raise ValueError("metrics need at least one item")
