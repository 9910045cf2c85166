"""Calibrated posteriors: temperature scaling, the expected calibration error and reliability diagrams.

Temperature scaling (Guo et al. 2017, "On calibration of modern neural networks") divides a
system's log posteriors by one number ``T`` fitted on held-out data (speakers the system never
trained on) to minimise the negative log-likelihood: ``p_T = softmax(log p / T)``. ``T > 1``
softens an overconfident system and ``T < 1`` sharpens an underconfident one; the most probable
class never changes, only how sure the system says it is. A recogniser stores one temperature
per system (``config.json``: ``temperatures``), applied to each member before fusion and to the
fused output.

The expected calibration error (ECE) of posteriors ``p`` on ``n`` items, with the items put into
``B`` equal-width bins by their confidence ``c_i = max_k p_ik``::

    ECE = sum_b (n_b / n) * | accuracy(b) - mean confidence(b) |
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_EPS = 1e-12


def _indices(truth: Sequence[int] | Sequence[str] | np.ndarray, labels: Sequence[str] | None) -> np.ndarray:
    truth = list(truth)
    if truth and isinstance(truth[0], str):
        if labels is None:
            raise ValueError("give labels (the posterior columns' class names) with string truth")
        position = {label: k for k, label in enumerate(labels)}
        return np.array([position[t] for t in truth], dtype=np.int64)
    return np.asarray(truth, dtype=np.int64)


def apply_temperature(posteriors: np.ndarray, temperature: float) -> np.ndarray:
    """``softmax(log posteriors / temperature)`` row by row.

    >>> apply_temperature(np.array([[0.8, 0.2]]), 1.0).round(3).tolist()
    [[0.8, 0.2]]
    >>> apply_temperature(np.array([[0.8, 0.2]]), 2.0).round(3).tolist()
    [[0.667, 0.333]]
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    logits = np.log(np.clip(np.asarray(posteriors, dtype=np.float64), _EPS, None)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def negative_log_likelihood(truth: Sequence[int] | np.ndarray, posteriors: np.ndarray) -> float:
    """Mean ``-log p(true class)``."""
    indices = np.asarray(truth, dtype=np.int64)
    posteriors = np.asarray(posteriors, dtype=np.float64)
    return float(-np.mean(np.log(np.clip(posteriors[np.arange(len(indices)), indices], _EPS, None))))


def fit_temperature(truth: Sequence[int] | Sequence[str] | np.ndarray, posteriors: np.ndarray, *,
                    labels: Sequence[str] | None = None, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """The temperature that minimises the negative log-likelihood of held-out ``posteriors``.

    >>> rng = np.random.default_rng(0)
    >>> truth = rng.integers(0, 2, 400)
    >>> honest = np.where(rng.random(400) < 0.7, truth, 1 - truth)         # right 70 % of the time
    >>> overconfident = np.where(honest[:, None] == np.arange(2), 0.99, 0.01)
    >>> temperature = fit_temperature(truth, overconfident)
    >>> round(float(apply_temperature(overconfident, temperature).max(axis=1).mean()), 1)
    0.7
    """
    from scipy.optimize import minimize_scalar

    indices = _indices(truth, labels)
    posteriors = np.asarray(posteriors, dtype=np.float64)
    if len(indices) == 0:
        raise ValueError("fitting a temperature needs held-out predictions")
    if posteriors.shape != (len(indices), posteriors.shape[1]):
        raise ValueError(f"{len(indices)} targets for posteriors of shape {posteriors.shape}")
    result = minimize_scalar(lambda log_t: negative_log_likelihood(indices, apply_temperature(posteriors, float(np.exp(log_t)))),
                             bounds=(np.log(bounds[0]), np.log(bounds[1])), method="bounded", options={"xatol": 1e-4})
    return float(np.exp(result.x))


def reliability(truth: Sequence[int] | Sequence[str] | np.ndarray, posteriors: np.ndarray, *,
                labels: Sequence[str] | None = None, bins: int = 10) -> list[dict[str, float]]:
    """Per confidence bin (equal width in [0, 1]): its range, the number of items, their mean
    confidence and their accuracy (bins without items are left out)."""
    indices = _indices(truth, labels)
    posteriors = np.asarray(posteriors, dtype=np.float64)
    confidence = posteriors.max(axis=1)
    correct = posteriors.argmax(axis=1) == indices
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    rows = []
    for b in range(bins):
        members = which == b
        if members.any():
            rows.append({"low": float(edges[b]), "high": float(edges[b + 1]), "count": int(members.sum()),
                         "confidence": float(confidence[members].mean()), "accuracy": float(correct[members].mean())})
    return rows


def expected_calibration_error(truth: Sequence[int] | Sequence[str] | np.ndarray, posteriors: np.ndarray, *,
                               labels: Sequence[str] | None = None, bins: int = 10) -> float:
    """ECE with ``bins`` equal-width confidence bins (formula in the module docstring).

    >>> expected_calibration_error([0, 1], np.array([[0.9, 0.1], [0.6, 0.4]]))
    0.35
    """
    rows = reliability(truth, posteriors, labels=labels, bins=bins)
    total = sum(r["count"] for r in rows)
    if total == 0:
        raise ValueError("no predictions")
    return round(float(sum(r["count"] / total * abs(r["accuracy"] - r["confidence"]) for r in rows)), 12)


def plot_reliability(curves: dict[str, list[dict[str, float]]], path: str, *, title: str = "") -> None:
    """A reliability diagram (accuracy against confidence per bin, one line per curve, the
    diagonal for perfect calibration) written to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(4.6, 4.2))
    axis.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfect calibration")
    for name, rows in curves.items():
        axis.plot([r["confidence"] for r in rows], [r["accuracy"] for r in rows], marker="o", label=name)
    axis.set_xlabel("confidence (mean of the bin)")
    axis.set_ylabel("accuracy")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.set_title(title, fontsize=9)
    axis.legend(fontsize=7, loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
