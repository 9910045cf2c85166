"""Random crops of padded batches, done inside models in training mode.

CNN14 trains on random 5 s crops (Triantafyllopoulos et al.); the ResNet34 of Padi et al. on
random T-frame chunks with T drawn per batch. Crops keep the padding convention: items shorter
than the crop stay whole and zero-padded, with their lengths.
"""

from __future__ import annotations

import torch


def random_crop(
    values: torch.Tensor, lengths: torch.Tensor | None, size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """A random window of at most ``size`` frames of every item.

    ``(batch, frames, ...)`` with ``(batch,)`` lengths -> ``(batch, min(size, frames), ...)``
    and the new lengths. Offsets are drawn uniformly from the valid range of each item
    (torch's global generator, which the runner seeds).
    """
    batch, frames = values.shape[:2]
    if lengths is None:
        lengths = torch.full((batch,), frames, dtype=torch.long, device=values.device)
    lengths = lengths.to(values.device).clamp(max=frames)
    if frames <= size:
        return values, lengths
    spare = (lengths - size).clamp(min=0)  # (batch,)
    offsets = (torch.rand(batch, device=values.device) * (spare + 1).to(torch.float32)).long().clamp(max=spare)
    index = offsets[:, None] + torch.arange(size, device=values.device)[None, :]  # (batch, size)
    index = index.clamp(max=frames - 1)
    cropped = values[torch.arange(batch, device=values.device)[:, None], index]
    new_lengths = lengths.clamp(max=size)
    # items shorter than the crop keep zero padding beyond their length
    valid = torch.arange(size, device=values.device)[None, :] < new_lengths[:, None]
    shape = (batch, size) + (1,) * (values.dim() - 2)
    return cropped * valid.view(shape).to(values.dtype), new_lengths


def downsampled_lengths(lengths: torch.Tensor | None, factor: int, frames: int) -> torch.Tensor | None:
    """Lengths after pooling time by ``factor`` (ceil), clamped to ``[1, frames]``."""
    if lengths is None:
        return None
    return torch.div(lengths + factor - 1, factor, rounding_mode="floor").clamp(min=1, max=frames)
