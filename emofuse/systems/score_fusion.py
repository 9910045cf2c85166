"""Score-fusion systems: a registered :class:`~emofuse.fusion.base.ScoreFusion` over the
predictions of member systems, fitted on their dev predictions.

When an utterance has predictions from only some members (a recogniser given audio without
words, say), those members are fused (:meth:`ScoreFusion.restrict`); with one member left, its
output is the answer.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

import numpy as np

from emofuse.components import SCORE_FUSIONS
from emofuse.fusion.base import ScoreFusion
from emofuse.systems.base import InvalidSystemError
from emofuse.systems.base import System
from emofuse.systems.base import SystemData
from emofuse.systems.base import SystemSpec

if TYPE_CHECKING:
    from emofuse.experiment import TrainingConfig
    from emofuse.tasks import Task


class ScoreFusionSystem(System):
    def __init__(self, spec: SystemSpec) -> None:
        super().__init__(spec)
        assert spec.fusion is not None
        self.fusion: ScoreFusion = SCORE_FUSIONS.build(spec.fusion.name, spec.fusion.config, task_type=spec.task_type)

    def _member_scores(self, data: SystemData) -> tuple[list[int], list[np.ndarray]]:
        available = [k for k, member in enumerate(self.spec.members) if member in data.members]
        if not available:
            raise InvalidSystemError(f"none of the members {list(self.spec.members)} has predictions")
        for k in available:
            predictions = data.members[self.spec.members[k]]
            if predictions.outputs != self.outputs:
                raise InvalidSystemError(f"member {self.spec.members[k]!r} predicts {list(predictions.outputs)}, "
                                  f"the fusion {list(self.outputs)}")
        return available, [data.members[self.spec.members[k]].scores for k in available]

    def fit(self, train: SystemData, dev: SystemData | None, *, task: Task, training: TrainingConfig,
            seed: int | None = 0, directory: pathlib.Path | None = None, progress: bool = False) -> dict[str, Any]:
        """Fitted on the members' *dev* predictions (``train`` is not used: the members saw it)."""
        if dev is None or len(dev) == 0:
            self.fusion.fit([np.zeros((0, len(self.outputs)))] * len(self.spec.members), np.zeros(0))
            return {}
        available, scores = self._member_scores(dev)
        if len(available) != len(self.spec.members):
            missing = [m for m in self.spec.members if m not in dev.members]
            raise InvalidSystemError(f"fitting the fusion needs every member's dev predictions; missing {missing}")
        if dev.truth is None:
            raise InvalidSystemError("fitting the fusion needs the dev targets")
        self.fusion.fit(scores, dev.truth)
        return {name: value.tolist() for name, value in self.fusion.state().items()}

    def scores(self, data: SystemData) -> np.ndarray:
        available, scores = self._member_scores(data)
        if len(available) == 1:
            return scores[0]
        fusion = self.fusion if len(available) == len(self.spec.members) else self.fusion.restrict(available)
        return np.asarray(fusion(scores), dtype=np.float64)

    def state_dict(self) -> dict[str, np.ndarray]:
        return self.fusion.state()

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        self.fusion.load_state(state)
