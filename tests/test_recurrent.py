import pytest
import torch

from emofuse.models.blocks.recurrent import reverse_within_lengths
from emofuse.models.blocks.recurrent import run_lstm


def _packed(lstm: torch.nn.LSTM, values: torch.Tensor, lengths: torch.Tensor):
    """PyTorch's packed sequences (what the recurrent models computed before, and do on a GPU)."""
    packed = torch.nn.utils.rnn.pack_padded_sequence(values, lengths.clamp(min=1), batch_first=True, enforce_sorted=False)
    output, (final, _) = lstm(packed)
    output, _ = torch.nn.utils.rnn.pad_packed_sequence(output, batch_first=True, total_length=values.shape[1])
    return output, final


def _padded(lstm: torch.nn.LSTM, values: torch.Tensor, lengths: torch.Tensor):
    return run_lstm(lstm, values, lengths, packed=False)


def test_reverse_within_lengths_keeps_the_padding_in_place():
    values = torch.tensor([[1, 2, 3, 0], [4, 5, 0, 0]]).unsqueeze(-1)
    reversed_ = reverse_within_lengths(values, torch.tensor([3, 2])).squeeze(-1)
    assert reversed_.tolist() == [[3, 2, 1, 0], [5, 4, 0, 0]]


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("layers", [1, 2])
def test_outputs_final_states_and_gradients_equal_the_packed_lstm(bidirectional, layers):
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(5, 7, num_layers=layers, batch_first=True, bidirectional=bidirectional)
    values = torch.randn(4, 9, 5)
    values[1, 3:] = 9.0  # padding that must not reach any output
    lengths = torch.tensor([9, 3, 1, 6])
    results = []
    for compute in (_packed, _padded):
        inputs = values.clone().requires_grad_(True)
        lstm.zero_grad()
        output, final = compute(lstm, inputs, lengths)
        (output.sin().sum() + final.square().sum()).backward()
        results.append((output, final, inputs.grad, [p.grad.clone() for p in lstm.parameters()]))
    (output, final, grad, grads), (output2, final2, grad2, grads2) = results
    assert torch.allclose(output, output2, atol=1e-6)
    assert torch.allclose(final, final2, atol=1e-6)
    assert torch.allclose(grad, grad2, atol=1e-5)
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(grads, grads2, strict=True))
    assert torch.all(output2[1, 3:] == 0)


def test_a_zero_length_sequence_counts_as_one_step():
    lstm = torch.nn.LSTM(3, 4, batch_first=True, bidirectional=True)
    values = torch.randn(2, 5, 3)
    output, final = run_lstm(lstm, values, torch.tensor([5, 0]))
    reference, reference_final = _packed(lstm, values, torch.tensor([5, 1]))
    assert torch.allclose(output, reference, atol=1e-6) and torch.allclose(final, reference_final, atol=1e-6)


def test_rejects_lstms_it_does_not_compute():
    with pytest.raises(ValueError, match="batch-first"):
        run_lstm(torch.nn.LSTM(3, 4), torch.randn(2, 5, 3), torch.tensor([5, 2]))


def test_packed_on_request_is_pytorchs_packed_lstm():
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 4, batch_first=True, bidirectional=True)
    values, lengths = torch.randn(3, 6, 3), torch.tensor([6, 2, 4])
    output, final = run_lstm(lstm, values, lengths, packed=True)
    reference, reference_final = _packed(lstm, values, lengths)
    assert torch.equal(output, reference) and torch.equal(final, reference_final)


def test_on_cpu_the_default_does_not_pack(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("packed sequences on CPU")

    monkeypatch.setattr(torch.nn.utils.rnn, "pack_padded_sequence", refuse)
    output, _ = run_lstm(torch.nn.LSTM(3, 4, batch_first=True), torch.randn(2, 5, 3), torch.tensor([5, 2]))
    assert output.shape == (2, 5, 4)


def test_under_bfloat16_autocast_a_cpu_without_a_bfloat16_lstm_kernel_runs_it_in_float32(monkeypatch):
    """oneDNN's LSTM refuses bfloat16 on CPUs without AVX-512 BF16 or AMX ("could not create a
    primitive descriptor"): ``bf16-mixed`` training of every recurrent model failed there."""
    import emofuse.models.blocks.recurrent as recurrent

    monkeypatch.setattr(recurrent, "cpu_lstm_runs_in_bfloat16", lambda: False)
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 4, batch_first=True, bidirectional=True)
    values, lengths = torch.randn(2, 5, 3), torch.tensor([5, 3])
    expected, _ = recurrent.run_lstm(lstm, values, lengths)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        output, _ = recurrent.run_lstm(lstm, values, lengths)
    assert output.dtype == torch.float32 and torch.equal(output, expected)
