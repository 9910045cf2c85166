"""The contract every model follows.

A model is a plain ``torch.nn.Module`` built from its config, the specs of its inputs (in the
order the system lists them) and its output size. ``forward(inputs)`` takes one
``(values, lengths)`` pair per input and returns ``(batch, output_size)`` logits or regression
outputs; ``embed(inputs)`` returns the penultimate ``(batch, embedding_size)`` representation
that classification-block fusion builds on. ``values`` is a tensor (``(batch, dim)`` or
``(batch, frames, dim)``) or, for raw text, a list of strings; ``lengths`` is ``(batch,)`` or
``None`` for utterance-level vectors.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch

from emofuse.registry import Registry

Input = tuple[torch.Tensor | list[str], torch.Tensor | None]


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """What a model is told about one input stream."""

    name: str
    modality: Literal["audio", "text"]
    kind: Literal["vector", "sequence", "text", "waveform"]
    dim: int = 0


class EmotionModel(torch.nn.Module):
    """Base class: subclasses set ``embedding_size`` and implement ``embed`` and ``head``."""

    embedding_size: int

    def embed(self, inputs: Sequence[Input]) -> torch.Tensor:  # (batch, embedding_size)
        raise NotImplementedError

    def forward(self, inputs: Sequence[Input]) -> torch.Tensor:  # (batch, output_size)
        return self.head(self.embed(inputs))

    def parameter_groups(self, learning_rate: float) -> list[dict]:
        """Optimiser parameter groups; models with pretrained parts override this to give them
        their own learning rate."""
        return [{"params": [p for p in self.parameters() if p.requires_grad], "lr": learning_rate}]


class ClassicModel:
    """Models fitted without gradient descent (scikit-learn) on utterance-level vectors.

    ``fit`` may choose hyper-parameters on the dev set it is given (never on test) and returns
    what it chose; ``predict_scores`` returns class posteriors ``(n, classes)`` or regression
    outputs ``(n, targets)``; ``state`` returns the arrays that define the fitted model.
    Targets are class indices (categorical) or ``(n, targets)`` ratings (dimensional).
    """

    def fit(self, train: np.ndarray, train_targets: np.ndarray, dev: np.ndarray | None,
            dev_targets: np.ndarray | None, *, kind: str) -> dict:
        raise NotImplementedError

    def predict_scores(self, features: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def state(self) -> dict[str, np.ndarray]:
        raise NotImplementedError


MODELS: Registry[EmotionModel | ClassicModel] = Registry("model")


def mask_from_lengths(lengths: torch.Tensor, max_length: int) -> torch.Tensor:
    """``(batch,) -> (batch, max_length)`` boolean mask of valid positions."""
    return torch.arange(max_length, device=lengths.device)[None, :] < lengths[:, None]


def expect_kinds(model: str, specs: Sequence[InputSpec], kinds: Sequence[set[str]]) -> None:
    """Fail early, with the model's name, when a system feeds it the wrong inputs."""
    if len(specs) != len(kinds):
        raise ValueError(f"model {model!r} takes {len(kinds)} input(s), the system gives {len(specs)}")
    for spec, allowed in zip(specs, kinds, strict=True):
        if spec.kind not in allowed:
            raise ValueError(
                f"model {model!r}: input {spec.name!r} is a {spec.kind}, expected {' or '.join(sorted(allowed))}"
            )
