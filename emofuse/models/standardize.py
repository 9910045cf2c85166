"""Input standardisation stored with the model, so that an exported model carries it."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from emofuse.models.base import EmotionModel
from emofuse.models.base import Input


class Standardizer(torch.nn.Module):
    """``(x - mean) / std`` over the last dimension, with statistics fitted on training data."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim))
        self.register_buffer("std", torch.ones(dim))

    @torch.no_grad()
    def fit(self, values: torch.Tensor) -> Standardizer:
        """Fit on ``(n, dim)`` rows (utterances, or all frames of all utterances)."""
        values = values.double()
        self.mean.copy_(values.mean(dim=0).float())
        self.std.copy_(values.std(dim=0, unbiased=False).clamp(min=1e-5).float())
        return self

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        return (values - self.mean) / self.std


class SystemModel(torch.nn.Module):
    """A model with one optional :class:`Standardizer` per input in front of it."""

    def __init__(self, model: EmotionModel, standardizers: Sequence[Standardizer | None]) -> None:
        super().__init__()
        self.model = model
        self.standardizers = torch.nn.ModuleList([s if s is not None else torch.nn.Identity() for s in standardizers])

    def _prepare(self, inputs: Sequence[Input]) -> list[Input]:
        prepared = []
        for (values, lengths), standardizer in zip(inputs, self.standardizers, strict=True):
            if isinstance(values, torch.Tensor) and not isinstance(standardizer, torch.nn.Identity):
                values = standardizer(values)
                if lengths is not None and values.dim() == 3:  # keep padding at zero
                    mask = torch.arange(values.shape[1], device=values.device)[None, :] < lengths[:, None]
                    values = values * mask.unsqueeze(-1).to(values.dtype)
            prepared.append((values, lengths))
        return prepared

    def embed(self, inputs: Sequence[Input]) -> torch.Tensor:
        return self.model.embed(self._prepare(inputs))

    def forward(self, inputs: Sequence[Input]) -> torch.Tensor:
        return self.model(self._prepare(inputs))

    def training_outputs(self, inputs: Sequence[Input]) -> tuple[torch.Tensor, list[tuple[float, torch.Tensor]]]:
        return self.model.training_outputs(self._prepare(inputs))
