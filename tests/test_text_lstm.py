"""Atmaja & Akagi's text branch on word-vector sequences and on raw text with a learnt embedding."""

import numpy as np
import pytest
import torch

from emofuse.components import MODELS
from emofuse.config import ConfigError
from emofuse.config import parse
from emofuse.experiment import load_experiment
from emofuse.models.inputs import InputSpec
from emofuse.models.text_lstm import TextLSTMConfig
from emofuse.training import run_experiment

SEQUENCE = [InputSpec("glove", "text", "sequence", 12)]
TEXT = [InputSpec("text", "text", "text")]


def test_sequence_input_shapes_and_layer_sizes():
    model = MODELS.build("text_lstm", TextLSTMConfig(), SEQUENCE, 3).eval()
    assert [lstm.hidden_size for lstm in model.branch.lstms] == [12, 256, 256]  # first as wide as the input
    values = torch.randn(4, 7, 12)
    lengths = torch.tensor([7, 3, 1, 5])
    assert model([(values, lengths)]).shape == (4, 3)
    assert model.embed([(values, lengths)]).shape == (4, 64) and model.embedding_size == 64
    wide = MODELS.build("text_lstm", TextLSTMConfig(first_size=300, sizes=(32,), dense_size=16), SEQUENCE, 1)
    assert [lstm.hidden_size for lstm in wide.branch.lstms] == [300, 32] and wide.embedding_size == 16


def test_padding_does_not_change_the_output():
    torch.manual_seed(0)
    model = MODELS.build("text_lstm", TextLSTMConfig(sizes=(8, 8), dense_size=4), SEQUENCE, 2).eval()
    short = torch.randn(1, 3, 12)
    padded = torch.cat([short, torch.randn(1, 6, 12)], dim=1)  # garbage after the end
    alone = model([(short, torch.tensor([3]))])
    batched = model([(torch.cat([padded, torch.randn(1, 9, 12)]), torch.tensor([3, 9]))])[:1]
    torch.testing.assert_close(alone, batched, atol=1e-5, rtol=1e-4)


def test_raw_text_with_a_hashed_embedding_and_bad_input():
    model = MODELS.build("text_lstm", TextLSTMConfig(buckets=100, embedding_dim=10, sizes=(8,)), TEXT, 4).eval()
    assert model.branch.lstms[0].hidden_size == 10
    texts = ["I miss her so much", "", "   ", "Das ist wunderbar " * 300, "[LAUGHTER]"]
    outputs = model([(texts, None)])
    assert outputs.shape == (5, 4) and torch.isfinite(outputs).all()
    with pytest.raises(TypeError, match="text 1 of the batch"):
        model([(["fine", 3], None)])
    with pytest.raises(ValueError, match="is a vector"):
        MODELS.build("text_lstm", TextLSTMConfig(), [InputSpec("x", "text", "vector", 5)], 2)


def test_embedding_initialised_from_word_vectors(tmp_path):
    from gensim.models import KeyedVectors

    from emofuse.text.wordvectors import word_ids

    vectors = KeyedVectors(6)
    vectors.add_vectors(["happy", "sad"], np.eye(2, 6, dtype=np.float32))
    vectors.save(str(tmp_path / "v.kv"))
    config = TextLSTMConfig(buckets=64, vectors=str(tmp_path / "v.kv"), freeze_embedding=True, sizes=(4,))
    model = MODELS.build("text_lstm", config, TEXT, 2)
    row = word_ids(["happy"], buckets=64)[0]
    torch.testing.assert_close(model.embedding.embedding.weight[row], torch.eye(2, 6)[0])
    assert not model.embedding.embedding.weight.requires_grad
    assert model.branch.lstms[0].input_size == 6  # the vectors' size, not embedding_dim


def test_config_validation():
    for bad in ({"dropout": 1.0}, {"sizes": (0,)}, {"buckets": 1}, {"freeze_embedding": True},
                {"first_size": -1}):
        with pytest.raises(ValueError):
            TextLSTMConfig(**bad)
    with pytest.raises(ConfigError, match="vectors_format: 'elmo' is not one of 'auto'"):
        parse(TextLSTMConfig, {"vectors_format": "elmo"})


def test_trains_through_the_runner_on_raw_text_and_on_word_vectors(tmp_path, synthetic_corpus):
    from gensim.models import KeyedVectors

    from tests.conftest import CLASS_WORDS

    vocabulary = sorted({w for text in CLASS_WORDS.values() for w in text.lower().split()})
    vectors = KeyedVectors(8)
    vectors.add_vectors(vocabulary, np.random.default_rng(0).standard_normal((len(vocabulary), 8)).astype(np.float32))
    vectors.save_word2vec_format(str(tmp_path / "w2v.txt"))
    small = {"sizes": [8, 8], "dense_size": 8}
    config = load_experiment({
        "name": "lstm",
        "data": {"manifest": str(synthetic_corpus)},
        "task": {"type": "dimensional", "loss": "ccc", "loss_weights": [0.7, 0.2, 0.1]},
        "protocol": {"name": "leave_one_session_out", "dev_fraction": 0.25},
        "features": {"w2v": {"name": "word_vectors", "path": str(tmp_path / "w2v.txt")}},
        "extraction": {"cache_dir": str(tmp_path / "cache")},
        "systems": {
            "learnt": {"inputs": ["text"], "model": {"name": "text_lstm", "buckets": 500, "embedding_dim": 16, **small},
                       "training": {"max_epochs": 2, "batch_size": 8, "optimizer": "rmsprop", "learning_rate": 1e-3}},
            "w2v": {"inputs": ["w2v"], "model": {"name": "text_lstm", **small},
                    "training": {"max_epochs": 2, "batch_size": 8, "optimizer": "nadam", "learning_rate": 1e-3}},
        },
    })
    result = run_experiment(config, tmp_path / "run", progress=False)
    assert set(result.summary["system"]) == {"learnt", "w2v"}
    assert result.summary["CCC_mean_mean"].notna().all()
