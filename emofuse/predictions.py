"""The one representation of scores: :class:`Predictions`, from a model's output to the reports.

A system's outputs on a set of utterances travel as one typed object (utterance ids, split,
truth, scores and the output names) through fusion, metrics, run directories and reports; it
becomes a table (:meth:`Predictions.to_frame`) only where a file is written or a report groups
rows. This module is the only place that spells the table's columns:

- categorical: ``id``, ``split``, ``truth`` and ``prediction`` (class names), ``p_<class>``
  (posteriors);
- dimensional: ``id``, ``split``, ``truth_<target>`` and ``pred_<target>``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any
from typing import Literal

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

TaskType = Literal["categorical", "dimensional"]
TASK_TYPES: tuple[str, ...] = ("categorical", "dimensional")

#: Column prefixes of prediction tables.
POSTERIOR_PREFIX = "p_"
TRUTH_PREFIX = "truth_"
PREDICTION_PREFIX = "pred_"
#: Key columns of prediction tables.
ID, SPLIT, TRUTH, PREDICTION = "id", "split", "truth", "prediction"


def posterior_column(name: str) -> str:
    return f"{POSTERIOR_PREFIX}{name}"


def truth_column(target: str) -> str:
    return f"{TRUTH_PREFIX}{target}"


def prediction_column(target: str) -> str:
    return f"{PREDICTION_PREFIX}{target}"


def score_columns(task_type: str, outputs: Sequence[str]) -> list[str]:
    """The columns holding the scores of ``outputs``: ``p_<class>`` or ``pred_<target>``."""
    make = posterior_column if task_type == "categorical" else prediction_column
    return [make(name) for name in outputs]


@dataclasses.dataclass(frozen=True, eq=False)
class Predictions:
    """Outputs of one system on a list of utterances.

    ``scores`` is ``(n, outputs)``: class posteriors (categorical; rows sum to one) or predicted
    ratings (dimensional). ``truth`` is ``(n,)`` class indices or ``(n, targets)`` ratings, or
    ``None`` for unlabelled utterances. ``split`` names each utterance's part of its fold
    (``dev`` or ``test``), or is ``None``.

    >>> p = Predictions("categorical", ("neu", "ang"), ("a", "b"), np.array([[0.9, 0.1], [0.2, 0.8]]),
    ...                 truth=np.array([0, 0]))
    >>> p.labels(), p.truth_labels()
    (['neu', 'ang'], ['neu', 'neu'])
    >>> p.to_frame().columns.tolist()
    ['id', 'truth', 'prediction', 'p_neu', 'p_ang']
    """

    task_type: TaskType
    outputs: tuple[str, ...]
    ids: tuple[str, ...]
    scores: np.ndarray
    truth: np.ndarray | None = None
    split: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if self.task_type not in TASK_TYPES:
            raise ValueError(f"task_type must be one of {TASK_TYPES}, got {self.task_type!r}")
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "ids", tuple(str(i) for i in self.ids))
        scores = np.asarray(self.scores, dtype=np.float64).reshape(len(self.ids), -1) if len(self.ids) else \
            np.zeros((0, len(self.outputs)))
        if scores.shape != (len(self.ids), len(self.outputs)):
            raise ValueError(f"scores have shape {scores.shape}, expected ({len(self.ids)}, {len(self.outputs)})")
        object.__setattr__(self, "scores", scores)
        if self.truth is not None:
            truth = np.asarray(self.truth)
            if self.task_type == "categorical":
                truth = truth.astype(np.int64)
                expected: tuple[int, ...] = (len(self.ids),)
                if truth.size and (truth.min() < 0 or truth.max() >= len(self.outputs)):
                    raise ValueError(f"truth holds class indices outside 0..{len(self.outputs) - 1}")
            else:
                truth = truth.astype(np.float64).reshape(len(self.ids), -1) if len(self.ids) else \
                    np.zeros((0, len(self.outputs)))
                expected = (len(self.ids), len(self.outputs))
            if truth.shape != expected:
                raise ValueError(f"truth has shape {truth.shape}, expected {expected}")
            object.__setattr__(self, "truth", truth)
        if self.split is not None:
            object.__setattr__(self, "split", tuple(self.split))
            if len(self.split) != len(self.ids):
                raise ValueError(f"{len(self.split)} split names for {len(self.ids)} utterances")

    def __len__(self) -> int:
        return len(self.ids)

    # Views ---------------------------------------------------------------------------------
    def labels(self) -> list[str]:
        """The predicted class of each utterance (categorical)."""
        self._require("categorical")
        return [self.outputs[i] for i in self.scores.argmax(axis=1)] if len(self) else []

    def truth_labels(self) -> list[str]:
        """The true class of each utterance (categorical)."""
        self._require("categorical")
        if self.truth is None:
            raise ValueError("these predictions have no truth")
        return [self.outputs[i] for i in self.truth]

    def _take(self, rows: np.ndarray | list[int]) -> Predictions:
        rows = np.asarray(rows, dtype=np.int64)
        return Predictions(
            self.task_type, self.outputs, tuple(self.ids[i] for i in rows), self.scores[rows],
            truth=None if self.truth is None else self.truth[rows],
            split=None if self.split is None else tuple(self.split[i] for i in rows),
        )

    def select(self, split: str) -> Predictions:
        """The utterances of one split (``dev`` or ``test``)."""
        if self.split is None:
            raise ValueError("these predictions have no split names")
        return self._take([k for k, s in enumerate(self.split) if s == split])

    def subset(self, ids: Iterable[str]) -> Predictions:
        """The utterances ``ids``, in that order."""
        index = {identifier: k for k, identifier in enumerate(self.ids)}
        try:
            return self._take([index[i] for i in ids])
        except KeyError as error:
            raise KeyError(f"utterance {error.args[0]!r} has no prediction") from None

    def with_scores(self, scores: np.ndarray) -> Predictions:
        """The same utterances with other scores (a fusion's, say)."""
        return dataclasses.replace(self, scores=scores)

    @classmethod
    def concat(cls, parts: Sequence[Predictions]) -> Predictions:
        if not parts:
            raise ValueError("nothing to concatenate")
        first = parts[0]
        for part in parts[1:]:
            if part.task_type != first.task_type or part.outputs != first.outputs:
                raise ValueError("predictions of different outputs cannot be concatenated")
        truths = [p.truth for p in parts]
        splits = [p.split for p in parts]
        return cls(
            first.task_type, first.outputs, tuple(i for p in parts for i in p.ids),
            np.concatenate([p.scores for p in parts]),
            truth=None if any(t is None for t in truths) else np.concatenate(truths),  # type: ignore[arg-type]
            split=None if any(s is None for s in splits) else tuple(s for p in splits for s in p),  # type: ignore[union-attr]
        )

    def aligned(self, other: Predictions) -> bool:
        """Whether ``other`` covers the same utterances in the same order and splits."""
        return self.ids == other.ids and self.split == other.split

    def _require(self, task_type: str) -> None:
        if self.task_type != task_type:
            raise ValueError(f"these are {self.task_type} predictions")

    # Scores --------------------------------------------------------------------------------
    def evaluate(self) -> dict[str, float]:
        """Metrics against the truth: UA, WA, macro-F1 and per-class F1 (categorical); CCC, PCC
        and MSE per target and their mean CCC (dimensional)."""
        from emofuse.evaluation.metrics import categorical_scores
        from emofuse.evaluation.metrics import dimensional_scores

        if self.truth is None:
            raise ValueError("these predictions have no truth to score against")
        if not len(self):
            raise ValueError("no predictions to score")
        if self.task_type == "categorical":
            return categorical_scores(self.truth_labels(), self.labels(), labels=self.outputs)
        scores: dict[str, float] = {}
        for index, name in enumerate(self.outputs):
            for metric, value in dimensional_scores(self.truth[:, index], self.scores[:, index]).items():
                scores[f"{metric}_{name}"] = value
        scores["CCC_mean"] = float(np.mean([scores[f"CCC_{n}"] for n in self.outputs]))
        return scores

    # Tables --------------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """One row per utterance (the columns are listed in the module docstring)."""
        import pandas as pd

        columns: dict[str, Any] = {ID: list(self.ids)}
        if self.split is not None:
            columns[SPLIT] = list(self.split)
        if self.task_type == "categorical":
            if self.truth is not None:
                columns[TRUTH] = self.truth_labels()
            columns[PREDICTION] = self.labels()
            for index, name in enumerate(self.outputs):
                columns[posterior_column(name)] = self.scores[:, index]
        else:
            for index, name in enumerate(self.outputs):
                if self.truth is not None:
                    columns[truth_column(name)] = self.truth[:, index]
                columns[prediction_column(name)] = self.scores[:, index]
        return pd.DataFrame(columns)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, *, task_type: TaskType, outputs: Sequence[str]) -> Predictions:
        """The inverse of :meth:`to_frame`; extra columns are ignored."""
        outputs = tuple(outputs)
        missing = [c for c in score_columns(task_type, outputs) if c not in frame.columns]
        if ID not in frame.columns or missing:
            raise ValueError(f"prediction table lacks columns {([ID] if ID not in frame.columns else []) + missing}")
        ids = tuple(frame[ID].astype(str))
        scores = frame[score_columns(task_type, outputs)].to_numpy(dtype=np.float64)
        truth = None
        if task_type == "categorical" and TRUTH in frame.columns:
            index = {name: k for k, name in enumerate(outputs)}
            labels = frame[TRUTH].astype(str).tolist()
            unknown = sorted({label for label in labels if label not in index})
            if unknown:
                raise ValueError(f"truth labels {unknown} are not among the outputs {list(outputs)}")
            truth = np.array([index[label] for label in labels], dtype=np.int64)
        elif task_type == "dimensional" and all(truth_column(t) in frame.columns for t in outputs):
            truth = frame[[truth_column(t) for t in outputs]].to_numpy(dtype=np.float64)
        split = tuple(frame[SPLIT].astype(str)) if SPLIT in frame.columns else None
        return cls(task_type, outputs, ids, scores, truth=truth, split=split)
