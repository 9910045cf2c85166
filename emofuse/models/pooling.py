"""Pooling heads over frame features (Boigne et al. 2020).

Four heads over a frame sequence (log-Mel frames, pyAudioAnalysis descriptors, wav2vec 2.0
layers, ...), each followed by dropout and the output layer:

- ``mean``: the mean over time; ``mean_max``: mean and max concatenated;
- ``attention``: a weighted mean, the weights from a logistic regression on each frame;
- ``mlp_mean``: a frame-wise MLP shared over time (dropout after every layer), then the mean.

By default the pooled vector is batch-normalised first (``normalize_pooled``; not in the paper).

``num_layers > 1`` reads each frame as that many stacked encoder layers (the ``ssl`` extractor
with ``layer: all``) and learns their weighted sum first.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from emofuse.models.base import EmotionModel
from emofuse.models.base import Input
from emofuse.models.base import output_layer
from emofuse.models.blocks.dropout import Dropout
from emofuse.models.blocks.layers import LayerWeightedSum
from emofuse.models.blocks.pooling import LogisticAttentionPooling
from emofuse.models.blocks.pooling import MeanMaxPooling
from emofuse.models.blocks.pooling import MeanPooling
from emofuse.models.configs import PoolingConfig
from emofuse.models.inputs import InputSpec
from emofuse.models.inputs import expect_kinds
from emofuse.registry import Example
from emofuse.registry import builds


class PooledBatchNorm(torch.nn.BatchNorm1d):
    """Batch norm over pooled vectors; a training batch of one utterance (the last of an epoch,
    a bucket of one) is normalised with the running statistics instead of failing."""

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        if self.training and values.shape[0] == 1:
            return torch.nn.functional.batch_norm(values, self.running_mean, self.running_var, self.weight, self.bias,
                                                  training=False, eps=self.eps)
        return super().forward(values)


class PoolingHead(EmotionModel):
    def __init__(self, config: PoolingConfig, inputs: Sequence[InputSpec], output_size: int) -> None:
        super().__init__()
        expect_kinds("pooling", inputs, [{"sequence"}])
        dim = inputs[0].dim
        self.layers = None
        if config.num_layers > 1:
            self.layers = LayerWeightedSum(config.num_layers)
            dim //= config.num_layers
        self.frame_mlp = torch.nn.Sequential()
        if config.head == "mlp_mean":
            layers: list[torch.nn.Module] = []
            for hidden in config.hidden_sizes:
                layers += [torch.nn.Linear(dim, hidden), torch.nn.ReLU(), Dropout(config.dropout)]
                dim = hidden
            self.frame_mlp = torch.nn.Sequential(*layers)
        if config.head == "mean_max":
            self.pooling: torch.nn.Module = MeanMaxPooling()
        elif config.head == "attention":
            self.pooling = LogisticAttentionPooling(dim)
        else:
            self.pooling = MeanPooling()
        self.embedding_size = self.pooling.output_size(dim)
        self.normalize = PooledBatchNorm(self.embedding_size) if config.normalize_pooled else torch.nn.Identity()
        self.dropout = Dropout(config.dropout)
        self.head = output_layer(self.embedding_size, output_size)

    def embed(self, inputs: Sequence[Input]) -> torch.Tensor:
        ((values, lengths),) = inputs  # (batch, frames, dim), (batch,)
        if self.layers is not None:
            values = self.layers(values)  # (batch, frames, layers * dim) -> (batch, frames, dim)
        values = self.frame_mlp(values)  # (batch, frames, hidden) for mlp_mean
        return self.dropout(self.normalize(self.pooling(values, lengths)))  # (batch, embedding_size)


@builds(PoolingConfig, example=Example(("sequence",), {"head": "attention", "hidden_sizes": [16]}))
def build_pooling(config: PoolingConfig, inputs: Sequence[InputSpec], output_size: int) -> PoolingHead:
    return PoolingHead(config, inputs, output_size)
