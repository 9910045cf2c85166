"""The scikit-learn loop: fit a classic model, choosing C on the fold's dev set, and keep it as arrays.

The regularisation ``C`` is chosen on the dev set from ``c_grid`` (never on test; by the task's
selection metric: UA, WA or macro-F1, or the mean CCC), then the
model is refitted on the training set and converted to the arrays that
:class:`emofuse.models.classic.ClassicModel` predicts from (so that the run's own predictions
are exactly those of an exported model).
"""

from __future__ import annotations

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.linear_model import Ridge
from sklearn.pipeline import Pipeline
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.svm import SVR

from emofuse.evaluation.metrics import categorical_scores
from emofuse.evaluation.metrics import concordance_correlation
from emofuse.models.classic import ClassicModel


def fit_classic(model: ClassicModel, train: np.ndarray, train_truth: np.ndarray, dev: np.ndarray | None,
                dev_truth: np.ndarray | None, *, selection_metric: str = "UA") -> dict[str, float]:
    """Fit ``model`` in place; returns what was chosen (``C`` and its ``dev_score``: the
    categorical ``selection_metric``, or the mean CCC)."""
    grid = model.config.c_grid
    if len(grid) > 1 and (dev is None or len(dev) == 0):
        raise ValueError(f"{model.name}: choosing C from c_grid needs a dev set; give one value or a protocol with dev")
    chosen: dict[str, float] = {"C": float(grid[0])}
    if len(grid) > 1:
        best_value = -np.inf
        for c in grid:
            model.load_state(_fit_arrays(model, train, train_truth, c))
            value = _dev_score(model, dev, dev_truth, selection_metric)  # type: ignore[arg-type]
            if value > best_value + 1e-12:
                chosen, best_value = {"C": float(c), "dev_score": float(value)}, value
    model.load_state(_fit_arrays(model, train, train_truth, chosen["C"]))
    return chosen


def _dev_score(model: ClassicModel, dev: np.ndarray, truth: np.ndarray, metric: str) -> float:
    scores = model.predict_scores(dev)
    if model.task_type == "categorical":
        return categorical_scores(list(truth), list(scores.argmax(axis=1)), labels=sorted(set(truth.tolist())))[metric]
    return float(np.mean([concordance_correlation(truth[:, k], scores[:, k]) for k in range(truth.shape[1])]))


def _clipper(model: ClassicModel) -> list:
    clip = model.config.clip
    return [] if clip is None else [FunctionTransformer(np.clip, kw_args={"a_min": -clip, "a_max": clip})]


def _pipeline(model: ClassicModel, core: object) -> Pipeline:
    if not model.config.standardize:
        return make_pipeline(core)
    return make_pipeline(StandardScaler(), *_clipper(model), core)


def _scaler_arrays(pipeline: Pipeline) -> dict[str, np.ndarray]:
    if len(pipeline.steps) == 1:
        return {}
    scaler = pipeline[0]
    return {"mean": scaler.mean_.copy(), "scale": scaler.scale_.copy()}


def _fit_arrays(model: ClassicModel, features: np.ndarray, truth: np.ndarray, c: float) -> dict[str, np.ndarray]:
    config = model.config
    if model.task_type == "categorical":
        truth = truth.astype(np.int64)
        if model.name == "svm":
            counts = np.bincount(truth)
            folds = max(2, min(5, int(counts[counts > 0].min())))  # Platt scaling on internal folds
            svc = SVC(kernel=config.kernel, C=c, gamma=config.gamma, random_state=config.seed)
            pipeline = _pipeline(model, CalibratedClassifierCV(svc, ensemble=False, cv=folds)).fit(features, truth)
            return {**_scaler_arrays(pipeline), **_svc_arrays(pipeline[-1])}
        pipeline = _pipeline(model, LogisticRegression(C=c, max_iter=config.max_iter)).fit(features, truth)
        core = pipeline[-1]
        return {**_scaler_arrays(pipeline), "classes": core.classes_.astype(np.float64),
                "coef": np.atleast_2d(core.coef_).copy(), "intercept": np.atleast_1d(core.intercept_).copy()}
    arrays: dict[str, np.ndarray] = {}
    scaler = make_pipeline(StandardScaler()).fit(features) if config.standardize else None
    values = scaler.transform(features) if scaler is not None else features
    if model.config.clip is not None:
        values = np.clip(values, -model.config.clip, model.config.clip)
    if scaler is not None:
        arrays.update(_scaler_arrays(make_pipeline(scaler[0], Ridge())))
    for k in range(truth.shape[1]):
        prefix = f"target{k}."
        if model.name == "svm":
            core = SVR(kernel=config.kernel, C=c, gamma=config.gamma).fit(values, truth[:, k])
            arrays.update({f"{prefix}support_vectors": core.support_vectors_.copy(), f"{prefix}dual_coef": core.dual_coef_.copy(),
                           f"{prefix}intercept": np.atleast_1d(core.intercept_).copy(),
                           f"{prefix}gamma": np.array([getattr(core, "_gamma", 0.0)])})
        else:
            core = Ridge(alpha=1.0 / c).fit(values, truth[:, k])
            arrays.update({f"{prefix}coef": np.atleast_1d(core.coef_).copy(), f"{prefix}intercept": np.atleast_1d(core.intercept_).copy()})
    return arrays


def _svc_arrays(calibrated: CalibratedClassifierCV) -> dict[str, np.ndarray]:
    (inner,) = calibrated.calibrated_classifiers_
    svc = inner.estimator
    calibration = np.array([[c.a_, c.b_] for c in inner.calibrators], dtype=np.float64)
    return {
        "classes": svc.classes_.astype(np.float64),
        "support_vectors": svc.support_vectors_.copy(),
        "dual_coef": svc.dual_coef_.copy(),
        "intercept": svc.intercept_.copy(),
        "n_support": svc.n_support_.astype(np.float64),
        "gamma": np.array([svc._gamma]),
        "calibration": calibration,
    }
