"""SpecAugment (Park et al., 2019) on the fly: random time and frequency masks on spectrogram
batches, as a torch module that models call in ``forward`` (it is a no-op in eval mode).

Two named policies, after SpecAugment's LibriSpeech-basic and -double policies, with widths
scaled to the input (Padi et al. cite their exact values from an earlier paper; these are
emofuse's):

- ``conservative``: one frequency mask of up to 15 % of the bins, one time mask of up to
  40 frames and at most 10 % of the utterance.
- ``aggressive``: two frequency masks of up to 27 % of the bins, two time masks of up to
  100 frames and at most 20 % of the utterance each.
"""

from __future__ import annotations

import dataclasses

import torch


@dataclasses.dataclass(frozen=True)
class SpecAugmentPolicy:
    """How many masks of what maximum width; widths are drawn uniformly from ``[0, max]``."""

    frequency_masks: int = 1
    max_frequency_fraction: float = 0.15
    time_masks: int = 1
    max_time_frames: int = 40
    max_time_fraction: float = 0.1

    def __post_init__(self) -> None:
        if self.frequency_masks < 0 or self.time_masks < 0:
            raise ValueError("the numbers of masks must be non-negative")
        if not 0.0 <= self.max_frequency_fraction <= 1.0 or not 0.0 <= self.max_time_fraction <= 1.0:
            raise ValueError("mask fractions must be in [0, 1]")
        if self.max_time_frames < 0:
            raise ValueError("max_time_frames must be non-negative")


POLICIES: dict[str, SpecAugmentPolicy] = {
    "conservative": SpecAugmentPolicy(1, 0.15, 1, 40, 0.1),
    "aggressive": SpecAugmentPolicy(2, 0.27, 2, 100, 0.2),
}


def spec_augment_policy(name: str) -> SpecAugmentPolicy | None:
    """The policy called ``name`` (``none`` gives ``None``)."""
    if name == "none":
        return None
    if name not in POLICIES:
        raise ValueError(f"spec_augment must be 'none' or one of {sorted(POLICIES)}, got {name!r}")
    return POLICIES[name]


class SpecAugment(torch.nn.Module):
    """Masks random frequency bands and time spans of ``(batch, frames, bins)`` in training.

    Each item of the batch gets its own masks; time masks stay inside the item's valid frames
    (``lengths``). Masked values are set to ``value`` (0: the mean of normalised features).
    """

    def __init__(self, policy: SpecAugmentPolicy | str, *, value: float = 0.0) -> None:
        super().__init__()
        self.policy = POLICIES[policy] if isinstance(policy, str) else policy
        self.value = value

    def forward(self, values: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if not self.training:
            return values
        batch, frames, bins = values.shape
        device = values.device
        if lengths is None:
            lengths = torch.full((batch,), frames, device=device)
        lengths = lengths.to(device).clamp(max=frames)
        keep = torch.ones(batch, frames, bins, dtype=torch.bool, device=device)
        policy = self.policy
        bin_index = torch.arange(bins, device=device)[None, :]
        max_width = int(policy.max_frequency_fraction * bins)
        for _ in range(policy.frequency_masks):
            width = torch.randint(0, max_width + 1, (batch,), device=device)
            start = (torch.rand(batch, device=device) * (bins - width + 1)).long()
            band = (bin_index >= start[:, None]) & (bin_index < (start + width)[:, None])  # (batch, bins)
            keep &= ~band[:, None, :]
        frame_index = torch.arange(frames, device=device)[None, :]
        limit = torch.minimum(
            torch.full_like(lengths, policy.max_time_frames), (policy.max_time_fraction * lengths).long()
        )
        for _ in range(policy.time_masks):
            width = (torch.rand(batch, device=device) * (limit + 1)).long()
            start = (torch.rand(batch, device=device) * (lengths - width + 1).clamp(min=1)).long()
            span = (frame_index >= start[:, None]) & (frame_index < (start + width)[:, None])  # (batch, frames)
            keep &= ~span[:, :, None]
        return torch.where(keep, values, torch.full_like(values, self.value))
