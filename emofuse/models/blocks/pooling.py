"""Pooling over time with padding masks: mean, max, mean+max, statistics, attention.

Every function takes zero-padded frames ``(batch, frames, dim)`` and ``(batch,)`` lengths (or
``None`` when every frame is valid) and ignores the padding. Pooling heads of Boigne et al.
(mean, mean+max, logistic-regression attention), the statistics pooling of x-vector / ResNet
speaker models (Padi et al.) and the structured self-attention of IEmoNet's SER model.
"""

from __future__ import annotations

import torch

from emofuse.models.base import mask_from_lengths
from emofuse.models.configs import POOLINGS


def frame_mask(values: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """``(batch, frames)`` boolean mask of valid frames (all true without lengths)."""
    batch, frames = values.shape[:2]
    if lengths is None:
        return torch.ones(batch, frames, dtype=torch.bool, device=values.device)
    return mask_from_lengths(lengths.to(values.device).clamp(min=1, max=frames), frames)


def masked_mean(values: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """``(batch, frames, dim) -> (batch, dim)``: the mean over valid frames."""
    weights = frame_mask(values, lengths).unsqueeze(-1).to(values.dtype)
    return (values * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1.0)


def masked_max(values: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """``(batch, frames, dim) -> (batch, dim)``: the maximum over valid frames."""
    mask = frame_mask(values, lengths).unsqueeze(-1)
    return values.masked_fill(~mask, torch.finfo(values.dtype).min).amax(dim=1)


def masked_std(values: torch.Tensor, lengths: torch.Tensor | None, *, eps: float = 1e-5) -> torch.Tensor:
    """``(batch, frames, dim) -> (batch, dim)``: the (biased) standard deviation over valid frames."""
    weights = frame_mask(values, lengths).unsqueeze(-1).to(values.dtype)
    count = weights.sum(dim=1).clamp(min=1.0)
    mean = (values * weights).sum(dim=1) / count
    variance = (((values - mean.unsqueeze(1)) ** 2) * weights).sum(dim=1) / count
    return torch.sqrt(variance.clamp(min=eps))


def masked_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Softmax over dim 1 of ``(batch, frames)`` scores, zero on padding."""
    scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return torch.softmax(scores, dim=1) * mask.to(scores.dtype)


class MeanPooling(torch.nn.Module):
    """``(batch, frames, dim) -> (batch, dim)``."""

    def output_size(self, dim: int) -> int:
        return dim

    def forward(self, values: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        return masked_mean(values, lengths)


class MeanMaxPooling(torch.nn.Module):
    """Mean and max over time, concatenated: ``(batch, frames, dim) -> (batch, 2 * dim)``."""

    def output_size(self, dim: int) -> int:
        return 2 * dim

    def forward(self, values: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        return torch.cat([masked_mean(values, lengths), masked_max(values, lengths)], dim=-1)


class StatisticsPooling(torch.nn.Module):
    """Mean and standard deviation over time: ``(batch, frames, dim) -> (batch, 2 * dim)``."""

    def output_size(self, dim: int) -> int:
        return 2 * dim

    def forward(self, values: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        return torch.cat([masked_mean(values, lengths), masked_std(values, lengths)], dim=-1)


class LogisticAttentionPooling(torch.nn.Module):
    """Boigne et al.'s attention pooling: frame weights from a logistic regression.

    ``s_t = sigmoid(w . x_t + b)``, ``a_t = s_t / sum_t' s_t'`` over valid frames, output
    ``sum_t a_t x_t``. With ``w = 0`` every frame weighs the same: mean pooling is a special case.
    ``(batch, frames, dim) -> (batch, dim)``.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.scorer = torch.nn.Linear(dim, 1)

    def output_size(self, dim: int) -> int:
        return dim

    def weights(self, values: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        """``(batch, frames)`` attention weights summing to one over valid frames."""
        mask = frame_mask(values, lengths)
        relevance = torch.sigmoid(self.scorer(values).squeeze(-1)) * mask.to(values.dtype)  # (batch, frames)
        return relevance / relevance.sum(dim=1, keepdim=True).clamp(min=1e-12)

    def forward(self, values: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        return torch.einsum("bt,btd->bd", self.weights(values, lengths), values)


class SelfAttentionPooling(torch.nn.Module):
    """Structured self-attention (Lin et al., 2017), as IEmoNet's SER model uses it.

    ``e_t = v . tanh(W x_t + c)`` with ``W`` of ``attention_size`` rows, ``a = softmax(e)`` over
    valid frames, output ``sum_t a_t x_t``: ``(batch, frames, dim) -> (batch, dim)``.
    """

    def __init__(self, dim: int, attention_size: int) -> None:
        super().__init__()
        self.projection = torch.nn.Linear(dim, attention_size)
        self.context = torch.nn.Linear(attention_size, 1, bias=False)

    def output_size(self, dim: int) -> int:
        return dim

    def weights(self, values: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        scores = self.context(torch.tanh(self.projection(values))).squeeze(-1)  # (batch, frames)
        return masked_softmax(scores, frame_mask(values, lengths))

    def forward(self, values: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
        return torch.einsum("bt,btd->bd", self.weights(values, lengths), values)




def build_pooling(name: str, dim: int) -> torch.nn.Module:
    """A pooling module by name: ``mean``, ``mean_max``, ``attention`` (logistic) or ``statistics``."""
    if name == "mean":
        return MeanPooling()
    if name == "mean_max":
        return MeanMaxPooling()
    if name == "attention":
        return LogisticAttentionPooling(dim)
    if name == "statistics":
        return StatisticsPooling()
    raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {name!r}")
