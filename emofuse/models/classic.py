"""Classic baselines on utterance-level vectors (functionals): SVM and logistic regression.

scikit-learn estimators behind the :class:`ClassicModel` contract. The regularisation ``C`` is
chosen on the fold's dev set from ``c_grid`` (never on test), then the model is refitted on
train. Inputs are standardised inside the pipeline with training statistics (or arrive
speaker-standardised from the runner). Categorical outputs are class posteriors (Platt scaling
on internal folds for SVMs); dimensional outputs come from SVR / ridge regression per target.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.linear_model import Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.svm import SVR

from emofuse.evaluation.metrics import concordance_correlation
from emofuse.evaluation.metrics import unweighted_average_recall
from emofuse.models.base import MODELS
from emofuse.models.base import ClassicModel
from emofuse.models.base import InputSpec
from emofuse.models.base import expect_kinds


@dataclasses.dataclass(frozen=True)
class SVMConfig:
    """``kernel``: linear or rbf; ``c_grid``: values of C tried on dev (one value: no search)."""

    kernel: str = "linear"
    c_grid: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
    gamma: str = "scale"
    standardize: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if self.kernel not in {"linear", "rbf"}:
            raise ValueError(f"kernel must be 'linear' or 'rbf', got {self.kernel!r}")
        if not self.c_grid or any(c <= 0 for c in self.c_grid):
            raise ValueError("c_grid must hold positive values")


@dataclasses.dataclass(frozen=True)
class LogisticRegressionConfig:
    """Multinomial logistic regression (ridge regression for dimensional tasks)."""

    c_grid: tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 10.0)
    standardize: bool = True
    max_iter: int = 2000

    def __post_init__(self) -> None:
        if not self.c_grid or any(c <= 0 for c in self.c_grid):
            raise ValueError("c_grid must hold positive values")


class SklearnModel(ClassicModel):
    """A scikit-learn pipeline per task kind, with C chosen on dev."""

    def __init__(self, name: str, config: SVMConfig | LogisticRegressionConfig, output_size: int) -> None:
        self.name = name
        self.config = config
        self.output_size = output_size
        self.estimators: list = []
        self.selected: dict[str, float] = {}
        self.kind = "categorical"
        self._calibration_folds = 5

    def _estimator(self, c: float, kind: str):  # noqa: ANN202 (scikit-learn objects)
        config = self.config
        if self.name == "svm":
            if kind == "categorical":  # posteriors by Platt scaling on internal folds
                svc = SVC(kernel=config.kernel, C=c, gamma=config.gamma, random_state=config.seed)
                core = CalibratedClassifierCV(svc, ensemble=False, cv=self._calibration_folds)
            else:
                core = SVR(kernel=config.kernel, C=c, gamma=config.gamma)
        elif kind == "categorical":
            core = LogisticRegression(C=c, max_iter=config.max_iter)
        else:
            core = Ridge(alpha=1.0 / c)
        return make_pipeline(StandardScaler(), core) if config.standardize else make_pipeline(core)

    def fit(self, train: np.ndarray, train_targets: np.ndarray, dev: np.ndarray | None, dev_targets: np.ndarray | None, *, kind: str) -> dict:
        grid = self.config.c_grid
        if len(grid) > 1 and (dev is None or len(dev) == 0):
            raise ValueError(f"{self.name}: choosing C from c_grid needs a dev set; give one value or a protocol with dev")
        best_c = grid[0]
        if len(grid) > 1:
            best_value = -np.inf
            for c in grid:
                self._fit_all(train, train_targets, c, kind)
                value = self._dev_score(dev, dev_targets, kind)  # type: ignore[arg-type]
                if value > best_value + 1e-12:
                    best_c, best_value = c, value
            self.selected = {"C": best_c, "dev_score": float(best_value)}
        else:
            self.selected = {"C": best_c}
        self._fit_all(train, train_targets, best_c, kind)
        return self.selected

    def _fit_all(self, features: np.ndarray, targets: np.ndarray, c: float, kind: str) -> None:
        if kind == "categorical":
            counts = np.bincount(targets.astype(int))
            smallest = int(counts[counts > 0].min())
            self._calibration_folds = max(2, min(5, smallest))
            self.estimators = [self._estimator(c, kind).fit(features, targets)]
        else:
            self.estimators = [self._estimator(c, kind).fit(features, targets[:, k]) for k in range(targets.shape[1])]
        self.kind = kind

    def _dev_score(self, dev: np.ndarray, targets: np.ndarray, kind: str) -> float:
        scores = self.predict_scores(dev)
        if kind == "categorical":
            return unweighted_average_recall(list(targets), list(scores.argmax(axis=1)), labels=sorted(set(targets.tolist())))
        return float(np.mean([concordance_correlation(targets[:, k], scores[:, k]) for k in range(targets.shape[1])]))

    def predict_scores(self, features: np.ndarray) -> np.ndarray:
        if not self.estimators:
            raise RuntimeError(f"{self.name} is not fitted")
        if self.kind == "categorical":
            (estimator,) = self.estimators
            probabilities = estimator.predict_proba(features)
            # classes never seen in training get probability 0
            full = np.zeros((len(features), self.output_size))
            full[:, estimator.classes_.astype(int)] = probabilities
            return full
        return np.stack([e.predict(features) for e in self.estimators], axis=1)

    def state(self) -> dict[str, np.ndarray]:
        """Arrays that define a linear model (for safetensors export)."""
        if self.name == "svm" and (self.kind == "categorical" or self.config.kernel != "linear"):
            raise NotImplementedError("calibrated or kernel SVMs are not stored as arrays; use logistic_regression to export")
        state: dict[str, np.ndarray] = {}
        for index, estimator in enumerate(self.estimators):
            if self.config.standardize:
                scaler = estimator[0]
                state[f"{index}.mean"] = scaler.mean_
                state[f"{index}.scale"] = scaler.scale_
            core = estimator[-1]
            if hasattr(core, "coef_"):
                state[f"{index}.coef"] = np.atleast_2d(core.coef_)
                state[f"{index}.intercept"] = np.atleast_1d(core.intercept_)
        return state


def _build(name: str):  # noqa: ANN202
    def build(config, inputs: Sequence[InputSpec], output_size: int) -> SklearnModel:
        expect_kinds(name, inputs, [{"vector"}] * len(inputs))
        return SklearnModel(name, config, output_size)

    return build


MODELS.register("svm", SVMConfig)(_build("svm"))
MODELS.register("logistic_regression", LogisticRegressionConfig)(_build("logistic_regression"))
