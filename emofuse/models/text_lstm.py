"""Atmaja & Akagi's text branch: embedding -> LSTM(300|768) -> LSTM(256) -> LSTM(256) -> Dense(64).

The input is either a sequence of word vectors with lengths (the ``word_vectors`` front-end,
or ``text_embedding`` with ``pooling: tokens`` for BERT's 768-d token vectors) or the raw
``text``, which the model embeds itself with a trainable embedding learnt on the corpus
(hashed words, so no vocabulary is needed before training; optionally initialised from word
vectors: ``vectors: glove.840B.300d.txt``). The first LSTM is as wide as the embedding (300 or
768, as in the paper) unless ``first_size`` says otherwise; the last LSTM's final output goes
to the dense layer; dropout 0.4 follows every layer. :class:`TextLSTMBranch` is the branch
alone, for fusion models that concatenate it with an acoustic branch.

.. code-block:: yaml

    features: {glove: {name: word_vectors, path: /data/glove.840B.300d.txt}}
    systems:
      text: {inputs: [glove], model: {name: text_lstm}}
      text_learnt: {inputs: [text], model: {name: text_lstm, embedding_dim: 300}}
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from emofuse.models.base import EmotionModel
from emofuse.models.base import Input
from emofuse.models.blocks.dropout import Dropout
from emofuse.models.blocks.recurrent import run_lstm
from emofuse.models.configs import TextLSTMConfig
from emofuse.models.inputs import InputSpec
from emofuse.models.inputs import expect_kinds
from emofuse.registry import Example
from emofuse.registry import builds
from emofuse.text.wordvectors import hashed_embedding_weights
from emofuse.text.wordvectors import load_word_vectors
from emofuse.text.wordvectors import word_ids
from emofuse.text.wordvectors import words


class HashedEmbedding(torch.nn.Module):
    """Texts -> hashed word ids -> trainable vectors: ``list[str] -> (batch, words, dim), (batch,)``."""

    def __init__(self, config: TextLSTMConfig) -> None:
        super().__init__()
        self.config = config
        if config.vectors is not None:
            vectors = load_word_vectors(config.vectors, file_format=config.vectors_format)
            weights = torch.from_numpy(hashed_embedding_weights(vectors, buckets=config.buckets, lowercase=config.lowercase))
            self.embedding = torch.nn.Embedding.from_pretrained(weights, freeze=config.freeze_embedding, padding_idx=0)
        else:
            self.embedding = torch.nn.Embedding(config.buckets, config.embedding_dim, padding_idx=0)
        self.dim = self.embedding.embedding_dim

    def forward(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        rows = []
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"text_lstm: text {index} of the batch is a {type(text).__name__}, not a string")
            ids = word_ids(words(text, lowercase=self.config.lowercase)[: self.config.max_tokens], buckets=self.config.buckets)
            rows.append(ids or [0])  # no words: one padding vector (zero)
        lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
        padded = torch.zeros(len(rows), int(lengths.max()), dtype=torch.long)
        for index, ids in enumerate(rows):
            padded[index, : len(ids)] = torch.tensor(ids)
        device = self.embedding.weight.device
        return self.embedding(padded.to(device)), lengths.to(device)


class TextLSTMBranch(torch.nn.Module):
    """``(batch, words, dim), (batch,) -> (batch, dense_size)``: three LSTMs and a dense layer."""

    def __init__(self, input_size: int, config: TextLSTMConfig) -> None:
        super().__init__()
        sizes = [config.first_size or input_size, *config.sizes]
        self.lstms = torch.nn.ModuleList()
        for size in sizes:
            self.lstms.append(torch.nn.LSTM(input_size, size, batch_first=True))
            input_size = size
        self.dropout = Dropout(config.dropout)
        self.dense = torch.nn.Sequential(torch.nn.Linear(input_size, config.dense_size), torch.nn.ReLU())
        self.output_size = config.dense_size

    def forward(self, values: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        hidden = values  # (batch, words, dim)
        for index, lstm in enumerate(self.lstms):
            if index > 0:
                hidden = self.dropout(hidden)
            hidden, final = run_lstm(lstm, hidden, lengths)  # (batch, words, size)
        last = final[-1]  # (batch, size): output at each sequence's last real word
        return self.dropout(self.dense(self.dropout(last)))  # (batch, dense_size)


class TextLSTM(EmotionModel):
    """The text branch with an output layer: one input, a sequence or raw text."""

    def __init__(self, config: TextLSTMConfig, inputs: Sequence[InputSpec], output_size: int) -> None:
        super().__init__()
        expect_kinds("text_lstm", inputs, [{"sequence", "text"}])
        self.embedding = HashedEmbedding(config) if inputs[0].kind == "text" else None
        input_size = self.embedding.dim if self.embedding is not None else inputs[0].dim
        self.branch = TextLSTMBranch(input_size, config)
        self.embedding_size = self.branch.output_size
        self.output = torch.nn.Linear(self.embedding_size, output_size)

    def embed(self, inputs: Sequence[Input]) -> torch.Tensor:
        (values, lengths), = inputs
        if self.embedding is not None:
            values, lengths = self.embedding(values)  # type: ignore[arg-type]
        elif lengths is None:
            raise ValueError("text_lstm needs sequences with lengths (word vectors or token embeddings)")
        return self.branch(values, lengths)  # type: ignore[arg-type]

    def head(self, embedding: torch.Tensor) -> torch.Tensor:
        return self.output(embedding)


@builds(TextLSTMConfig, example=Example(("text",), {"sizes": [8], "dense_size": 8, "buckets": 512, "embedding_dim": 8, "max_tokens": 16}))
def build_text_lstm(config: TextLSTMConfig, inputs: Sequence[InputSpec], output_size: int) -> TextLSTM:
    return TextLSTM(config, inputs, output_size)
