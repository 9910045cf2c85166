"""LSTMs over padded batches, computed as if each sequence were packed to its own length.

PyTorch's CPU LSTM runs packed sequences of unequal lengths (``pack_padded_sequence``) one time
step at a time through autograd, which made the recurrent models' training steps 2-6 times
slower than on the same padded tensor, which goes to oneDNN's fused kernels
(``benchmarks/lstm_speed.py``; equal lengths run at about the same speed either way). On CPU,
:func:`run_lstm` therefore keeps the padded layout and the module's own parameters: the forward
direction reads each sequence from its first frame (what follows the last valid frame cannot
reach the earlier outputs); the backward direction reads each sequence reversed within its own
length. The outputs, the final states and the gradients are those of the packed computation
(``tests/test_recurrent.py``). On a GPU, cuDNN runs packed sequences natively, and they are
used there.
"""

from __future__ import annotations

import contextlib
import functools

import torch

from emofuse.models.base import mask_from_lengths
from emofuse.models.blocks.dropout import dropout


def reverse_within_lengths(values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """``(batch, time, ...)``: each sequence's first ``length`` steps in reverse order; the
    padding after them stays where it is."""
    batch, time = values.shape[:2]
    steps = torch.arange(time, device=values.device).expand(batch, time)  # (batch, time)
    reverse = lengths.to(values.device).unsqueeze(1) - 1 - steps
    index = torch.where(reverse >= 0, reverse, steps)  # (batch, time)
    return values.gather(1, index.view(batch, time, *([1] * (values.dim() - 2))).expand_as(values))


@functools.cache
def cpu_lstm_runs_in_bfloat16() -> bool:
    """Whether oneDNN's LSTM kernel takes bfloat16 on this CPU (under ``bf16-mixed`` autocast,
    ``torch.lstm`` is cast to bfloat16). CPUs without AVX-512 BF16 or AMX (an AMD EPYC here)
    fail with "could not create a primitive descriptor"; found by running a tiny LSTM once."""
    weights = [torch.zeros(4, 1), torch.zeros(4, 1), torch.zeros(4), torch.zeros(4)]
    state = torch.zeros(1, 1, 1)
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            torch.lstm(torch.zeros(1, 2, 1), (state, state), weights, True, 1, 0.0, False, False, True)
    except RuntimeError:
        return False
    return True


def _direction(lstm: torch.nn.LSTM, values: torch.Tensor, layer: int, reverse: bool) -> torch.Tensor:
    """One layer and direction of ``lstm`` over ``(batch, time, d)`` from a zero state; in
    float32 under CPU autocast where the kernel does not take bfloat16
    (:func:`cpu_lstm_runs_in_bfloat16`)."""
    suffix = f"_l{layer}_reverse" if reverse else f"_l{layer}"
    weights = [getattr(lstm, f"{name}{suffix}") for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
               if lstm.bias or name.startswith("weight")]
    float32 = (values.device.type == "cpu" and torch.is_autocast_enabled("cpu")
               and torch.get_autocast_dtype("cpu") == torch.bfloat16 and not cpu_lstm_runs_in_bfloat16())
    with torch.autocast("cpu", enabled=False) if float32 else contextlib.nullcontext():
        if float32:
            values, weights = values.float(), [w.float() for w in weights]
        state = values.new_zeros(1, values.shape[0], lstm.hidden_size)
        output, _, _ = torch.lstm(values, (state, state), weights, lstm.bias, 1, 0.0, lstm.training, False, True)
    return output  # (batch, time, hidden)


def run_lstm(lstm: torch.nn.LSTM, values: torch.Tensor, lengths: torch.Tensor, *,
             packed: bool | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch-first (bi)LSTM over padded ``(batch, time, d)`` from zero states.

    Returns the last layer's outputs ``(batch, time, directions * hidden)``, zero past each
    sequence's length, and the final hidden states ``(layers * directions, batch, hidden)`` in
    ``torch.nn.LSTM``'s order (forward state at each sequence's last valid step, backward state
    at its first). Lengths below 1 count as 1, as ``pack_padded_sequence`` requires.
    ``packed``: through packed sequences (default: on every device but the CPU).
    """
    if not lstm.batch_first or lstm.proj_size:
        raise ValueError("run_lstm expects a batch-first LSTM without projections")
    batch, time = values.shape[:2]
    if packed is None:
        packed = values.device.type != "cpu"
    if packed:
        sequences = torch.nn.utils.rnn.pack_padded_sequence(values, lengths.detach().cpu().clamp(min=1, max=time),
                                                            batch_first=True, enforce_sorted=False)
        output, (final, _) = lstm(sequences)
        output, _ = torch.nn.utils.rnn.pad_packed_sequence(output, batch_first=True, total_length=time)
        return output, final
    lengths = lengths.to(values.device).clamp(min=1, max=time)
    valid = mask_from_lengths(lengths, time).unsqueeze(-1)  # (batch, time, 1)
    rows = torch.arange(batch, device=values.device)
    hidden, finals = values, []
    for layer in range(lstm.num_layers):
        if layer > 0 and lstm.dropout > 0:
            hidden = dropout(hidden, lstm.dropout, lstm.training)
        forward = _direction(lstm, hidden, layer, reverse=False)  # (batch, time, hidden)
        outputs, last = [forward], [forward[rows, lengths - 1]]
        if lstm.bidirectional:
            backward = _direction(lstm, reverse_within_lengths(hidden, lengths), layer, reverse=True)
            last.append(backward[rows, lengths - 1])  # the backward pass ends at the first step
            outputs.append(reverse_within_lengths(backward, lengths))
        hidden = torch.cat(outputs, dim=-1) * valid.to(values.dtype)  # (batch, time, directions * hidden)
        finals.extend(last)
    return hidden, torch.stack(finals)
