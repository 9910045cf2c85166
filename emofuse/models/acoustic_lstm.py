"""The acoustic branch of Atmaja & Akagi (2020): batch norm, three stacked LSTMs, a dense layer.

On the 68-d pyAudioAnalysis HSF vector (read as a sequence of one step, as the Keras original
does) or on a frame sequence: ``BN -> LSTM(68) -> LSTM(256) -> LSTM(256, last output) ->
Dense(64)``, then one output per class or dimension. No dropout in the paper ("the input is
small"); the 64-d dense output is the embedding that their fused model concatenates.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from emofuse.models.base import EmotionModel
from emofuse.models.base import Input
from emofuse.models.base import output_layer
from emofuse.models.blocks.dropout import Dropout
from emofuse.models.blocks.recurrent import run_lstm
from emofuse.models.configs import AcousticLSTMConfig
from emofuse.models.inputs import InputSpec
from emofuse.models.inputs import expect_kinds
from emofuse.registry import Example
from emofuse.registry import builds


class AcousticLSTM(EmotionModel):
    def __init__(self, config: AcousticLSTMConfig, inputs: Sequence[InputSpec], output_size: int) -> None:
        super().__init__()
        expect_kinds("acoustic_lstm", inputs, [{"vector", "sequence"}])
        size = inputs[0].dim
        self.norm = torch.nn.BatchNorm1d(size)
        self.lstms = torch.nn.ModuleList()
        for hidden in config.lstm_sizes:
            lstm = torch.nn.LSTM(size, hidden, batch_first=True)
            if inputs[0].kind == "vector":  # one time step from a zero state: the recurrent weights never act
                lstm.weight_hh_l0.requires_grad_(False)
            self.lstms.append(lstm)
            size = hidden
        self.dense = torch.nn.Sequential(torch.nn.Linear(size, config.dense_size), torch.nn.ReLU())
        self.dropout = Dropout(config.dropout)
        self.embedding_size = config.dense_size
        self.head = output_layer(config.dense_size, output_size)

    def embed(self, inputs: Sequence[Input]) -> torch.Tensor:
        ((values, lengths),) = inputs
        if values.dim() == 2:  # (batch, dim) -> (batch, 1, dim): one time step
            values, lengths = values.unsqueeze(1), None
        values = self.norm(values.transpose(1, 2)).transpose(1, 2)  # batch norm per feature
        if lengths is None:
            lengths = torch.full((values.shape[0],), values.shape[1], dtype=torch.long)
        hidden = values  # (batch, time, dim)
        for index, lstm in enumerate(self.lstms):
            if index > 0:
                hidden = self.dropout(hidden)
            hidden, final = run_lstm(lstm, hidden, lengths)  # (batch, time, size)
        last = final[-1]  # (batch, last LSTM size): the output at each item's last valid step
        return self.dropout(self.dense(last))  # (batch, dense_size)


@builds(AcousticLSTMConfig, example=Example(("vector",), {"lstm_sizes": [8, 16], "dense_size": 8}))
def build_acoustic_lstm(config: AcousticLSTMConfig, inputs: Sequence[InputSpec], output_size: int) -> AcousticLSTM:
    return AcousticLSTM(config, inputs, output_size)
