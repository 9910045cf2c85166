"""A learnable weighted sum over the layers of a self-supervised encoder (s3prl / SUPERB)."""

from __future__ import annotations

import torch


class LayerWeightedSum(torch.nn.Module):
    """``sum_l softmax(w)_l * h_l`` over stacked layers.

    Takes ``(..., layers, dim)`` or the layers concatenated along the last axis,
    ``(..., layers * dim)`` (how the ``ssl`` extractor caches ``layer: all``), and returns
    ``(..., dim)``. Weights start equal.
    """

    def __init__(self, num_layers: int) -> None:
        super().__init__()
        if num_layers < 1:
            raise ValueError("num_layers must be positive")
        self.num_layers = num_layers
        self.logits = torch.nn.Parameter(torch.zeros(num_layers))

    @property
    def weights(self) -> torch.Tensor:
        return torch.softmax(self.logits, dim=0)

    def forward(self, values: torch.Tensor, *, stacked: bool = False) -> torch.Tensor:
        if not stacked:
            if values.shape[-1] % self.num_layers:
                raise ValueError(
                    f"feature size {values.shape[-1]} is not a multiple of num_layers={self.num_layers}"
                )
            values = values.unflatten(-1, (self.num_layers, values.shape[-1] // self.num_layers))
        if values.shape[-2] != self.num_layers:
            raise ValueError(f"expected {self.num_layers} layers, got {values.shape[-2]}")
        return torch.einsum("...ld,l->...d", values, self.weights.to(values.dtype))
