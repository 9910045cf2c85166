"""ResNet34 speech emotion model after Padi et al. (2022), from scratch or from a speaker model.

``(batch, frames, 128)`` log-Mel frames (25 ms / 10 ms, segment-level mean and variance
normalisation) -> optional SpecAugment (training only) -> ResNet34 (32 channels in the first
block, PReLU, batch norm) -> statistics pooling (mean and std over time) -> FC 512 + BN + PReLU
(the embedding) -> the output layer.

In training, every batch is cut to random T-frame chunks, T drawn per batch from
``chunk_frames`` ({150, 200, 250, 300}), random offsets per utterance, shorter utterances whole
and padded; at test time the whole utterance goes through (statistics pooling takes any
length). ``pretrained`` names a speaker-model weights file loaded into the backbone
(:func:`~emofuse.audio.speaker.load_speaker_weights`). ``mode: linear_probe`` freezes the
backbone (its batch-norm statistics too) and trains only the new FC layers (Padi et al.: SGD
lr 0.1); ``mode: full`` fine-tunes everything, the backbone as a ``pretrained`` parameter group
so that ``training.encoder_learning_rate`` (1e-3) applies to it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from emofuse.models.base import EmotionModel
from emofuse.models.base import Input
from emofuse.models.base import output_layer
from emofuse.models.blocks.crop import random_crop
from emofuse.models.blocks.dropout import Dropout
from emofuse.models.blocks.pooling import StatisticsPooling
from emofuse.models.blocks.resnet import ResNetBackbone
from emofuse.models.configs import ResNet34Config
from emofuse.models.inputs import InputSpec
from emofuse.models.inputs import expect_kinds
from emofuse.registry import Example
from emofuse.registry import builds

log = logging.getLogger(__name__)


class ResNet34(EmotionModel):
    def __init__(self, config: ResNet34Config, inputs: Sequence[InputSpec], output_size: int) -> None:
        super().__init__()
        expect_kinds("resnet34", inputs, [{"sequence"}])
        from emofuse.audio.augment import SpecAugment

        self.config = config
        self.backbone = ResNetBackbone(inputs[0].dim, channels=config.channels, layers=config.layers,
                                       activation=config.activation)
        if config.pretrained is not None:
            from emofuse.audio.speaker import load_speaker_weights

            load_speaker_weights(self.backbone, config.pretrained)
        elif config.mode == "linear_probe":
            log.warning("resnet34: linear_probe without pretrained weights trains a head on a random backbone")
        self.augment = SpecAugment(config.spec_augment) if config.spec_augment != "none" else None
        self.pooling = StatisticsPooling()
        self.fc = torch.nn.Sequential(
            torch.nn.Linear(self.pooling.output_size(self.backbone.output_size), config.embedding_size),
            torch.nn.BatchNorm1d(config.embedding_size),
            torch.nn.PReLU(config.embedding_size) if config.activation == "prelu" else torch.nn.ReLU(),
        )
        self.embedding_size = config.embedding_size
        self.dropout = Dropout(config.dropout)
        self.head = output_layer(config.embedding_size, output_size)
        if config.mode == "linear_probe":
            self.backbone.requires_grad_(False)

    def train(self, mode: bool = True) -> ResNet34:
        super().train(mode)
        if self.config.mode == "linear_probe":
            self.backbone.eval()  # frozen: keep the speaker model's batch-norm statistics
        return self

    def parameter_groups(self, learning_rate: float) -> list[dict]:
        head = [p for n, p in self.named_parameters() if not n.startswith("backbone.")]
        groups = [{"params": head, "lr": learning_rate}]
        if self.config.mode == "full":
            backbone = list(self.backbone.parameters())
            groups.append({"params": backbone, "lr": learning_rate, "pretrained": self.config.pretrained is not None})
        return groups

    def embed(self, inputs: Sequence[Input]) -> torch.Tensor:
        ((values, lengths),) = inputs  # (batch, frames, mels)
        if self.training:
            choice = int(torch.randint(len(self.config.chunk_frames), (1,)))
            values, lengths = random_crop(values, lengths, self.config.chunk_frames[choice])
        if self.augment is not None:
            values = self.augment(values, lengths)
        frames, frame_lengths = self.backbone(values, lengths)  # (batch, frames / 8, channels * mels / 8)
        return self.dropout(self.fc(self.pooling(frames, frame_lengths)))  # (batch, embedding_size)


@builds(ResNet34Config, example=Example(("sequence",), {"channels": 4, "layers": [1, 1, 1, 1], "embedding_size": 16, "chunk_frames": [32]}))
def build_resnet34(config: ResNet34Config, inputs: Sequence[InputSpec], output_size: int) -> ResNet34:
    return ResNet34(config, inputs, output_size)
