"""IEmoNet's speech emotion model (Heusser et al. 2019): TDNN, two BiLSTMs, self-attention.

``(batch, frames, features)`` (IS09 functionals of sliding windows, ``is09_windows``) ->
TDNN (a 1-D convolution over ``tdnn_context`` frames, the paper's "filter size 16") mapping to
the LSTM size -> two BiLSTM layers (64 units each way) -> structured self-attention
(``attention_size`` 64 or 128) over the second BiLSTM's outputs. The last BiLSTM output (the
final forward and backward states) and the attention output are concatenated into the
embedding, then dropout and the output layer.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from emofuse.models.base import EmotionModel
from emofuse.models.base import Input
from emofuse.models.base import output_layer
from emofuse.models.blocks.dropout import Dropout
from emofuse.models.blocks.pooling import SelfAttentionPooling
from emofuse.models.blocks.pooling import frame_mask
from emofuse.models.blocks.recurrent import run_lstm
from emofuse.models.configs import AttentionBiLSTMConfig
from emofuse.models.inputs import InputSpec
from emofuse.models.inputs import expect_kinds
from emofuse.registry import Example
from emofuse.registry import builds


class AttentionBiLSTM(EmotionModel):
    def __init__(self, config: AttentionBiLSTMConfig, inputs: Sequence[InputSpec], output_size: int) -> None:
        super().__init__()
        expect_kinds("attention_bilstm", inputs, [{"sequence"}])
        self.tdnn = torch.nn.Conv1d(inputs[0].dim, config.lstm_size, kernel_size=config.tdnn_context)
        self.context = ((config.tdnn_context - 1) // 2, config.tdnn_context // 2)  # frames before, after
        self.lstm = torch.nn.LSTM(config.lstm_size, config.lstm_size, num_layers=config.lstm_layers,
                                  batch_first=True, bidirectional=True)
        self.attention = SelfAttentionPooling(2 * config.lstm_size, config.attention_size)
        self.embedding_size = 4 * config.lstm_size
        self.dropout = Dropout(config.dropout)
        self.head = output_layer(self.embedding_size, output_size)

    def embed(self, inputs: Sequence[Input]) -> torch.Tensor:
        ((values, lengths),) = inputs  # (batch, frames, features)
        mask = frame_mask(values, lengths)
        padded = torch.nn.functional.pad(values.transpose(1, 2), self.context)  # (batch, features, frames + context - 1)
        hidden = torch.relu(self.tdnn(padded)).transpose(1, 2)  # (batch, frames, lstm)
        hidden = hidden * mask.unsqueeze(-1).to(hidden.dtype)
        valid = mask.sum(dim=1)
        output, final = run_lstm(self.lstm, hidden, valid)  # (batch, frames, 2 * lstm)
        last = torch.cat([final[-2], final[-1]], dim=-1)  # (batch, 2 * lstm): last forward and backward states
        attended = self.attention(output, valid)  # (batch, 2 * lstm)
        return self.dropout(torch.cat([last, attended], dim=-1))  # (batch, 4 * lstm)


@builds(AttentionBiLSTMConfig, example=Example(("sequence",), {"lstm_size": 8, "attention_size": 8, "tdnn_context": 3}))
def build_attention_bilstm(config: AttentionBiLSTMConfig, inputs: Sequence[InputSpec], output_size: int) -> AttentionBiLSTM:
    return AttentionBiLSTM(config, inputs, output_size)
