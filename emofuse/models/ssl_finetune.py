"""A self-supervised speech encoder (wav2vec 2.0, HuBERT, WavLM) with a pooling head, trained
on raw waveforms: frozen (only the head learns) or fine-tuned.

``(batch, samples)`` 16 kHz waveforms -> crop to ``max_duration`` (a random window in
training, the first seconds at test time) -> encoder hidden states ``(batch, layers, frames,
dim)`` -> one layer (``last``, ``second_to_last``, an index) or a learnable weighted sum of all
(``weighted``) -> pooling over valid frames -> dropout -> the output layer. The encoder (minus
its frozen convolutional feature encoder) is a ``pretrained`` parameter group, so
``training.encoder_learning_rate`` sets its learning rate.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from emofuse.models.base import EmotionModel
from emofuse.models.base import Input
from emofuse.models.base import output_layer
from emofuse.models.blocks.crop import random_crop
from emofuse.models.blocks.dropout import Dropout
from emofuse.models.blocks.dropout import use_fast_dropout
from emofuse.models.blocks.layers import LayerWeightedSum
from emofuse.models.blocks.pooling import build_pooling
from emofuse.models.configs import SSLFinetuneConfig
from emofuse.models.configs import parse_layer
from emofuse.models.inputs import InputSpec
from emofuse.models.inputs import expect_kinds
from emofuse.registry import Example
from emofuse.registry import builds


class SSLFinetune(EmotionModel):
    def __init__(self, config: SSLFinetuneConfig, inputs: Sequence[InputSpec], output_size: int) -> None:
        super().__init__()
        expect_kinds("ssl_finetune", inputs, [{"waveform"}])
        from emofuse.audio.ssl import SSLEncoder

        self.config = config
        self.encoder = SSLEncoder.from_pretrained(config.model)
        if config.freeze_feature_encoder:
            self.encoder.freeze_feature_encoder()
        if config.freeze:
            self.encoder.requires_grad_(False)
        else:
            use_fast_dropout(self.encoder)  # the encoder's dropout, with emofuse's faster CPU masks
        self.layer = parse_layer(config.layer, allowed=("weighted",))
        self.layer_sum = LayerWeightedSum(self.encoder.num_layers) if self.layer == "weighted" else None
        dim = self.encoder.hidden_size
        self.pooling = build_pooling(config.pooling, dim)
        self.embedding_size = self.pooling.output_size(dim)
        self.dropout = Dropout(config.dropout)
        self.head = output_layer(self.embedding_size, output_size)

    def train(self, mode: bool = True) -> SSLFinetune:
        super().train(mode)
        if self.config.freeze:
            self.encoder.eval()  # no dropout inside a frozen encoder
        return self

    def parameter_groups(self, learning_rate: float) -> list[dict]:
        head = [p for n, p in self.named_parameters() if not n.startswith("encoder.") and p.requires_grad]
        groups = [{"params": head, "lr": learning_rate}]
        encoder = [p for p in self.encoder.parameters() if p.requires_grad]
        if encoder:
            groups.append({"params": encoder, "lr": learning_rate, "pretrained": True})
        return groups

    def embed(self, inputs: Sequence[Input]) -> torch.Tensor:
        ((waveforms, lengths),) = inputs  # (batch, samples), (batch,)
        if self.config.max_duration is not None:
            size = int(self.config.max_duration * self.config.sampling_rate)
            if self.training:
                waveforms, lengths = random_crop(waveforms, lengths, size)
            else:
                waveforms = waveforms[:, :size]
                lengths = None if lengths is None else lengths.clamp(max=size)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.config.freeze):
            hidden, frame_lengths = self.encoder(waveforms, lengths)  # (batch, layers, frames, dim)
        if self.layer_sum is not None:
            frames = self.layer_sum(hidden.transpose(1, 2), stacked=True)  # (batch, frames, dim)
        else:
            from emofuse.audio.ssl import select_layer

            frames = select_layer(hidden, self.layer)
        return self.dropout(self.pooling(frames, frame_lengths))  # (batch, embedding_size)


@builds(SSLFinetuneConfig, example=Example(("waveform",), {"model": "{tiny_ssl_model}", "max_duration": 2.0}))
def build_ssl_finetune(config: SSLFinetuneConfig, inputs: Sequence[InputSpec], output_size: int) -> SSLFinetune:
    return SSLFinetune(config, inputs, output_size)
