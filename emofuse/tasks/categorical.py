"""Categorical emotion recognition: classes, weighted cross-entropy, UA for model selection."""

from __future__ import annotations

import collections
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from emofuse.data.manifest import Utterance
from emofuse.evaluation.metrics import categorical_scores


class CategoricalTask:
    """Classify utterances into ``classes`` (their ``label``).

    ``class_weighting: inverse_frequency`` weights the cross-entropy of class ``k`` by
    ``N / (K * N_k)`` over the training set.
    """

    kind = "categorical"
    selection_metric = "UA"

    def __init__(self, classes: Sequence[str], *, class_weighting: str = "inverse_frequency") -> None:
        if len(classes) < 2:
            raise ValueError(f"a categorical task needs at least two classes, got {list(classes)}")
        if class_weighting not in {"inverse_frequency", "none"}:
            raise ValueError(f"class_weighting must be 'inverse_frequency' or 'none', got {class_weighting!r}")
        self.classes = tuple(classes)
        self.class_weighting = class_weighting
        self._index = {c: i for i, c in enumerate(self.classes)}

    @property
    def output_size(self) -> int:
        return len(self.classes)

    @property
    def output_names(self) -> list[str]:
        return list(self.classes)

    def target(self, utterance: Utterance) -> int:
        if utterance.label not in self._index:
            raise ValueError(
                f"utterance {utterance.id}: label {utterance.label!r} is not one of the task's classes {self.classes}"
            )
        return self._index[utterance.label]

    def targets(self, utterances: Sequence[Utterance]) -> torch.Tensor:
        return torch.tensor([self.target(u) for u in utterances], dtype=torch.long)

    def loss_weights(self, train: Sequence[Utterance]) -> torch.Tensor:
        """Per-class cross-entropy weights from the training set (ones without weighting)."""
        if self.class_weighting == "none":
            return torch.ones(len(self.classes))
        counts = collections.Counter(u.label for u in train)
        missing = [c for c in self.classes if counts[c] == 0]
        if missing:
            raise ValueError(f"classes {missing} have no training examples in this fold")
        total = sum(counts[c] for c in self.classes)
        return torch.tensor([total / (len(self.classes) * counts[c]) for c in self.classes], dtype=torch.float32)

    def loss(self, outputs: torch.Tensor, targets: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(outputs, targets, weight=weights)

    def scores_from_outputs(self, outputs: torch.Tensor) -> np.ndarray:
        """Class posteriors ``(batch, classes)``: softmax of the logits."""
        return torch.softmax(outputs.float(), dim=-1).cpu().numpy()

    def decode(self, posteriors: np.ndarray) -> list[str]:
        return [self.classes[i] for i in np.asarray(posteriors).argmax(axis=-1)]

    def evaluate(self, truth: Sequence[str], posteriors: np.ndarray) -> dict[str, float]:
        return categorical_scores(list(truth), self.decode(posteriors), labels=self.classes)

    def truth(self, utterance: Utterance) -> str:
        return str(utterance.label)

    def prediction_frame(self, ids: Sequence[str], truth: Sequence[str], posteriors: np.ndarray) -> pd.DataFrame:
        frame = pd.DataFrame({"id": list(ids), "truth": list(truth), "prediction": self.decode(posteriors)})
        for index, name in enumerate(self.classes):
            frame[f"p_{name}"] = posteriors[:, index]
        return frame

    def scores_from_frame(self, frame: pd.DataFrame) -> np.ndarray:
        return frame[[f"p_{c}" for c in self.classes]].to_numpy(dtype=np.float64)

    def truth_from_frame(self, frame: pd.DataFrame) -> list[str]:
        return frame["truth"].astype(str).tolist()
