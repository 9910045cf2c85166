"""Classic systems: a scikit-learn model on the concatenation of utterance-level input vectors,
kept and applied as arrays (:class:`emofuse.models.classic.ClassicModel`)."""

from __future__ import annotations

import pathlib
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

import numpy as np

from emofuse.components import MODELS
from emofuse.models.classic import ClassicModel
from emofuse.systems.base import InvalidSystemError
from emofuse.systems.base import System
from emofuse.systems.base import SystemData
from emofuse.systems.base import SystemSpec

if TYPE_CHECKING:
    from emofuse.experiment import TrainingConfig
    from emofuse.tasks import Task


class ClassicSystem(System):
    def __init__(self, spec: SystemSpec) -> None:
        super().__init__(spec)
        assert spec.model is not None
        try:
            model = MODELS.build(spec.model.name, spec.model.config, list(spec.inputs), len(spec.outputs))
        except (ValueError, TypeError) as error:
            raise InvalidSystemError(f"model {spec.model.name!r}: {error}") from None
        if not isinstance(model, ClassicModel):
            raise InvalidSystemError(f"model {spec.model.name!r} is not a classic model")
        model.task_type = spec.task_type
        self.model = model

    def features(self, data: SystemData) -> np.ndarray:
        """``(len(data), dim)``: the inputs' vectors side by side."""
        return np.concatenate([np.stack([np.asarray(v, dtype=np.float64) for v in data.column(i.name)])
                               for i in self.spec.inputs], axis=1)

    def fit(self, train: SystemData, dev: SystemData | None, *, task: Task, training: TrainingConfig,
            seed: int | None = 0, directory: pathlib.Path | None = None, progress: bool = False) -> dict[str, Any]:
        from emofuse.training.sklearn import fit_classic

        if train.truth is None:
            raise InvalidSystemError("fitting needs the training targets")
        has_dev = dev is not None and len(dev) > 0
        return fit_classic(self.model, self.features(train), train.truth, self.features(dev) if has_dev else None,
                           dev.truth if has_dev else None,  # type: ignore[union-attr]
                           selection_metric=task.selection_metric)

    def scores(self, data: SystemData) -> np.ndarray:
        return self.model.predict_scores(self.features(data))

    def state_dict(self) -> dict[str, np.ndarray]:
        return self.model.state()

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        self.model.load_state(state)
