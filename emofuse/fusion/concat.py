"""Concatenation network (Atmaja & Akagi 2020): modality branches, concatenated, a dense layer.

Each branch is any registered model (Atmaja's acoustic LSTM branch on HSF, their text LSTM
branch on word vectors, ...) applied to its share of the system's inputs; the branches'
embeddings are concatenated and passed through ``Dense(hidden_size)`` to one output per class
or target. Trained end to end, single- or multi-task (the task's loss: weighted CCC for
dimensional tasks).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from emofuse.components import MODELS
from emofuse.models.base import EmotionModel
from emofuse.models.base import Input
from emofuse.models.base import output_layer
from emofuse.models.blocks.dropout import Dropout
from emofuse.models.configs import ConcatFusionConfig
from emofuse.models.inputs import InputSpec
from emofuse.registry import Example
from emofuse.registry import builds


class ConcatFusion(EmotionModel):
    def __init__(self, config: ConcatFusionConfig, inputs: Sequence[InputSpec], output_size: int) -> None:
        super().__init__()
        counts = list(config.inputs_per_branch or [1] * len(config.branches))
        if sum(counts) != len(inputs):
            raise ValueError(f"concat fusion: branches take {sum(counts)} inputs, the system gives {len(inputs)}")
        branches, start = [], 0
        for component, count in zip(config.branches, counts, strict=True):
            branch = MODELS.build(component.name, component.config, list(inputs[start : start + count]), 1)
            if not isinstance(branch, EmotionModel):
                raise ValueError(f"concat fusion: branch {component.name!r} is not a neural model")
            branch.head = torch.nn.Identity()  # only the branch's embedding is used
            branches.append(branch)
            start += count
        self.counts = counts
        self.branches = torch.nn.ModuleList(branches)
        size = sum(branch.embedding_size for branch in branches)
        self.dense = torch.nn.Sequential(torch.nn.Linear(size, config.hidden_size), torch.nn.ReLU(), Dropout(config.dropout))
        self.embedding_size = config.hidden_size
        self.head = output_layer(config.hidden_size, output_size)

    def embed(self, inputs: Sequence[Input]) -> torch.Tensor:
        parts, start = [], 0
        for branch, count in zip(self.branches, self.counts, strict=True):
            parts.append(branch.embed(inputs[start : start + count]))  # (batch, branch embedding)
            start += count
        return self.dense(torch.cat(parts, dim=-1))  # (batch, hidden_size)

    def parameter_groups(self, learning_rate: float) -> list[dict]:
        # the branches' own groups keep their pretrained flags
        groups = [g for branch in self.branches for g in branch.parameter_groups(learning_rate)]
        return [*groups, {"params": [*self.dense.parameters(), *self.head.parameters()], "lr": learning_rate}]


@builds(ConcatFusionConfig, example=Example(("vector", "text_vector"), {"branches": [{"name": "mlp", "hidden_sizes": [8]}, {"name": "mlp", "hidden_sizes": [8]}], "hidden_size": 8}))
def build_concat(config: ConcatFusionConfig, inputs: Sequence[InputSpec], output_size: int) -> ConcatFusion:
    return ConcatFusion(config, inputs, output_size)
