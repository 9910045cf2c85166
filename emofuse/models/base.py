"""The contract every model follows.

A model is a plain ``torch.nn.Module`` built from its config, the specs of its inputs (in the
order the system lists them) and its output size. ``forward(inputs)`` takes one
``(values, lengths)`` pair per input and returns ``(batch, output_size)`` logits or regression
outputs; ``embed(inputs)`` returns the penultimate ``(batch, embedding_size)`` representation
that classification-block fusion builds on. ``training_outputs(inputs)`` adds the weighted
auxiliary outputs a model is trained on besides (none by default). ``values`` is a tensor (``(batch, dim)`` or
``(batch, frames, dim)``) or, for raw text, a list of strings; ``lengths`` is ``(batch,)`` or
``None`` for utterance-level vectors.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

Input = tuple[torch.Tensor | list[str], torch.Tensor | None]


class EmotionModel(torch.nn.Module):
    """Base class: subclasses set ``embedding_size`` and implement ``embed`` and ``head``."""

    embedding_size: int

    def embed(self, inputs: Sequence[Input]) -> torch.Tensor:  # (batch, embedding_size)
        raise NotImplementedError

    def forward(self, inputs: Sequence[Input]) -> torch.Tensor:  # (batch, output_size)
        return self.head(self.embed(inputs))

    def training_outputs(self, inputs: Sequence[Input]) -> tuple[torch.Tensor, list[tuple[float, torch.Tensor]]]:
        """The outputs to train on and auxiliary ``(weight, outputs)`` pairs, each trained with the
        task's loss times its weight (e.g. a fusion's output from one modality alone). Only
        training uses them; prediction calls ``forward``."""
        return self(inputs), []

    def parameter_groups(self, learning_rate: float) -> list[dict]:
        """Optimiser parameter groups; models with pretrained parts override this to give them
        their own learning rate."""
        return [{"params": [p for p in self.parameters() if p.requires_grad], "lr": learning_rate}]


def output_layer(in_features: int, out_features: int) -> torch.nn.Linear:
    """The linear output layer of a model, with small initial weights (normal, std 0.01) and zero
    bias: the initial outputs are near zero whatever the embedding's scale, so a classifier
    starts from uniform posteriors (loss ln C) and a regressor from the mean target."""
    layer = torch.nn.Linear(in_features, out_features)
    torch.nn.init.normal_(layer.weight, std=0.01)
    torch.nn.init.zeros_(layer.bias)
    return layer


def mask_from_lengths(lengths: torch.Tensor, max_length: int) -> torch.Tensor:
    """``(batch,) -> (batch, max_length)`` boolean mask of valid positions."""
    return torch.arange(max_length, device=lengths.device)[None, :] < lengths[:, None]
