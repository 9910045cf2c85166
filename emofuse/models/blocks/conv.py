"""The convolutional blocks of CNN14 (PANNs, Kong et al. 2020), reusable for conditioning.

:class:`CNN14Backbone` maps log-Mel frames to per-block feature maps. Its ``forward`` takes an
optional ``condition(index, features)`` callback applied after each block's pooling and before
its dropout, so that a fusion model can add a per-block projection of a text embedding
(MFCNN14: ``Y = MaxPool(ReLU(BN(Conv(ReLU(BN(Conv(X))))))) + W E + b``) without copying the
network; ``block_channels`` gives the channel count each projection must produce.

Padded frames are set to zero before every convolution, so an utterance's output does not
depend on how long the other utterances of its batch are (as if it were alone), and the batch
norms (:class:`MaskedBatchNorm2d`) count valid frames only: with plain batch norm, the zeros of
padding entered the training statistics (a batch of short and long utterances is mostly padding),
so the statistics a model trained with differed from the running ones it was evaluated with.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Sequence

import torch

from emofuse.models.blocks.dropout import Dropout

Condition = Callable[[int, torch.Tensor], torch.Tensor]


def time_mask(lengths: torch.Tensor | None, frames: int, *, axis: int, dims: int) -> torch.Tensor | None:
    """A ``{0, 1}`` mask of valid frames that broadcasts over a ``dims``-dimensional tensor whose
    time axis is ``axis`` (``None`` without lengths)."""
    if lengths is None:
        return None
    valid = (torch.arange(frames, device=lengths.device)[None, :] < lengths[:, None]).float()  # (batch, frames)
    shape = [valid.shape[0]] + [1] * (dims - 1)
    shape[axis] = frames
    return valid.view(shape)


def unpadded(lengths: torch.Tensor | None, frames: int) -> torch.Tensor | None:
    """``lengths``, or ``None`` when no utterance of the batch is padded: then no mask is made, batch
    norm runs fused and nothing is multiplied by ones (a third off a CNN14 training step on a batch
    of 16 unpadded 2 s crops). A backbone checks once per forward pass, at its input (reading the
    lengths stops a GPU's queue); not while tracing or compiling, whose graph must keep the mask
    for any lengths."""
    if lengths is None or torch.jit.is_tracing() or torch.compiler.is_compiling():
        return lengths
    return None if bool((lengths >= frames).all()) else lengths


def _apply(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """``values`` times a ``{0, 1}`` mask that broadcasts over it. Channels-last feature maps are
    multiplied in their memory order, ``(batch, frames, mels, channels)``, where the mask of a frame
    covers one contiguous run (x2.6 as fast on a batch of 8-channel maps as broadcasting over the
    logical order, whose innermost run is only the channels)."""
    if mask is None:
        return values
    mask = mask.to(values.dtype)
    if values.dim() == 4 and not values.is_contiguous() and values.is_contiguous(memory_format=torch.channels_last):
        return (values.permute(0, 2, 3, 1) * mask.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    return values * mask


class MaskedBatchNorm2d(torch.nn.BatchNorm2d):
    """:class:`torch.nn.BatchNorm2d` whose training statistics (and running estimates) count only
    the positions a ``(batch, 1, frames, 1)`` ``{0, 1}`` mask marks valid.

    Without a mask, and in evaluation (running statistics), it is plain batch norm: the same
    parameters and buffers, so it loads and exports like one. Under mixed precision (bfloat16 or
    float16 convolutions) the masked statistics are computed in float32, as plain batch norm does,
    and the output has the input's type.
    """

    def forward(self, values: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:  # type: ignore[override]
        if mask is None or not self.training or not self.track_running_stats:
            return super().forward(values)
        # channels-last maps on a CPU, whose products with the mask below run over only the channels at a time
        # (on a GPU they are cheap, and counting the valid frames would wait for its queue)
        if values.device.type == "cpu" and values.is_contiguous(memory_format=torch.channels_last):
            valid = mask.flatten() > 0  # (batch * frames,): the mask is (batch, 1, frames, 1)
            if int(valid.sum()) * values.shape[3] > 1:  # batch norm needs two values per channel
                return self._valid_frames(values, valid)
        dtype = values.dtype
        values = values.float()
        weight = mask.to(values.dtype).expand(values.shape[0], 1, values.shape[2], values.shape[3])
        count = weight.sum().clamp(min=1.0)
        mean = (values * weight).sum(dim=(0, 2, 3)) / count  # (channels,)
        centred = values - mean.view(1, -1, 1, 1)
        variance = (centred.square() * weight).sum(dim=(0, 2, 3)) / count
        with torch.no_grad():
            momentum = self._momentum()
            unbiased = variance * count / (count - 1.0).clamp(min=1.0)
            self.running_mean.lerp_(mean.detach(), momentum)
            self.running_var.lerp_(unbiased.detach(), momentum)
        normalised = centred * torch.rsqrt(variance + self.eps).view(1, -1, 1, 1)
        if self.affine:
            normalised = normalised * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
        return normalised.to(dtype)

    def _valid_frames(self, values: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Fused batch norm over the valid frames alone of channels-last maps, gathered in their memory
        order ``(batch, frames, mels, channels)``, and zeros at the padded frames. Its statistics and
        running estimates are those of the masked computation, whose broadcast products made a
        training step of the narrow CNN14 (8-64 channels) on a batch with padding x1.5 as slow."""
        batch, channels, frames, mels = values.shape
        rows = values.permute(0, 2, 3, 1).reshape(batch * frames, mels, channels)[valid]  # (valid frames, mels, channels)
        normalised = torch.nn.functional.batch_norm(
            rows.reshape(-1, channels).float(), self.running_mean, self.running_var, self.weight, self.bias, training=True,
            momentum=self._momentum(), eps=self.eps).to(values.dtype)
        out = values.new_zeros(batch * frames, mels, channels).index_put((valid,), normalised.view(-1, mels, channels))
        return out.view(batch, frames, mels, channels).permute(0, 3, 1, 2)  # channels-last (batch, channels, frames, mels)

    def _momentum(self) -> float:
        """The running estimates' update rate for this batch (``None`` momentum: a cumulative average)."""
        self.num_batches_tracked.add_(1)
        return (1.0 / float(self.num_batches_tracked)) if self.momentum is None else self.momentum


class ConvBlock(torch.nn.Module):
    """Two 3x3 convolutions with batch norm (over valid frames) and ReLU, then 2-D pooling.

    ``(batch, in_channels, frames, mels) -> (batch, out_channels, frames / p, mels / p)``.
    """

    def __init__(self, in_channels: int, out_channels: int, *, pool_size: tuple[int, int] = (2, 2),
                 pool_type: str = "max") -> None:
        super().__init__()
        if pool_type not in {"max", "avg", "avg+max"}:
            raise ValueError(f"pool_type must be 'max', 'avg' or 'avg+max', got {pool_type!r}")
        self.conv1 = torch.nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.bn1 = MaskedBatchNorm2d(out_channels)
        self.conv2 = torch.nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1, bias=False)
        self.bn2 = MaskedBatchNorm2d(out_channels)
        self.pool_size = tuple(pool_size)
        self.pool_type = pool_type
        for conv in (self.conv1, self.conv2):
            torch.nn.init.xavier_uniform_(conv.weight)

    def forward(self, values: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Features and the valid frames after pooling (``lengths`` counts frames of ``values``,
        whose padding must be zero)."""
        mask = time_mask(lengths, values.shape[2], axis=2, dims=4)
        values = _apply(torch.relu(self.bn1(self.conv1(values), mask)), mask)
        values = _apply(torch.relu(self.bn2(self.conv2(values), mask)), mask)
        # an axis already down to one bin (few Mel bins, very short input) is not pooled further
        # (plain ints: traced for ONNX, the window is fixed by an input at least as long as min_frames)
        size = (min(self.pool_size[0], int(values.shape[2])), min(self.pool_size[1], int(values.shape[3])))
        if size == (1, 1):
            return values, lengths
        if self.pool_type == "max":
            pooled = torch.nn.functional.max_pool2d(values, size)
        elif self.pool_type == "avg":
            pooled = torch.nn.functional.avg_pool2d(values, size)
        else:
            pooled = torch.nn.functional.avg_pool2d(values, size) + torch.nn.functional.max_pool2d(values, size)
        if lengths is None:
            return pooled, None
        # a pooling window that reaches into the padding is not a valid frame (alone, it would not exist)
        lengths = torch.div(lengths, size[0], rounding_mode="floor").clamp(min=1, max=pooled.shape[2])
        return _apply(pooled, time_mask(lengths, pooled.shape[2], axis=2, dims=4)), lengths


class CNN14Backbone(torch.nn.Module):
    """Batch norm over Mel bins, then six :class:`ConvBlock` s, each followed by dropout.

    The first five blocks pool 2x2, the sixth does not (as in PANNs). ``forward`` maps
    ``(batch, frames, mels)`` log-Mel frames and lengths to ``(batch, frames / 32, channels)``
    frame features (Mel axis averaged out) and their lengths. With ``channels_last`` the blocks'
    feature maps are kept in channels-last memory layout (see :class:`~emofuse.models.configs.CNN14Config`).
    """

    def __init__(self, n_mels: int, *, channels: Sequence[int] = (64, 128, 256, 512, 1024, 2048),
                 dropout: float = 0.2, pool_type: str = "max", channels_last: bool = False) -> None:
        super().__init__()
        self.input_norm = MaskedBatchNorm2d(n_mels)
        blocks = []
        previous = 1
        for index, width in enumerate(channels):
            pool = (2, 2) if index < len(channels) - 1 else (1, 1)
            blocks.append(ConvBlock(previous, width, pool_size=pool, pool_type=pool_type))
            previous = width
        self.blocks = torch.nn.ModuleList(blocks)
        self.dropout = Dropout(dropout)
        self.block_channels = tuple(channels)
        self.time_factor = 2 ** (len(channels) - 1)
        if channels_last:
            # the convolutions follow their weights' layout: every feature map is channels-last
            # (a state dict loads into it as into the default layout; saving copies it contiguous)
            self.blocks.to(memory_format=torch.channels_last)

    @property
    def output_size(self) -> int:
        return self.block_channels[-1]

    def forward(self, values: torch.Tensor, lengths: torch.Tensor | None, *,
                condition: Condition | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        # (batch, frames, mels) -> (batch, 1, frames, mels), batch norm over each Mel bin
        frames = values.shape[1]
        if frames < self.time_factor:  # too short to pool five times: pad with zeros
            values = torch.nn.functional.pad(values, (0, 0, 0, self.time_factor - frames))
        if lengths is not None:
            lengths = lengths.to(values.device).clamp(min=1, max=values.shape[1])
        lengths = unpadded(lengths, values.shape[1])
        mask = time_mask(lengths, values.shape[1], axis=2, dims=4)  # (batch, 1, frames, 1)
        values = self.input_norm(values.transpose(1, 2).unsqueeze(-1), mask).squeeze(-1).transpose(1, 2)
        hidden = _apply(values, time_mask(lengths, values.shape[1], axis=1, dims=3)).unsqueeze(1)
        for index, block in enumerate(self.blocks):
            hidden, lengths = block(hidden, lengths)  # (batch, channels_i, frames_i, mels_i)
            if condition is not None:
                hidden = _apply(condition(index, hidden), time_mask(lengths, hidden.shape[2], axis=2, dims=4))
            hidden = self.dropout(hidden)
        hidden = hidden.mean(dim=3).transpose(1, 2)  # (batch, frames / 32, channels)
        return hidden, lengths
