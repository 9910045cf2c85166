"""A multilayer perceptron over utterance-level vectors (several inputs are concatenated).

The spine's classifier for functionals (log-Mel statistics, openSMILE, HSF) and frozen text
embeddings. With ``hidden_sizes: []`` it is a linear (softmax-regression) head.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from emofuse.models.base import EmotionModel
from emofuse.models.base import Input
from emofuse.models.base import output_layer
from emofuse.models.blocks.dropout import Dropout
from emofuse.models.configs import MLPConfig
from emofuse.models.inputs import InputSpec
from emofuse.models.inputs import expect_kinds
from emofuse.registry import Example
from emofuse.registry import builds

_ACTIVATIONS = {"relu": torch.nn.ReLU, "gelu": torch.nn.GELU, "tanh": torch.nn.Tanh, "prelu": torch.nn.PReLU}


class MLP(EmotionModel):
    def __init__(self, config: MLPConfig, inputs: Sequence[InputSpec], output_size: int) -> None:
        super().__init__()
        expect_kinds("mlp", inputs, [{"vector"}] * len(inputs))
        size = sum(spec.dim for spec in inputs)
        layers: list[torch.nn.Module] = []
        for hidden in config.hidden_sizes:
            layers += [torch.nn.Linear(size, hidden), _ACTIVATIONS[config.activation](), Dropout(config.dropout)]
            size = hidden
        self.input_dropout = Dropout(config.dropout if not config.hidden_sizes else 0.0)
        self.body = torch.nn.Sequential(*layers)
        self.embedding_size = size
        self.head = output_layer(size, output_size)

    def embed(self, inputs: Sequence[Input]) -> torch.Tensor:
        features = torch.cat([values for values, _ in inputs], dim=-1)  # (batch, sum of dims)
        return self.body(self.input_dropout(features))  # (batch, embedding_size)


@builds(MLPConfig, example=Example(("vector",), {"hidden_sizes": [16]}))
def build_mlp(config: MLPConfig, inputs: Sequence[InputSpec], output_size: int) -> MLP:
    return MLP(config, inputs, output_size)
