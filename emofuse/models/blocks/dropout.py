"""Dropout: inverted dropout with a fast CPU mask, and modality dropout (whole utterances).

PyTorch draws a CPU dropout mask one Mersenne-Twister number per element: on 2 cores that made
dropout a third of the pooled MLP's training step on frame features (16 utterances x 400
frames x 128 units: about 12 ms, against 3 ms for the layer before it). :func:`dropout` draws
large CPU masks with NumPy's PCG64 generator instead, seeded from torch's generator so that
``torch.manual_seed`` still fixes every mask (and a resumed or repeated run draws the same
ones); GPU tensors and small ones take PyTorch's own dropout. ``benchmarks/dropout_speed.py``
measures both.
"""

from __future__ import annotations

import numpy as np
import torch

#: Below this many elements PyTorch's own dropout is as fast (the NumPy path costs ~50 us to set up).
NUMPY_MASK_MIN_ELEMENTS = 1 << 15
_LEVELS = 1 << 16  # the mask's resolution: the drop rate is rounded to a multiple of 1 / 65536


def dropout(values: torch.Tensor, rate: float, training: bool = True) -> torch.Tensor:
    """``torch.nn.functional.dropout(values, rate, training)``: in training each element is
    zeroed with probability ``rate`` and the rest are scaled by ``1 / (1 - rate)``."""
    if not training or rate == 0.0:
        return values
    if (rate >= 1.0 or values.device.type != "cpu" or values.numel() < NUMPY_MASK_MIN_ELEMENTS
            or torch.jit.is_scripting() or torch.jit.is_tracing()):
        return torch.nn.functional.dropout(values, rate, True)
    seed = int(torch.randint(0, 2**62, (1,)))  # torch's generator decides the mask
    draws = np.random.default_rng(seed).integers(0, _LEVELS, size=values.shape, dtype=np.uint16)
    keep = torch.from_numpy(draws >= round(rate * _LEVELS))
    return values * keep * (1.0 / (1.0 - rate))  # autograd keeps the boolean mask, as PyTorch's dropout


class Dropout(torch.nn.Dropout):
    """``torch.nn.Dropout`` through :func:`dropout` (the identity in evaluation, as before)."""

    def forward(self, values: torch.Tensor) -> torch.Tensor:
        return dropout(values, self.p, self.training)


def use_fast_dropout(module: torch.nn.Module) -> int:
    """Turn every plain ``torch.nn.Dropout`` layer inside ``module`` (a pretrained encoder built by
    a library, e.g. a Hugging Face BERT or wav2vec 2.0) into :class:`Dropout`, in place: the same
    rate and behaviour, emofuse's CPU masks. Returns how many layers it changed."""
    changed = 0
    for layer in module.modules():
        if type(layer) is torch.nn.Dropout:
            layer.__class__ = Dropout
            changed += 1
    return changed


def modality_dropout(values: torch.Tensor, rate: float) -> torch.Tensor:
    """``values`` ``(batch, ...)`` with each utterance's entry replaced by zeros with probability
    ``rate`` (all of it: every word or dimension); call it in training only."""
    keep = torch.rand(len(values), *([1] * (values.dim() - 1)), device=values.device) >= rate  # (batch, 1, ...)
    return values * keep.to(values.dtype)
