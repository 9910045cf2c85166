"""Modality dropout: whole utterances of one input replaced by zeros in training."""

from __future__ import annotations

import torch


def modality_dropout(values: torch.Tensor, rate: float) -> torch.Tensor:
    """``values`` ``(batch, ...)`` with each utterance's entry replaced by zeros with probability
    ``rate`` (all of it: every word or dimension); call it in training only."""
    keep = torch.rand(len(values), *([1] * (values.dim() - 1)), device=values.device) >= rate  # (batch, 1, ...)
    return values * keep.to(values.dtype)
