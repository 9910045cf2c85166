"""Linguistic conditioning of CNN14 (Triantafyllopoulos et al. 2022): SFCNN14 and MFCNN14.

Inputs, in order: log-Mel frames ``(batch, frames, mels)`` and a text embedding ``(batch, d)``
(frozen BERT averaged over tokens in the paper).

- ``sfcnn14`` (single stage): the text embedding, projected by a linear layer, is added to the
  pooled acoustic embedding.
- ``mfcnn14`` (multistage): after every convolutional block a per-block linear projection of
  the text embedding is added to the feature maps as a per-channel bias:
  ``Y = MaxPool(ReLU(BN(Conv(ReLU(BN(Conv(X))))))) + W E + b``.

With ``text_dropout`` > 0, that share of the training utterances is conditioned on a zero text
embedding (modality dropout); evaluation always sees the text. With ``text_rank``, every
projection reads one shared low-rank summary of the text embedding. With ``acoustic_loss_weight`` > 0,
SFCNN14 is also trained on a linear output from its pooled acoustic embedding alone (an
auxiliary loss; prediction uses the fused output only).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from emofuse.models.base import EmotionModel
from emofuse.models.base import Input
from emofuse.models.base import output_layer
from emofuse.models.blocks.dropout import modality_dropout
from emofuse.models.cnn14 import CNN14
from emofuse.models.configs import ConditionedCNN14Config
from emofuse.models.inputs import InputSpec
from emofuse.models.inputs import expect_kinds
from emofuse.registry import Example
from emofuse.registry import builds


class ConditionedCNN14(EmotionModel):
    """CNN14 conditioned on a text embedding once (``multistage=False``) or after every block."""

    def __init__(self, config: ConditionedCNN14Config, inputs: Sequence[InputSpec], output_size: int, *,
                 multistage: bool) -> None:
        super().__init__()
        expect_kinds("mfcnn14" if multistage else "sfcnn14", inputs, [{"sequence"}, {"vector"}])
        frames, text = inputs
        self.multistage = multistage
        self.text_dropout = config.text_dropout
        if multistage and config.acoustic_loss_weight > 0:
            raise ValueError("mfcnn14: acoustic_loss_weight needs an acoustic-only embedding, but every block of "
                             "mfcnn14 sees the text; use it with sfcnn14, or text_dropout")
        self.acoustic_loss_weight = config.acoustic_loss_weight
        self.cnn = CNN14(config.acoustic, [frames], output_size)
        channels = self.cnn.backbone.block_channels
        # a shared low-rank bottleneck before the projections, or none (the paper's)
        text_size = config.text_rank or text.dim
        self.text_bottleneck = torch.nn.Linear(text.dim, text_size) if config.text_rank else torch.nn.Identity()
        widths = channels if multistage else channels[-1:]
        self.projections = torch.nn.ModuleList(torch.nn.Linear(text_size, width) for width in widths)
        if config.projection_init == "zero":
            for projection in self.projections:
                torch.nn.init.zeros_(projection.weight)
                torch.nn.init.zeros_(projection.bias)
        self.embedding_size = self.cnn.embedding_size
        self.head = output_layer(self.embedding_size, output_size)
        self.cnn.head = torch.nn.Identity()  # the conditioned model has its own output layer
        if self.acoustic_loss_weight > 0:
            self.acoustic_head = output_layer(channels[-1], output_size)

    def _embed(self, inputs: Sequence[Input]) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The fused embedding and, for SFCNN14, the pooled acoustic embedding before the text."""
        frames, (text, _) = inputs
        if self.training and self.text_dropout > 0:
            text = modality_dropout(text, self.text_dropout)
        text = self.text_bottleneck(text)  # (batch, text_rank), or the embedding itself
        if self.multistage:
            def condition(index: int, hidden: torch.Tensor) -> torch.Tensor:
                # (batch, channels, frames, mels) + (batch, channels, 1, 1): a per-channel bias
                return hidden + self.projections[index](text)[:, :, None, None]

            acoustic, pooled = None, self.cnn.pooled([frames], condition=condition)  # (batch, channels)
        else:
            acoustic = self.cnn.pooled([frames])  # (batch, channels)
            pooled = acoustic + self.projections[0](text)
        hidden = self.cnn.dropout(pooled)
        return self.cnn.dropout(torch.relu(self.cnn.fc(hidden))), acoustic  # (batch, channels)

    def embed(self, inputs: Sequence[Input]) -> torch.Tensor:
        return self._embed(inputs)[0]

    def training_outputs(self, inputs: Sequence[Input]) -> tuple[torch.Tensor, list[tuple[float, torch.Tensor]]]:
        embedding, acoustic = self._embed(inputs)
        outputs = self.head(embedding)
        if self.acoustic_loss_weight <= 0:
            return outputs, []
        assert acoustic is not None  # mfcnn14 refuses acoustic_loss_weight
        return outputs, [(self.acoustic_loss_weight, self.acoustic_head(self.cnn.dropout(acoustic)))]


@builds(ConditionedCNN14Config, example=Example(("sequence", "text_vector"), {"acoustic": {"channels": [4, 8, 8, 8, 8, 8], "crop_seconds": None}}))
def build_sfcnn14(config: ConditionedCNN14Config, inputs: Sequence[InputSpec], output_size: int) -> ConditionedCNN14:
    return ConditionedCNN14(config, inputs, output_size, multistage=False)


@builds(ConditionedCNN14Config, example=Example(("sequence", "text_vector"), {"acoustic": {"channels": [4, 8, 8, 8, 8, 8], "crop_seconds": None}}))
def build_mfcnn14(config: ConditionedCNN14Config, inputs: Sequence[InputSpec], output_size: int) -> ConditionedCNN14:
    return ConditionedCNN14(config, inputs, output_size, multistage=True)
