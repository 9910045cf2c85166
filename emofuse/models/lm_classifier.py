"""A pretrained language model with a small head, on the raw ``text`` input: fine-tuned or frozen.

Any Hugging Face encoder (BERT, XLNet, RoBERTa, MiniLM; hub id or local directory) is loaded
through :func:`emofuse.text.lm.load_pretrained`, the same path as the frozen front-ends. Texts
are tokenised inside the model (truncated to ``max_length`` tokens, padded per batch), pooled
(``cls`` or ``mean``) and passed to the head. The head gives logits for a categorical task or
one output per dimension (valence / arousal / dominance) for a dimensional one: the task owns
the loss (weighted cross-entropy, CCC or MSE).

The published text systems, as system configs (the training block is the runner's)::

    # IEmoNet (Heusser et al.): 48 tokens, a 768-unit layer with dropout 0.2 and L2 0.03,
    # Adam 3e-5, weighted cross-entropy, 7 fixed epochs
    model: {name: lm_classifier, model: bert-base-cased, max_length: 48, hidden_size: 768,
            dropout: 0.2, l2: 0.03}
    training: {optimizer: adam, learning_rate: 3.0e-5, max_epochs: 7, selection: last}

    # Padi et al.: a 768 x 4 classification layer on BERT, Adam 2e-5, batch 32
    model: {name: lm_classifier, model: bert-base-uncased}
    training: {optimizer: adam, learning_rate: 2.0e-5, batch_size: 32}

    # Triantafyllopoulos et al.: 128 tokens, linear warm-up, 4 epochs, best dev epoch
    model: {name: lm_classifier, model: bert-base-uncased, max_length: 128}
    training: {optimizer: adam, learning_rate: 2.0e-5, batch_size: 32, max_epochs: 4,
               scheduler: linear_warmup, selection: best_dev, early_stopping_patience: 1}

``fine_tune: false`` freezes the encoder (kept in eval mode, no gradients) and trains the head
only. ``train_word_embeddings: false`` fine-tunes everything but the input word-embedding
table (a faster step; see :class:`~emofuse.models.configs.LMClassifierConfig`). The encoder's
dropout layers draw their masks through :func:`emofuse.models.blocks.dropout.dropout`. L2 on
the hidden layer is Keras's ``kernel_regularizer=l2(c)``, a loss term ``c * ||W||^2``: it is
given to the optimiser as weight decay ``2c`` on that layer's weights alone (exact for Adam,
SGD, NAdam and RMSprop; decoupled under AdamW), so the task's loss stays the task's.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from emofuse.models.base import EmotionModel
from emofuse.models.base import Input
from emofuse.models.base import output_layer
from emofuse.models.blocks.dropout import Dropout
from emofuse.models.blocks.dropout import use_fast_dropout
from emofuse.models.configs import LMClassifierConfig
from emofuse.models.inputs import InputSpec
from emofuse.models.inputs import expect_kinds
from emofuse.registry import Example
from emofuse.registry import builds
from emofuse.text.lm import cls_positions
from emofuse.text.lm import load_pretrained
from emofuse.text.lm import pool

_ACTIVATIONS = {"relu": torch.nn.ReLU, "gelu": torch.nn.GELU, "tanh": torch.nn.Tanh}


class LMClassifier(EmotionModel):
    """``texts -> (batch, output_size)``; ``embed`` gives the hidden layer (or pooled) output."""

    def __init__(self, config: LMClassifierConfig, inputs: Sequence[InputSpec], output_size: int) -> None:
        super().__init__()
        expect_kinds("lm_classifier", inputs, [{"text"}])
        self.config = config
        self.tokenizer, self.encoder = load_pretrained(config.model)
        layers = int(getattr(self.encoder.config, "num_hidden_layers", 0)) + 1  # embeddings + layers
        if layers > 1 and not -layers <= config.layer < layers:
            raise ValueError(f"lm_classifier: layer {config.layer} does not exist in {config.model} "
                             f"(hidden states -{layers}..{layers - 1})")
        if not config.fine_tune:
            self.encoder.requires_grad_(False)
            self.encoder.eval()
        else:
            table = self.encoder.get_input_embeddings()
            if not config.train_word_embeddings and table is not None:
                table.requires_grad_(False)
            use_fast_dropout(self.encoder)
        pooler = getattr(self.encoder, "pooler", None)
        if isinstance(pooler, torch.nn.Module):  # BERT's pooler: hidden states are pooled here instead
            pooler.requires_grad_(False)
        size = int(self.encoder.config.hidden_size)
        if config.hidden_size:
            self.hidden: torch.nn.Module = torch.nn.Sequential(
                torch.nn.Linear(size, config.hidden_size), _ACTIVATIONS[config.activation]()
            )
            size = config.hidden_size
        else:
            self.hidden = torch.nn.Identity()
        self.embedding_size = size
        self.dropout = Dropout(config.dropout)
        self.output = output_layer(size, output_size)

    def train(self, mode: bool = True) -> LMClassifier:
        super().train(mode)
        if not self.config.fine_tune:
            self.encoder.eval()  # a frozen encoder never uses dropout
        return self

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Pooled encoder output: ``list[str] -> (batch, encoder hidden size)``."""
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"lm_classifier: text {index} of the batch is a {type(text).__name__}, not a string")
        device = next(self.encoder.parameters()).device
        batch = self.tokenizer(  # type: ignore[operator]
            list(texts), padding=True, truncation=True, max_length=self.config.max_length, return_tensors="pt"
        )
        batch = {key: value.to(device) for key, value in batch.items()}
        with torch.set_grad_enabled(self.config.fine_tune and torch.is_grad_enabled()):
            outputs = self.encoder(**batch, output_hidden_states=self.config.layer != -1)
            hidden = outputs.last_hidden_state if self.config.layer == -1 else outputs.hidden_states[self.config.layer]
            # (batch, tokens, dim) -> (batch, dim)
            return pool(hidden, batch["attention_mask"], self.config.pooling,
                        cls_index=cls_positions(self.tokenizer, batch["input_ids"]))

    def embed(self, inputs: Sequence[Input]) -> torch.Tensor:
        (texts, _), = inputs
        return self.hidden(self.encode(texts))  # (batch, embedding_size)

    def head(self, embedding: torch.Tensor) -> torch.Tensor:
        output = self.output(self.dropout(embedding))  # (batch, output_size)
        return torch.tanh(output) if self.config.output_activation == "tanh" else output

    def parameter_groups(self, learning_rate: float) -> list[dict]:
        """The encoder (``pretrained``: gets ``encoder_learning_rate`` when set), the hidden
        layer's weights (with the L2 penalty as weight decay) and the rest of the head."""
        groups: list[dict] = []
        if self.config.fine_tune:
            groups.append({"params": [p for p in self.encoder.parameters() if p.requires_grad], "lr": learning_rate,
                           "pretrained": True})
        penalised = [self.hidden[0].weight] if self.config.hidden_size and self.config.l2 > 0 else []
        if penalised:
            groups.append({"params": penalised, "lr": learning_rate, "weight_decay": 2.0 * self.config.l2})
        taken = {id(p) for p in penalised}
        rest = [p for name, p in self.named_parameters() if not name.startswith("encoder.") and id(p) not in taken]
        groups.append({"params": rest, "lr": learning_rate})
        return groups


@builds(LMClassifierConfig, example=Example(("text",), {"model": "{tiny_text_model}", "max_length": 16}))
def build_lm_classifier(config: LMClassifierConfig, inputs: Sequence[InputSpec], output_size: int) -> LMClassifier:
    return LMClassifier(config, inputs, output_size)
