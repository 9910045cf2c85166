"""How per-utterance input values become model inputs: one ``(values, lengths)`` pair per input.

Vectors are stacked to ``(batch, dim)`` with ``None`` lengths; sequences and waveforms are
zero-padded to ``(batch, max frames, ...)`` with ``(batch,)`` lengths; texts stay a list of
strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from emofuse.models.base import Input


def pad(arrays: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad along the first axis: ``[(t_i, ...)] -> (batch, max t, ...), (batch,)``.

    >>> values, lengths = pad([np.ones((2, 3)), np.ones((1, 3))])
    >>> tuple(values.shape), lengths.tolist(), float(values[1, 1].sum())
    ((2, 2, 3), [2, 1], 0.0)
    """
    lengths = torch.tensor([len(v) for v in arrays], dtype=torch.long)
    first = np.asarray(arrays[0])
    padded = np.zeros((len(arrays), int(lengths.max()), *first.shape[1:]), dtype=np.float32)
    for row, value in enumerate(arrays):
        padded[row, : len(value)] = value
    return torch.from_numpy(padded), lengths


def collate_input(kind: str, column: Sequence[Any]) -> Input:
    """One model input from the values of a batch (``kind``: vector, sequence, waveform, text)."""
    if kind == "text":
        return list(column), None
    if kind == "vector":
        return torch.from_numpy(np.stack([np.asarray(v, dtype=np.float32) for v in column])), None
    return pad([np.asarray(v, dtype=np.float32) for v in column])


def value_length(kind: str, value: Any) -> int:
    """Frames of a sequence, samples of a waveform, characters of a text, 1 for a vector."""
    if kind == "text":
        return len(value)
    if kind == "vector":
        return 1
    return int(np.shape(value)[0])
