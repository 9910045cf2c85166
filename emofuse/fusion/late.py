"""Late (score-level) fusion of member systems' outputs.

- ``average``: the mean of the members' posteriors (Triantafyllopoulos et al.'s late fusion) or
  of their regression outputs.
- ``weighted``: Padi et al.: ``S = w S_speech + (1 - w) S_text`` on log-softmax scores, with ``w``
  searched on the fold's dev set (a grid; a simplex grid for more than two members); weights
  with equal dev UA (a small dev set gives wide plateaus) are told apart by the dev
  cross-entropy, not by which comes first on the grid (that picked the plateau's extreme end,
  e.g. a speech weight of 0.04); for dimensional tasks, weighted outputs with the mean dev CCC
  as the criterion.
- ``znorm``: each member's log-softmax scores z-normalised with dev statistics, then averaged
  with equal weights.
- ``select``: ensemble selection (Caruana et al., 2004, "Ensemble selection from libraries of
  models"): greedy forward selection with replacement on the fold's dev set. Starting from the
  empty ensemble, each round adds the member whose addition gives the best dev criterion for the
  averaged posteriors (ties broken by the lower dev cross-entropy, then by the earlier member);
  after ``rounds`` rounds the best ensemble seen is kept. The weights are how often each member
  was picked, so members that never help get weight 0. For dimensional tasks the criterion is
  the mean dev CCC of the averaged outputs.

Fused categorical outputs are returned as posteriors (softmax of fused scores).
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Literal

import numpy as np

from emofuse.fusion.base import ScoreFusion
from emofuse.fusion.base import check_members
from emofuse.registry import Example
from emofuse.registry import builds

_EPS = 1e-12


@dataclasses.dataclass(frozen=True)
class LateFusionConfig:
    """``method``: average | weighted | znorm | select. ``criterion`` for the weight search and
    the selection: UA or WA (categorical); dimensional tasks use the mean CCC. ``grid_step`` is
    the weight resolution of ``weighted``; ``rounds`` the number of picks of ``select`` (default:
    twice the number of members)."""

    method: Literal["average", "weighted", "znorm", "select"] = "average"
    criterion: Literal["UA", "WA"] = "UA"
    grid_step: float = 0.01
    rounds: int | None = None

    def __post_init__(self) -> None:
        if self.rounds is not None and self.rounds < 1:
            raise ValueError(f"rounds must be at least 1, got {self.rounds}")
        if not 0.0 < self.grid_step <= 0.5:
            raise ValueError("grid_step must be in (0, 0.5]")


def weight_grid(members: int, step: float) -> list[tuple[float, ...]]:
    """Weight vectors on the simplex with resolution ``step`` (coarser for many members).

    >>> weight_grid(2, 0.5)
    [(0.0, 1.0), (0.5, 0.5), (1.0, 0.0)]
    """
    if members > 2:
        step = max(step, 0.05)
    n = int(round(1.0 / step))
    grid = []
    for head in itertools.product(range(n + 1), repeat=members - 1):
        if sum(head) <= n:
            grid.append(tuple(h / n for h in head) + ((n - sum(head)) / n,))
    return grid


@builds(LateFusionConfig, example=Example(("member", "member"), {"method": "weighted", "grid_step": 0.1}))
class LateFusion(ScoreFusion):
    """Fitted state: ``weights`` (``weighted``, ``select``: one per member) or ``statistics``
    (``znorm``: mean and std of each member's log scores)."""

    def __init__(self, config: LateFusionConfig, *, task_type: Literal["categorical", "dimensional"]) -> None:
        super().__init__(config, task_type=task_type)
        self.weights: tuple[float, ...] | None = None
        self.statistics: list[tuple[float, float]] | None = None

    def _log_scores(self, scores: Sequence[np.ndarray]) -> list[np.ndarray]:
        return [np.log(np.clip(s, _EPS, None)) for s in check_members(scores)]

    def fit(self, scores: Sequence[np.ndarray], truth: np.ndarray) -> LateFusion:
        members = check_members(scores)
        method = self.config.method
        if method == "average":
            return self
        if len(truth) == 0:
            raise ValueError(f"late fusion '{method}' needs dev outputs; this fold has no dev set")
        if method == "znorm":
            if self.task_type != "categorical":
                raise ValueError("znorm late fusion is defined for categorical scores")
            self.statistics = [(float(s.mean()), float(s.std() + _EPS)) for s in self._log_scores(members)]
            return self
        if method == "select":
            self.weights = self._select(members, np.asarray(truth))
            return self
        best, best_key = None, None
        for weights in weight_grid(len(members), self.config.grid_step):
            self.weights = weights
            key = self._selection_key(self(members), np.asarray(truth))
            if best_key is None or key > best_key:
                best, best_key = weights, key
        self.weights = best
        return self

    def _select(self, members: list[np.ndarray], truth: np.ndarray) -> tuple[float, ...]:
        """Ensemble selection with replacement; the pick counts of the best ensemble, normalised."""
        rounds = self.config.rounds or 2 * len(members)
        counts = np.zeros(len(members))
        total = np.zeros_like(members[0], dtype=np.float64)
        best_counts, best_key = None, None
        for _ in range(rounds):
            candidates = []
            for index, member in enumerate(members):
                key = self._selection_key((total + member) / (counts.sum() + 1), truth)
                candidates.append((key, -index))
            key, negative_index = max(candidates)
            counts[-negative_index] += 1
            total += members[-negative_index]
            if best_key is None or key > best_key:
                best_key, best_counts = key, counts.copy()
        assert best_counts is not None
        return tuple(float(c) for c in best_counts / best_counts.sum())

    def _selection_key(self, fused: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
        """(criterion, minus cross-entropy) for categorical posteriors; (mean CCC, 0) otherwise."""
        if self.task_type == "categorical":
            likelihood = float(np.mean(np.log(np.clip(fused[np.arange(len(truth)), truth.astype(int)], _EPS, None))))
            return _criterion(self.config.criterion, truth, fused.argmax(axis=1)), likelihood
        from emofuse.evaluation.metrics import concordance_correlation

        return float(np.mean([concordance_correlation(truth[:, k], fused[:, k]) for k in range(truth.shape[1])])), 0.0

    def __call__(self, scores: Sequence[np.ndarray]) -> np.ndarray:
        members = check_members(scores)
        method = self.config.method
        if method == "select":
            if self.weights is None:
                raise RuntimeError("late fusion 'select' is not fitted")
            return sum(w * s for w, s in zip(self.weights, members, strict=True))
        if self.task_type == "dimensional":
            weights = self.weights if method == "weighted" else tuple(1.0 / len(members) for _ in members)
            if weights is None:
                raise RuntimeError("weighted late fusion is not fitted")
            return sum(w * s for w, s in zip(weights, members, strict=True))
        if method == "average":
            return np.mean(members, axis=0)
        logs = [log_softmax(s, axis=1) for s in self._log_scores(members)]
        if method == "znorm":
            if self.statistics is None:
                raise RuntimeError("znorm late fusion is not fitted")
            fused = np.mean([(s - m) / d for s, (m, d) in zip(logs, self.statistics, strict=True)], axis=0)
        else:
            if self.weights is None:
                raise RuntimeError("weighted late fusion is not fitted")
            fused = sum(w * s for w, s in zip(self.weights, logs, strict=True))
        return softmax(fused, axis=1)

    def state(self) -> dict[str, np.ndarray]:
        state = {}
        if self.weights is not None:
            state["weights"] = np.asarray(self.weights, dtype=np.float64)
        if self.statistics is not None:
            state["statistics"] = np.asarray(self.statistics, dtype=np.float64)
        return state

    def load_state(self, state: Mapping[str, np.ndarray]) -> None:
        unknown = sorted(set(state) - {"weights", "statistics"})
        if unknown:
            raise ValueError(f"late fusion has no fitted parameters {unknown}")
        if "weights" in state:
            self.weights = tuple(float(w) for w in np.asarray(state["weights"]).ravel())
        if "statistics" in state:
            self.statistics = [(float(m), float(s)) for m, s in np.asarray(state["statistics"]).reshape(-1, 2)]

    def restrict(self, members: Sequence[int]) -> LateFusion:
        """Weights renormalised over the given members; their own z-normalisation statistics."""
        fusion = copy.copy(self)
        if self.weights is not None:
            weights = [self.weights[m] for m in members]
            total = float(sum(weights))
            fusion.weights = tuple(w / total for w in weights) if total > 0 else tuple(1.0 / len(weights) for _ in weights)
        if self.statistics is not None:
            fusion.statistics = [self.statistics[m] for m in members]
        return fusion


def _criterion(name: str, truth: np.ndarray, predicted_index: np.ndarray) -> float:
    """UA or WA with class indices (truth given as indices); scikit-learn is imported only to fit."""
    from emofuse.evaluation.metrics import unweighted_average_recall

    if name == "WA":
        return float(np.mean(truth == predicted_index))
    return unweighted_average_recall(list(truth), list(predicted_index), labels=sorted(set(truth.tolist())))


def log_softmax(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    """``scipy.special.log_softmax`` in numpy (importing scipy.special costs a cold start 0.2 s)."""
    shifted = scores - np.max(scores, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def softmax(scores: np.ndarray, axis: int = -1) -> np.ndarray:
    """``scipy.special.softmax`` in numpy."""
    return np.exp(log_softmax(scores, axis=axis))
