"""Attention alignment of words and audio frames (Boigne et al. 2020, after Xu et al. 2019).

Audio frames and word (sub-word) vectors are each encoded by a bidirectional LSTM. Every word
attends over the audio frames (additive attention), giving an aligned audio vector per word;
the aligned audio and the word vectors are concatenated and fed to a second BiLSTM, whose
outputs are max- (or mean-) pooled over words and classified.

With ``text_dropout`` > 0, that share of the training utterances sees zero word vectors
(modality dropout); evaluation always sees the words. With ``acoustic_loss_weight`` > 0, the
model is also trained on a linear output from the frame encoder's outputs averaged over the
frames (an auxiliary loss; prediction uses the fused output only).

Inputs, in order: the frame sequence that is attended over (``(batch, frames, d_a)``), then the
word sequence that attends (``(batch, words, d_t)``). The model does not care which modality
each came from.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from emofuse.models.base import EmotionModel
from emofuse.models.base import Input
from emofuse.models.base import mask_from_lengths
from emofuse.models.base import output_layer
from emofuse.models.blocks.dropout import Dropout
from emofuse.models.blocks.dropout import modality_dropout
from emofuse.models.blocks.pooling import masked_mean
from emofuse.models.blocks.recurrent import run_lstm
from emofuse.models.configs import AttentionAlignmentConfig
from emofuse.models.inputs import InputSpec
from emofuse.models.inputs import expect_kinds
from emofuse.registry import Example
from emofuse.registry import builds


class AttentionAlignment(EmotionModel):
    def __init__(self, config: AttentionAlignmentConfig, inputs: Sequence[InputSpec], output_size: int) -> None:
        super().__init__()
        expect_kinds("attention_alignment", inputs, [{"sequence"}, {"sequence"}])
        frames, words = inputs
        hidden = config.hidden_size
        self.config = config
        self.frame_encoder = torch.nn.LSTM(frames.dim, hidden, batch_first=True, bidirectional=True)
        self.word_encoder = torch.nn.LSTM(words.dim, hidden, batch_first=True, bidirectional=True)
        self.query = torch.nn.Linear(2 * hidden, config.attention_size, bias=False)
        self.key = torch.nn.Linear(2 * hidden, config.attention_size)
        self.score = torch.nn.Linear(config.attention_size, 1, bias=False)
        self.fusion = torch.nn.LSTM(4 * hidden, hidden, batch_first=True, bidirectional=True)
        self.dropout = Dropout(config.dropout)
        self.embedding_size = 2 * hidden
        self.head = output_layer(2 * hidden, output_size)
        if config.acoustic_loss_weight > 0:
            self.acoustic_head = output_layer(2 * hidden, output_size)

    def align(self, inputs: Sequence[Input]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Encoded words, their aligned audio vectors, the attention weights and the word mask."""
        text, aligned, weights, word_mask, _ = self._align(inputs)
        return text, aligned, weights, word_mask

    def _align(self, inputs: Sequence[Input]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`align` and the encoded frames ``(batch, frames, 2h)``."""
        (frames, frame_lengths), (words, word_lengths) = inputs
        assert frame_lengths is not None and word_lengths is not None
        if self.training and self.config.text_dropout > 0:
            words = modality_dropout(words, self.config.text_dropout)
        audio = self.dropout(run_lstm(self.frame_encoder, frames, frame_lengths)[0])  # (batch, frames, 2h)
        text = self.dropout(run_lstm(self.word_encoder, words, word_lengths)[0])  # (batch, words, 2h)
        # additive attention: score[b, i, j] = v^T tanh(W q_i + U k_j + c)
        energy = torch.tanh(self.query(text).unsqueeze(2) + self.key(audio).unsqueeze(1))  # (batch, words, frames, a)
        scores = self.score(energy).squeeze(-1)  # (batch, words, frames)
        frame_mask = mask_from_lengths(frame_lengths, frames.shape[1])  # (batch, frames)
        scores = scores.masked_fill(~frame_mask.unsqueeze(1), float("-inf"))
        weights = torch.softmax(scores, dim=-1)  # (batch, words, frames)
        aligned = torch.bmm(weights, audio)  # (batch, words, 2h)
        word_mask = mask_from_lengths(word_lengths, words.shape[1])  # (batch, words)
        return text, aligned, weights, word_mask, audio

    def embed(self, inputs: Sequence[Input]) -> torch.Tensor:
        return self._embed(inputs)[0]

    def training_outputs(self, inputs: Sequence[Input]) -> tuple[torch.Tensor, list[tuple[float, torch.Tensor]]]:
        embedding, audio = self._embed(inputs)
        outputs = self.head(embedding)
        if self.config.acoustic_loss_weight <= 0:
            return outputs, []
        acoustic = masked_mean(audio, inputs[0][1])  # (batch, 2h): the frames' mean
        return outputs, [(self.config.acoustic_loss_weight, self.acoustic_head(acoustic))]

    def _embed(self, inputs: Sequence[Input]) -> tuple[torch.Tensor, torch.Tensor]:
        """The fused embedding and the encoded frames."""
        text, aligned, _, word_mask, audio = self._align(inputs)
        word_lengths = inputs[1][1]
        fused, _ = run_lstm(self.fusion, torch.cat([aligned, text], dim=-1), word_lengths)  # (batch, words, 2h)
        if self.config.pooling == "max":
            pooled = fused.masked_fill(~word_mask.unsqueeze(-1), float("-inf")).amax(dim=1)
        else:
            pooled = masked_mean(fused, word_lengths)
        return self.dropout(pooled), audio  # (batch, 2h), (batch, frames, 2h)


@builds(AttentionAlignmentConfig, example=Example(("sequence", "text_sequence"), {"hidden_size": 8, "attention_size": 8}))
def build_attention_alignment(config: AttentionAlignmentConfig, inputs: Sequence[InputSpec], output_size: int) -> AttentionAlignment:
    return AttentionAlignment(config, inputs, output_size)
