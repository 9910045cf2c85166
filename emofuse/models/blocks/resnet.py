"""A ResNet over log-Mel spectrograms, as speaker-recognition models use it (ResNet34 with
32 channels in the first block, PReLU and batch norm; Padi et al. 2022).

Parameter names follow the common speaker-model layout (``conv1``, ``bn1``,
``layer1.0.conv1``, ..., ``layer4.2.shortcut.0``) so that external weights load by name (see
:func:`emofuse.audio.speaker.load_speaker_weights`).

Padded frames are set to zero before every convolution, so an utterance's output does not
depend on how long the other utterances of its batch are.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from emofuse.models.blocks.conv import _apply
from emofuse.models.blocks.conv import time_mask
from emofuse.models.blocks.conv import unpadded


def _strided(lengths: torch.Tensor | None, stride: int) -> torch.Tensor | None:
    """Frames after a 3x3 convolution with padding 1 and ``stride``: ``ceil(n / stride)``."""
    if lengths is None or stride == 1:
        return lengths
    return torch.div(lengths + stride - 1, stride, rounding_mode="floor")


#: convolutions with fewer output channels than this run channels-last on CPUs (see :class:`NarrowConv2d`)
NARROW_CHANNELS = 16


class NarrowConv2d(torch.nn.Conv2d):
    """``torch.nn.Conv2d`` computed in channels-last memory layout on CPUs, its output returned in
    the default layout (the same parameters, names and results up to rounding).

    oneDNN's default-layout kernels vectorise over the channels; with the 4 and 8 channels of the
    narrow ResNet34 that two CPU cores train, the full-resolution 3x3 convolutions took 17 ms
    backward against 4.7 ms forward, and a training step 223 ms (batch of 16 x 175 frames x 64 Mel
    bins, one thread). Channels-last, forward and backward of one such convolution took 3.2 ms
    against 21 ms, and the step 159 ms. Only the convolution changes layout: batch norm and PReLU
    over 4 channels were slower channels-last than the copies cost (the step 175 ms with the
    whole network channels-last). At 32 channels and more the default layout is as fast, so wider
    convolutions stay plain ``Conv2d``; on GPUs this one does too. So do the 1x1 shortcut
    convolutions: with stride 2 and an even number of frames, channels-last, PyTorch 2.13's CPU
    kernel corrupted the heap (a crash in the backward pass of the first batch).
    """

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        if values.device.type != "cpu":
            return super().forward(values)
        return super().forward(values.contiguous(memory_format=torch.channels_last)).contiguous()


def _conv(in_channels: int, channels: int, kernel: int, **options: int) -> torch.nn.Conv2d:
    layer = NarrowConv2d if channels < NARROW_CHANNELS and kernel == 3 else torch.nn.Conv2d
    return layer(in_channels, channels, kernel, bias=False, **options)


def _activation(name: str, channels: int) -> torch.nn.Module:
    if name == "prelu":
        return torch.nn.PReLU(channels)
    if name == "relu":
        return torch.nn.ReLU()
    raise ValueError(f"activation must be 'prelu' or 'relu', got {name!r}")


class BasicBlock(torch.nn.Module):
    """Two 3x3 convolutions with batch norm and a (projected) shortcut.

    ``(batch, in_channels, frames, mels) -> (batch, channels, frames / stride, mels / stride)``.
    """

    def __init__(self, in_channels: int, channels: int, *, stride: int = 1, activation: str = "prelu") -> None:
        super().__init__()
        self.conv1 = _conv(in_channels, channels, 3, stride=stride, padding=1)
        self.bn1 = torch.nn.BatchNorm2d(channels)
        self.act1 = _activation(activation, channels)
        self.conv2 = _conv(channels, channels, 3, padding=1)
        self.bn2 = torch.nn.BatchNorm2d(channels)
        self.act2 = _activation(activation, channels)
        self.stride = stride
        self.shortcut = torch.nn.Sequential()
        if stride != 1 or in_channels != channels:
            self.shortcut = torch.nn.Sequential(
                _conv(in_channels, channels, 1, stride=stride), torch.nn.BatchNorm2d(channels)
            )

    def forward(self, values: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``values`` (batch, channels, mels, frames) with zero padding beyond ``lengths``."""
        lengths = _strided(lengths, self.stride)
        hidden = self.act1(self.bn1(self.conv1(values)))
        mask = time_mask(lengths, hidden.shape[3], axis=3, dims=4)
        hidden = self.bn2(self.conv2(_apply(hidden, mask)))
        return _apply(self.act2(hidden + self.shortcut(values)), mask), lengths


class ResNetBackbone(torch.nn.Module):
    """``(batch, frames, mels) -> (batch, frames / 8, 8 * channels * ceil(mels / 8))`` frame
    features (channels and the remaining Mel axis flattened), with lengths."""

    def __init__(self, n_mels: int, *, channels: int = 32, layers: Sequence[int] = (3, 4, 6, 3),
                 activation: str = "prelu") -> None:
        super().__init__()
        if len(layers) != 4:
            raise ValueError(f"a ResNet backbone has four stages: layers needs four block counts, got {list(layers)}")
        self.conv1 = _conv(1, channels, 3, padding=1)
        self.bn1 = torch.nn.BatchNorm2d(channels)
        self.act1 = _activation(activation, channels)
        widths = [channels * 2**i for i in range(len(layers))]
        previous = channels
        stages = []
        for index, (width, count) in enumerate(zip(widths, layers, strict=True)):
            stride = 1 if index == 0 else 2
            blocks = [BasicBlock(previous, width, stride=stride, activation=activation)]
            blocks += [BasicBlock(width, width, activation=activation) for _ in range(count - 1)]
            stages.append(torch.nn.Sequential(*blocks))
            previous = width
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        mels_out = n_mels
        for _ in range(3):
            mels_out = (mels_out + 1) // 2
        self.output_size = widths[-1] * mels_out

    def forward(self, values: torch.Tensor, lengths: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        # (batch, frames, mels) -> (batch, 1, mels, frames): frequency x time images
        if lengths is not None:
            lengths = lengths.to(values.device).clamp(min=1, max=values.shape[1])
        lengths = unpadded(lengths, values.shape[1])
        images = values.transpose(1, 2).unsqueeze(1)
        hidden = self.act1(self.bn1(self.conv1(_apply(images, time_mask(lengths, images.shape[3], axis=3, dims=4)))))
        hidden = _apply(hidden, time_mask(lengths, hidden.shape[3], axis=3, dims=4))
        for stage in (self.layer1, self.layer2, self.layer3, self.layer4):
            for block in stage:
                hidden, lengths = block(hidden, lengths)  # (batch, C, mels / s, frames / s)
        batch, channels, mels, frames = hidden.shape
        hidden = hidden.reshape(batch, channels * mels, frames).transpose(1, 2)  # (batch, frames/8, C * mels/8)
        return hidden, None if lengths is None else lengths.clamp(min=1, max=frames)
