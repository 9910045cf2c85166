"""Categorical emotion recognition: classes, weighted cross-entropy, UA for model selection."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from emofuse.data.manifest import Utterance
from emofuse.predictions import Predictions


class CategoricalTask:
    """Classify utterances into ``classes`` (their ``label``).

    ``class_weighting: inverse_frequency`` weights the cross-entropy of class ``k`` by
    ``N / (K * N_k)`` over the training set; ``label_smoothing`` is passed to the cross-entropy.
    ``selection_metric`` (``UA``, ``WA`` or ``macro_F1``) is the dev score that model selection
    maximises.
    """

    type = "categorical"
    SELECTION_METRICS = ("UA", "WA", "macro_F1")

    def __init__(self, classes: Sequence[str], *, class_weighting: str = "inverse_frequency",
                 label_smoothing: float = 0.0, selection_metric: str = "UA") -> None:
        if len(classes) < 2:
            raise ValueError(f"a categorical task needs at least two classes, got {list(classes)}")
        if class_weighting not in {"inverse_frequency", "none"}:
            raise ValueError(f"class_weighting must be 'inverse_frequency' or 'none', got {class_weighting!r}")
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}")
        if selection_metric not in self.SELECTION_METRICS:
            raise ValueError(f"selection_metric must be one of {list(self.SELECTION_METRICS)}, got {selection_metric!r}")
        self.outputs = tuple(classes)
        self.class_weighting = class_weighting
        self.label_smoothing = label_smoothing
        self.selection_metric = selection_metric
        self._index = {c: i for i, c in enumerate(self.outputs)}

    def target(self, utterance: Utterance) -> int:
        if utterance.label not in self._index:
            raise ValueError(
                f"utterance {utterance.id}: label {utterance.label!r} is not one of the task's classes {self.outputs}"
            )
        return self._index[utterance.label]

    def truth(self, utterances: Sequence[Utterance]) -> np.ndarray:
        return np.array([self.target(u) for u in utterances], dtype=np.int64)

    def loss_weights(self, truth: np.ndarray) -> np.ndarray:
        """Per-class cross-entropy weights from the training targets (class indices): ``N / (K N_k)``,
        or ones without weighting.

        >>> CategoricalTask(["a", "b"]).loss_weights(np.array([0, 0, 0, 1])).tolist()
        [0.6666666865348816, 2.0]
        """
        if self.class_weighting == "none":
            return np.ones(len(self.outputs), dtype=np.float32)
        counts = np.bincount(np.asarray(truth, dtype=np.int64), minlength=len(self.outputs))
        missing = [c for c, n in zip(self.outputs, counts, strict=True) if n == 0]
        if missing:
            raise ValueError(f"classes {missing} have no training examples in this fold")
        return (counts.sum() / (len(self.outputs) * counts)).astype(np.float32)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(outputs.float(), targets, weight=weights,
                                                 label_smoothing=self.label_smoothing)

    def scores(self, outputs: np.ndarray) -> np.ndarray:
        """Class posteriors ``(batch, classes)``: softmax of the logits."""
        outputs = np.asarray(outputs, dtype=np.float64)
        shifted = outputs - outputs.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        return exp / exp.sum(axis=1, keepdims=True)

    def predictions(self, ids: Sequence[str], outputs: np.ndarray, utterances: Sequence[Utterance] | None = None,
                    split: Sequence[str] | None = None) -> Predictions:
        truth = None if utterances is None else self.truth(utterances)
        return Predictions("categorical", self.outputs, tuple(ids), outputs, truth=truth,
                           split=None if split is None else tuple(split))
