"""Dimensional emotion recognition: valence / arousal / dominance regression with CCC or MSE."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from emofuse.data.manifest import DIMENSIONS
from emofuse.data.manifest import Utterance
from emofuse.evaluation.metrics import dimensional_scores


def ccc_loss(prediction: torch.Tensor, truth: torch.Tensor) -> torch.Tensor:
    """``1 - CCC`` per column over the batch: ``(batch, k), (batch, k) -> (k,)``.

    .. math:: CCC = 2 s_{xy} / (s_x^2 + s_y^2 + (\\bar x - \\bar y)^2)
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

    kind = "dimensional"
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
        self.targets_names = tuple(targets)
        self.loss_name = loss
        self.weights = weights

    @property
    def output_size(self) -> int:
        return len(self.targets_names)

    @property
    def output_names(self) -> list[str]:
        return list(self.targets_names)

    def target(self, utterance: Utterance) -> list[float]:
        values = [getattr(utterance, name) for name in self.targets_names]
        if any(v is None for v in values):
            raise ValueError(f"utterance {utterance.id} has no rating for one of {self.targets_names}")
        return values

    def targets(self, utterances: Sequence[Utterance]) -> torch.Tensor:
        return torch.tensor([self.target(u) for u in utterances], dtype=torch.float32)

    def loss_weights(self, train: Sequence[Utterance]) -> torch.Tensor:
        return torch.tensor(self.weights, dtype=torch.float32)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        weights = torch.tensor(self.weights, device=outputs.device) if weights is None else weights.to(outputs.device)
        if self.loss_name == "ccc":
            per_target = ccc_loss(outputs, targets)
        else:
            per_target = ((outputs.float() - targets.float()) ** 2).mean(dim=0)
        return (weights * per_target).sum()

    def scores_from_outputs(self, outputs: torch.Tensor) -> np.ndarray:
        return outputs.float().cpu().numpy()

    def evaluate(self, truth: Sequence[Sequence[float]], predictions: np.ndarray) -> dict[str, float]:
        truth = np.asarray(truth, dtype=np.float64)
        scores: dict[str, float] = {}
        for index, name in enumerate(self.targets_names):
            for metric, value in dimensional_scores(truth[:, index], predictions[:, index]).items():
                scores[f"{metric}_{name}"] = value
        scores["CCC_mean"] = float(np.mean([scores[f"CCC_{n}"] for n in self.targets_names]))
        return scores

    def truth(self, utterance: Utterance) -> list[float]:
        return self.target(utterance)

    def prediction_frame(self, ids: Sequence[str], truth: Sequence[Sequence[float]], predictions: np.ndarray) -> pd.DataFrame:
        truth = np.asarray(truth, dtype=np.float64)
        frame = pd.DataFrame({"id": list(ids)})
        for index, name in enumerate(self.targets_names):
            frame[f"truth_{name}"] = truth[:, index]
            frame[f"pred_{name}"] = predictions[:, index]
        return frame

    def scores_from_frame(self, frame: pd.DataFrame) -> np.ndarray:
        return frame[[f"pred_{n}" for n in self.targets_names]].to_numpy(dtype=np.float64)

    def truth_from_frame(self, frame: pd.DataFrame) -> np.ndarray:
        return frame[[f"truth_{n}" for n in self.targets_names]].to_numpy(dtype=np.float64)
