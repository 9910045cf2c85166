"""Neural systems: a registered torch model with a standardiser per input in front of it.

Training goes through Lightning (:func:`emofuse.training.lightning.fit_neural`, imported when
:meth:`NeuralSystem.fit` is called); prediction is plain torch in eval mode, in batches of
utterances of similar length (fewer padded frames), returned in the order asked for.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping
from collections.abc import Sequence
from typing import TYPE_CHECKING
from typing import Any

import numpy as np
import torch

from emofuse.components import MODELS
from emofuse.models.base import EmotionModel
from emofuse.models.batching import collate_input
from emofuse.models.batching import value_length
from emofuse.models.standardize import Standardizer
from emofuse.models.standardize import SystemModel
from emofuse.systems.base import InvalidSystemError
from emofuse.systems.base import System
from emofuse.systems.base import SystemData
from emofuse.systems.base import SystemSpec

if TYPE_CHECKING:
    from emofuse.experiment import TrainingConfig
    from emofuse.tasks import Task

#: Utterances per forward pass when predicting.
PREDICT_BATCH_SIZE = 32


def build_module(spec: SystemSpec, members: Sequence[SystemModel] | None = None) -> SystemModel:
    """The untrained :class:`SystemModel` (standardisers + model) of a neural system's spec.

    A model built over member models (the classification block) gets ``members`` (trained
    ones, when training it) or fresh ones built from ``spec.member_specs`` (to load weights into).
    """
    assert spec.model is not None
    extra: dict[str, Any] = {}
    if spec.member_specs:
        if members is None:
            members = [build_module(member) for member in spec.member_specs]
        elif len(members) != len(spec.member_specs):
            raise InvalidSystemError(f"{len(spec.member_specs)} member models expected, {len(members)} given")
        extra["members"] = list(members)
    try:
        model = MODELS.build(spec.model.name, spec.model.config, list(spec.inputs), len(spec.outputs), **extra)
    except (ValueError, TypeError) as error:
        raise InvalidSystemError(f"model {spec.model.name!r}: {error}") from None
    if not isinstance(model, EmotionModel):
        raise InvalidSystemError(f"model {spec.model.name!r} is not a torch model")
    standardizers = [
        Standardizer(i.dim) if spec.normalization == "global" and i.kind in {"vector", "sequence"} and not spec.member_specs
        else None
        for i in spec.inputs
    ]
    return SystemModel(model, standardizers)


def _on(device: torch.device, value: tuple) -> tuple:
    """A collated input ``(values, lengths)`` with its tensors on ``device`` (texts stay as they are)."""
    return tuple(v.to(device) if isinstance(v, torch.Tensor) and v.device != device else v for v in value)


class NeuralSystem(System):
    """``members``: trained member systems that a model over members (the classification block)
    starts from; without them, fresh members are built to load saved weights into."""

    def __init__(self, spec: SystemSpec, members: Sequence[System] | None = None) -> None:
        super().__init__(spec)
        modules = None
        if members is not None:
            if not all(isinstance(m, NeuralSystem) for m in members):
                raise InvalidSystemError("a model over members is built over neural member systems")
            modules = [m.module for m in members]  # type: ignore[attr-defined]
        self.module = build_module(spec, modules)
        self.module.eval()

    def fit(self, train: SystemData, dev: SystemData | None, *, task: Task, training: TrainingConfig,
            seed: int | None = 0, directory: pathlib.Path | None = None, progress: bool = False) -> dict[str, Any]:
        from emofuse.training.lightning import fit_neural

        return fit_neural(self, train, dev, task=task, training=training, seed=seed, directory=directory, progress=progress)

    def batches(self, data: SystemData, batch_size: int = PREDICT_BATCH_SIZE) -> list[list[int]]:
        """Positions of ``data.ids`` grouped into batches of similar length (longest input)."""
        columns = [(i.kind, data.column(i.name)) for i in self.spec.inputs]
        lengths = [max(value_length(kind, column[k]) for kind, column in columns) for k in range(len(data))]
        order = sorted(range(len(data)), key=lambda k: (lengths[k], k))
        return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]

    @torch.inference_mode()
    def logits(self, data: SystemData, *, batch_size: int = PREDICT_BATCH_SIZE) -> np.ndarray:
        """Raw model outputs ``(len(data), outputs)`` in ``data.ids`` order, in eval mode."""
        was_training = self.module.training
        self.module.eval()
        columns = [data.column(i.name) for i in self.spec.inputs]
        outputs = np.zeros((len(data), len(self.outputs)), dtype=np.float64)
        device = next(self.module.parameters(), torch.empty(0)).device  # where it was trained (see fit_neural)
        try:
            for positions in self.batches(data, batch_size):
                inputs = [_on(device, collate_input(i.kind, [column[k] for k in positions]))
                          for i, column in zip(self.spec.inputs, columns, strict=True)]
                outputs[positions] = self.module(inputs).float().cpu().numpy()
        finally:
            self.module.train(was_training)
        return outputs

    def scores(self, data: SystemData) -> np.ndarray:
        logits = self.logits(data)
        if self.spec.task_type == "categorical":
            shifted = logits - logits.max(axis=1, keepdims=True)
            exp = np.exp(shifted)
            return exp / exp.sum(axis=1, keepdims=True)
        return logits

    def state_dict(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy() for k, v in self.module.state_dict().items()}

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        tensors = {k: torch.from_numpy(np.array(v)) for k, v in state.items()}
        try:
            self.module.load_state_dict(tensors, strict=True)
        except RuntimeError as error:
            raise InvalidSystemError(f"the weights do not fit the model: {error}") from None
        self.module.eval()
