"""emofuse's dropout: PyTorch's semantics, a NumPy mask on large CPU tensors, fixed by torch's seed."""

from __future__ import annotations

import pytest
import torch

from emofuse.models.blocks.dropout import NUMPY_MASK_MIN_ELEMENTS
from emofuse.models.blocks.dropout import Dropout
from emofuse.models.blocks.dropout import dropout


@pytest.mark.parametrize("shape", [(16, 400, 128), (4, 8)])  # the NumPy mask, PyTorch's (small)
def test_dropout_zeroes_the_rate_and_scales_the_rest(shape):
    values = torch.rand(*shape) + 0.5  # no zeros of its own
    out = dropout(values, 0.25)
    kept = out != 0
    if values.numel() >= NUMPY_MASK_MIN_ELEMENTS:
        assert kept.float().mean().item() == pytest.approx(0.75, abs=0.005)
    assert torch.allclose(out[kept], values[kept] / 0.75)


def test_the_mask_is_fixed_by_torchs_seed_and_differs_between_calls():
    values = torch.ones(16, 300, 64)
    torch.manual_seed(7)
    first, second = dropout(values, 0.5), dropout(values, 0.5)
    torch.manual_seed(7)
    assert torch.equal(dropout(values, 0.5), first)
    assert not torch.equal(first, second)


def test_gradient_flows_through_the_kept_elements_only():
    values = torch.rand(16, 300, 64, requires_grad=True)
    out = dropout(values, 0.3)
    out.sum().backward()
    assert torch.allclose(values.grad, (out != 0).float() / 0.7)


def test_the_module_is_the_identity_in_evaluation_and_keeps_pytorchs_interface():
    layer = Dropout(0.4)
    assert isinstance(layer, torch.nn.Dropout) and layer.p == 0.4
    values = torch.rand(16, 300, 64)
    assert torch.equal(layer.eval()(values), values)
    assert not torch.equal(layer.train()(values), values)
    assert torch.equal(dropout(values, 0.0), values)
    assert torch.count_nonzero(dropout(values, 1.0)) == 0


def test_large_cpu_masks_come_from_numpy_and_small_ones_from_pytorch(monkeypatch):
    sizes = []
    original = torch.nn.functional.dropout
    monkeypatch.setattr(torch.nn.functional, "dropout",
                        lambda values, *args, **kwargs: sizes.append(values.numel()) or original(values, *args, **kwargs))
    dropout(torch.ones(16, 400, 128), 0.2)
    dropout(torch.ones(4, 8), 0.2)
    assert sizes == [32]


def test_use_fast_dropout_changes_plain_dropout_layers_in_place():
    from emofuse.models.blocks.dropout import use_fast_dropout

    encoder = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Dropout(0.3), Dropout(0.2),
                                  torch.nn.Sequential(torch.nn.Dropout(0.1)), torch.nn.AlphaDropout(0.5))
    before = encoder.state_dict()
    assert use_fast_dropout(encoder) == 2
    assert type(encoder[1]) is Dropout and encoder[1].p == 0.3 and type(encoder[3][0]) is Dropout
    assert type(encoder[4]) is torch.nn.AlphaDropout  # other kinds keep their own behaviour
    assert encoder.state_dict().keys() == before.keys()
    values = torch.ones(64, 1024)
    torch.manual_seed(0)
    dropped = encoder[1](values)
    assert torch.isclose((dropped == 0).float().mean(), torch.tensor(0.3), atol=0.01)
    assert use_fast_dropout(encoder) == 0
