"""Classification block over frozen member models (IEmoNet, Heusser et al. 2019).

The speech and text models are trained separately, each with its own softmax head. Their heads
are dropped, both models are frozen, and a small feed-forward block is trained on their
concatenated penultimate outputs. With ``unfreeze_after`` the members are unfrozen from that
epoch on and everything is fine-tuned together (the paper found this *worse*; it is here to
show that).

A system using it lists ``members`` (trained systems) and ``model: {name: classification_block}``;
its inputs are the members' inputs, in member order.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from emofuse.models.base import EmotionModel
from emofuse.models.base import Input
from emofuse.models.base import output_layer
from emofuse.models.blocks.dropout import Dropout
from emofuse.models.configs import ClassificationBlockConfig
from emofuse.models.inputs import InputSpec
from emofuse.models.standardize import SystemModel
from emofuse.registry import Example
from emofuse.registry import builds


class ClassificationBlock(EmotionModel):
    def __init__(self, config: ClassificationBlockConfig, inputs: Sequence[InputSpec], output_size: int,
                 members: Sequence[SystemModel]) -> None:
        super().__init__()
        self.config = config
        self.members = torch.nn.ModuleList(members)
        self.input_counts = [len(member.standardizers) for member in members]
        if sum(self.input_counts) != len(inputs):
            raise ValueError(f"classification_block: members take {sum(self.input_counts)} inputs, the system gives {len(inputs)}")
        size = sum(member.model.embedding_size for member in members)
        layers: list[torch.nn.Module] = []
        for hidden in config.hidden_sizes:
            layers += [torch.nn.Linear(size, hidden), torch.nn.ReLU(), Dropout(config.dropout)]
            size = hidden
        self.block = torch.nn.Sequential(*layers)
        self.embedding_size = size
        self.head = output_layer(size, output_size)
        # what each member trains of its own once unfrozen (a fine-tuned language model keeps its
        # word embeddings and unused pooler as they are)
        self._member_trains = [parameter.requires_grad for parameter in self.members.parameters()]
        self.frozen = True
        self._set_members_trainable(False)

    def _set_members_trainable(self, trainable: bool) -> None:
        for parameter, own in zip(self.members.parameters(), self._member_trains, strict=True):
            parameter.requires_grad = trainable and own
        self.frozen = not trainable

    def set_epoch(self, epoch: int) -> None:
        """Called by the trainer at the start of each epoch."""
        if self.config.unfreeze_after is not None and epoch >= self.config.unfreeze_after and self.frozen:
            self._set_members_trainable(True)

    def train(self, mode: bool = True) -> ClassificationBlock:
        super().train(mode)
        if self.frozen:
            self.members.eval()  # frozen members keep dropout and batch norm in inference mode
        return self

    def parameter_groups(self, learning_rate: float) -> list[dict]:
        # members are in the optimiser from the start so that unfreezing needs no new optimiser;
        # while frozen they get no gradients and are not updated
        return [
            {"params": [*self.block.parameters(), *self.head.parameters()], "lr": learning_rate},
            {"params": list(self.members.parameters()), "lr": learning_rate, "pretrained": True},
        ]

    def embed(self, inputs: Sequence[Input]) -> torch.Tensor:
        parts, start = [], 0
        for member, count in zip(self.members, self.input_counts, strict=True):
            with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
                parts.append(member.embed(inputs[start : start + count]))  # (batch, member embedding)
            start += count
        return self.block(torch.cat(parts, dim=-1))  # (batch, embedding_size)


@builds(ClassificationBlockConfig, example=Example(("member", "member"), {"hidden_sizes": [8]}))
def build_classification_block(config: ClassificationBlockConfig, inputs: Sequence[InputSpec], output_size: int,
                               members: Sequence[SystemModel] | None = None) -> ClassificationBlock:
    if not members:
        raise ValueError("classification_block fuses trained member systems: list them under 'members'")
    return ClassificationBlock(config, inputs, output_size, members)
