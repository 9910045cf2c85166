"""Classic baselines on utterance-level vectors (functionals): SVM and logistic regression.

Training uses scikit-learn (:mod:`emofuse.training.sklearn`); the fitted model is kept as plain
arrays and predicted with numpy here, so that a run, an export and a recogniser compute the
same numbers from the same arrays, without pickle and without scikit-learn at inference.

- ``svm``: categorical outputs are Platt-calibrated posteriors of a one-vs-one SVC (linear or
  RBF kernel), computed as scikit-learn's ``CalibratedClassifierCV(ensemble=False)`` does;
  dimensional outputs come from one SVR per target.
- ``logistic_regression``: multinomial logistic regression (categorical) or ridge regression
  (dimensional).

Inputs are standardised with the training statistics (``standardize``), stored with the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence
from typing import Literal

import numpy as np

from emofuse.models.configs import LogisticRegressionConfig
from emofuse.models.configs import SVMConfig
from emofuse.models.inputs import InputSpec
from emofuse.models.inputs import expect_kinds
from emofuse.registry import Example
from emofuse.registry import builds


class ClassicModel:
    """A fitted classic model as arrays (see the module docstring); ``predict_scores`` maps
    ``(n, dim)`` features to ``(n, outputs)`` posteriors or ratings.

    Array names: ``mean``/``scale`` (standardisation); categorical: ``classes`` (indices of the
    classes seen in training), then ``coef``/``intercept`` (logistic regression) or
    ``support_vectors``/``dual_coef``/``intercept``/``n_support``/``gamma``/``calibration``
    (SVM); dimensional: the same per target with a ``target<k>.`` prefix.
    """

    def __init__(self, name: str, config: SVMConfig | LogisticRegressionConfig, output_size: int,
                 task_type: Literal["categorical", "dimensional"] = "categorical") -> None:
        self.name = name
        self.config = config
        self.output_size = output_size
        self.task_type = task_type
        self.arrays: dict[str, np.ndarray] = {}

    @property
    def kernel(self) -> str:
        return getattr(self.config, "kernel", "linear")

    def state(self) -> dict[str, np.ndarray]:
        if not self.arrays:
            raise RuntimeError(f"{self.name} is not fitted")
        return dict(self.arrays)

    def load_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.arrays = {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}

    def predict_scores(self, features: np.ndarray) -> np.ndarray:
        if not self.arrays:
            raise RuntimeError(f"{self.name} is not fitted")
        values = np.asarray(features, dtype=np.float64)
        if "mean" in self.arrays:
            values = (values - self.arrays["mean"]) / self.arrays["scale"]
            clip = getattr(self.config, "clip", None)
            if clip is not None:
                values = np.clip(values, -clip, clip)
        if self.task_type == "dimensional":
            columns = []
            for k in range(self.output_size):
                prefix = f"target{k}."
                if f"{prefix}coef" in self.arrays:
                    column = values @ self.arrays[f"{prefix}coef"].ravel() + self.arrays[f"{prefix}intercept"][0]
                else:
                    kernel = self._kernel(values, self.arrays[f"{prefix}support_vectors"], self.arrays[f"{prefix}gamma"])
                    column = kernel @ self.arrays[f"{prefix}dual_coef"].ravel() + self.arrays[f"{prefix}intercept"][0]
                columns.append(column)
            return np.stack(columns, axis=1)
        present = self.arrays["classes"].astype(np.int64)
        if "coef" in self.arrays:
            probabilities = self._logistic(values)
        else:
            probabilities = self._calibrated_svc(values, len(present))
        full = np.zeros((len(values), self.output_size))  # classes never seen in training get 0
        full[:, present] = probabilities
        return full

    def _kernel(self, values: np.ndarray, support: np.ndarray, gamma: np.ndarray) -> np.ndarray:
        if self.kernel == "linear":
            return values @ support.T
        squared = (values**2).sum(1)[:, None] + (support**2).sum(1)[None, :] - 2.0 * values @ support.T
        return np.exp(-float(gamma.ravel()[0]) * np.maximum(squared, 0.0))

    def _logistic(self, values: np.ndarray) -> np.ndarray:
        decision = values @ self.arrays["coef"].T + self.arrays["intercept"]  # (n, k) or (n, 1) for two classes
        if decision.shape[1] == 1:
            positive = 1.0 / (1.0 + np.exp(-decision[:, 0]))
            return np.stack([1.0 - positive, positive], axis=1)
        decision = decision - decision.max(axis=1, keepdims=True)
        exp = np.exp(decision)
        return exp / exp.sum(axis=1, keepdims=True)

    def _calibrated_svc(self, values: np.ndarray, classes: int) -> np.ndarray:
        kernel = self._kernel(values, self.arrays["support_vectors"], self.arrays["gamma"])
        dual, intercept = self.arrays["dual_coef"], self.arrays["intercept"]
        starts = np.concatenate([[0], np.cumsum(self.arrays["n_support"].astype(np.int64))])
        pairs = []
        for i in range(classes):  # one-vs-one decisions, in libsvm's pair order
            for j in range(i + 1, classes):
                si, sj = slice(starts[i], starts[i + 1]), slice(starts[j], starts[j + 1])
                pairs.append(kernel[:, si] @ dual[j - 1, si] + kernel[:, sj] @ dual[i, sj] + intercept[len(pairs)])
        decision = np.stack(pairs, axis=1)
        calibration = self.arrays["calibration"]  # (calibrators, 2): a, b of p = 1 / (1 + exp(a f + b))
        if classes == 2:
            positive = 1.0 / (1.0 + np.exp(calibration[0, 0] * decision[:, 0] + calibration[0, 1]))
            return np.stack([1.0 - positive, positive], axis=1)
        ovr = _ovr_decision(decision, classes)
        probabilities = 1.0 / (1.0 + np.exp(calibration[:, 0][None, :] * ovr + calibration[:, 1][None, :]))
        total = probabilities.sum(axis=1, keepdims=True)
        uniform = np.full_like(probabilities, 1.0 / classes)
        return np.divide(probabilities, total, out=uniform, where=total != 0)


def _ovr_decision(decision: np.ndarray, classes: int) -> np.ndarray:
    """One-vs-rest scores from one-vs-one decisions: votes plus confidences squashed to (-1/3, 1/3)
    (scikit-learn's ``_ovr_decision_function``)."""
    votes = np.zeros((len(decision), classes))
    confidence = np.zeros((len(decision), classes))
    k = 0
    for i in range(classes):
        for j in range(i + 1, classes):
            confidence[:, i] += decision[:, k]
            confidence[:, j] -= decision[:, k]
            votes[decision[:, k] >= 0, i] += 1
            votes[decision[:, k] < 0, j] += 1
            k += 1
    return votes + confidence / (3 * (np.abs(confidence) + 1))


@builds(SVMConfig, example=Example(("vector",), {"c_grid": [0.1, 1.0]}))
def build_svm(config: SVMConfig, inputs: Sequence[InputSpec], output_size: int) -> ClassicModel:
    expect_kinds("svm", inputs, [{"vector"}] * len(inputs))
    return ClassicModel("svm", config, output_size)


@builds(LogisticRegressionConfig, example=Example(("vector", "text_vector"), {"c_grid": [0.1, 1.0]}))
def build_logistic_regression(config: LogisticRegressionConfig, inputs: Sequence[InputSpec],
                              output_size: int) -> ClassicModel:
    expect_kinds("logistic_regression", inputs, [{"vector"}] * len(inputs))
    return ClassicModel("logistic_regression", config, output_size)
