"""Dimensional emotion recognition: valence / arousal / dominance regression with CCC or MSE."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from emofuse.data.manifest import DIMENSIONS
from emofuse.data.manifest import Utterance
from emofuse.predictions import Predictions


def ccc_loss(prediction: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """``1 - CCC`` per column over the batch: ``(batch, k), (batch, k) -> (k,)``.

    .. math:: CCC = 2 s_{xy} / (s_x^2 + s_y^2 + (\\bar x - \\bar y)^2)

    >>> x = torch.tensor([[0.1], [0.5], [0.9]])
    >>> float(ccc_loss(x, x)[0]) < 1e-6
    True
    """
    prediction, truth = prediction.float(), truth.float()
    mean_p, mean_t = prediction.mean(dim=0), truth.mean(dim=0)
    var_p = prediction.var(dim=0, unbiased=False)
    var_t = truth.var(dim=0, unbiased=False)
    covariance = ((prediction - mean_p) * (truth - mean_t)).mean(dim=0)
    ccc = 2 * covariance / (var_p + var_t + (mean_p - mean_t) ** 2 + 1e-8)
    return 1.0 - ccc


class DimensionalTask:
    """Regress the normalised ratings in ``targets``.

    ``loss: ccc`` minimises ``sum_k w_k (1 - CCC_k)`` (Atmaja & Akagi: ``w = (a, b, 1 - a - b)``);
    ``loss: mse`` the weighted mean squared error. Model selection uses the mean CCC.
    """

    type = "dimensional"
    selection_metric = "CCC_mean"

    def __init__(self, targets: Sequence[str] = DIMENSIONS, *, loss: str = "ccc", weights: Sequence[float] | None = None):
        unknown = [t for t in targets if t not in DIMENSIONS]
        if unknown or not targets:
            raise ValueError(f"targets must be a non-empty subset of {DIMENSIONS}, got {list(targets)}")
        if loss not in {"ccc", "mse"}:
            raise ValueError(f"dimensional loss must be 'ccc' or 'mse', got {loss!r}")
        weights = tuple(weights) if weights is not None else tuple(1.0 / len(targets) for _ in targets)
        if len(weights) != len(targets) or any(w < 0 for w in weights) or abs(sum(weights) - 1.0) > 1e-6:
            raise ValueError(f"loss weights {weights} must be non-negative, one per target, summing to 1")
        self.outputs = tuple(targets)
        self.loss_name = loss
        self.weights = weights

    def target(self, utterance: Utterance) -> list[float]:
        values = [getattr(utterance, name) for name in self.outputs]
        if any(v is None for v in values):
            raise ValueError(f"utterance {utterance.id} has no rating for one of {self.outputs}")
        return values

    def truth(self, utterances: Sequence[Utterance]) -> np.ndarray:
        return np.array([self.target(u) for u in utterances], dtype=np.float32).reshape(len(utterances), len(self.outputs))

    def loss_weights(self, truth: np.ndarray) -> np.ndarray:
        return np.array(self.weights, dtype=np.float32)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        weights = weights.to(outputs.device)
        if self.loss_name == "ccc":
            per_target = ccc_loss(outputs, targets)
        else:
            per_target = ((outputs.float() - targets.float()) ** 2).mean(dim=0)
        return (weights * per_target).sum()

    def scores(self, outputs: np.ndarray) -> np.ndarray:
        return np.asarray(outputs, dtype=np.float64)

    def predictions(self, ids: Sequence[str], outputs: np.ndarray, utterances: Sequence[Utterance] | None = None,
                    split: Sequence[str] | None = None) -> Predictions:
        truth = None if utterances is None else self.truth(utterances)
        return Predictions("dimensional", self.outputs, tuple(ids), outputs, truth=truth,
                           split=None if split is None else tuple(split))
