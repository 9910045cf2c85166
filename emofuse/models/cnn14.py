"""CNN14 (PANNs, Kong et al. 2020) as the acoustic model of Triantafyllopoulos et al. (2022).

``(batch, frames, 64)`` log-Mel frames (32 ms windows, 10 ms hop) -> batch norm per Mel bin ->
six blocks of two 3x3 conv + BN + ReLU, 2x2 pooling (not after the sixth) and dropout (PANNs: 0.2;
off by default, see :class:`~emofuse.models.configs.CNN14Config`) ->
mean over the Mel axis -> max + mean over time (summed, as in PANNs) -> dropout -> linear +
ReLU (the embedding) -> dropout -> the output layer. In training, each utterance is a random
5 s crop (shorter ones stay whole, zero-padded); at test time the whole utterance is used.

The convolutional stack is :class:`~emofuse.models.blocks.conv.CNN14Backbone`, whose
per-block ``condition`` hook and ``block_channels`` let SFCNN14 / MFCNN14 add text projections.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from emofuse.models.base import EmotionModel
from emofuse.models.base import Input
from emofuse.models.base import output_layer
from emofuse.models.blocks.conv import CNN14Backbone
from emofuse.models.blocks.conv import Condition
from emofuse.models.blocks.crop import random_crop
from emofuse.models.blocks.dropout import Dropout
from emofuse.models.blocks.pooling import masked_max
from emofuse.models.blocks.pooling import masked_mean
from emofuse.models.configs import CNN14Config
from emofuse.models.inputs import InputSpec
from emofuse.models.inputs import expect_kinds
from emofuse.registry import Example
from emofuse.registry import builds


class CNN14(EmotionModel):
    def __init__(self, config: CNN14Config, inputs: Sequence[InputSpec], output_size: int) -> None:
        super().__init__()
        expect_kinds("cnn14", inputs, [{"sequence"}])
        from emofuse.audio.augment import SpecAugment

        self.config = config
        self.backbone = CNN14Backbone(inputs[0].dim, channels=config.channels, dropout=config.dropout,
                                      pool_type=config.pool_type, channels_last=config.channels_last)
        self.augment = SpecAugment(config.spec_augment) if config.spec_augment != "none" else None
        width = self.backbone.output_size
        self.embedding_size = width
        self.fc = torch.nn.Linear(width, width)
        self.dropout = Dropout(config.head_dropout)
        self.head = output_layer(width, output_size)

    def pooled(self, inputs: Sequence[Input], *, condition: Condition | None = None) -> torch.Tensor:
        """Backbone features pooled over time: ``(batch, channels)`` (before the linear layers)."""
        ((values, lengths),) = inputs  # (batch, frames, mels)
        if self.training and self.config.crop_seconds is not None:
            values, lengths = random_crop(values, lengths, int(round(self.config.crop_seconds * self.config.frame_rate)))
        if self.augment is not None:
            values = self.augment(values, lengths)
        frames, frame_lengths = self.backbone(values, lengths, condition=condition)  # (batch, frames / 32, channels)
        return masked_max(frames, frame_lengths) + masked_mean(frames, frame_lengths)

    def embed(self, inputs: Sequence[Input]) -> torch.Tensor:
        hidden = self.dropout(self.pooled(inputs))
        return self.dropout(torch.relu(self.fc(hidden)))  # (batch, channels)


@builds(CNN14Config, example=Example(("sequence",), {"channels": [4, 8, 8, 8, 8, 8], "crop_seconds": None}))
def build_cnn14(config: CNN14Config, inputs: Sequence[InputSpec], output_size: int) -> CNN14:
    return CNN14(config, inputs, output_size)
