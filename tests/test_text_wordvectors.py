"""Word vectors from local word2vec / GloVe / FastText / gensim files, and hashed word ids."""

import numpy as np
import pytest

from emofuse.config import Component
from emofuse.config import ConfigError
from emofuse.config import parse
from emofuse.data.manifest import Manifest
from emofuse.data.manifest import Utterance
from emofuse.features import FeatureError
from emofuse.features import build_extractor
from emofuse.features import extract_features
from emofuse.text.wordvectors import WordVectorsConfig
from emofuse.text.wordvectors import detect_format
from emofuse.text.wordvectors import hashed_embedding_weights
from emofuse.text.wordvectors import load_word_vectors
from emofuse.text.wordvectors import lookup
from emofuse.text.wordvectors import word_ids
from emofuse.text.wordvectors import words

VOCABULARY = ["the", "happy", "sad", "angry", "news", "Great", "i", "miss", "her"]


def keyed_vectors(dim=6):
    from gensim.models import KeyedVectors

    vectors = KeyedVectors(dim)
    rng = np.random.default_rng(0)
    vectors.add_vectors(VOCABULARY, rng.standard_normal((len(VOCABULARY), dim)).astype(np.float32))
    return vectors


@pytest.fixture
def vector_files(tmp_path):
    vectors = keyed_vectors()
    files = {"word2vec": tmp_path / "vectors.txt", "word2vec_binary": tmp_path / "vectors.bin",
             "keyed_vectors": tmp_path / "vectors.kv", "glove": tmp_path / "glove.6d.txt"}
    vectors.save_word2vec_format(str(files["word2vec"]))
    vectors.save_word2vec_format(str(files["word2vec_binary"]), binary=True)
    vectors.save(str(files["keyed_vectors"]))
    lines = files["word2vec"].read_text().splitlines()[1:]  # GloVe: no header line
    files["glove"].write_text("\n".join(lines) + "\n")
    return vectors, files


def test_every_format_is_detected_and_loaded(vector_files):
    vectors, files = vector_files
    for expected, path in files.items():
        assert detect_format(path) == expected
        loaded = load_word_vectors(str(path))
        np.testing.assert_allclose(loaded["happy"], vectors["happy"], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="not found"):
        load_word_vectors(str(files["glove"]) + ".missing")


def test_paths_expand_environment_variables(vector_files, monkeypatch):
    vectors, files = vector_files
    monkeypatch.setenv("EMOFUSE_TEST_VECTORS", str(files["glove"].parent))
    loaded = load_word_vectors(f"$EMOFUSE_TEST_VECTORS/{files['glove'].name}")
    np.testing.assert_allclose(loaded["happy"], vectors["happy"], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="not set"):
        load_word_vectors("$EMOFUSE_UNSET_VARIABLE/glove.txt")


def test_fasttext_binaries_compose_unknown_words(tmp_path):
    from gensim.models import FastText
    from gensim.models.fasttext import save_facebook_model

    model = FastText(vector_size=8, min_count=1, window=2, epochs=1, seed=0, workers=1)
    sentences = [["happy", "news", "today"], ["sad", "news", "again"]] * 5
    model.build_vocab(sentences)
    model.train(sentences, total_examples=len(sentences), epochs=1)
    save_facebook_model(model, str(tmp_path / "ft.bin"))
    assert detect_format(tmp_path / "ft.bin") == "fasttext"
    loaded = load_word_vectors(str(tmp_path / "ft.bin"))
    assert lookup(loaded, "happiest") is not None  # from character n-grams


def test_words_and_hashed_ids():
    assert words("Oh, I don't KNOW... [LAUGHTER] 2 days!") == ["oh", "i", "don't", "know", "2", "days"]
    assert words("Ça va? Très bien!", lowercase=False) == ["Ça", "va", "Très", "bien"]
    assert words("   ") == [] and words("[BREATHING]") == []
    ids = word_ids(["happy", "sad", "happy"], buckets=50)
    assert ids[0] == ids[2] and all(1 <= i < 50 for i in ids)
    with pytest.raises(ValueError):
        word_ids(["a"], buckets=1)


def test_hashed_embedding_rows_come_from_the_vectors():
    vectors = keyed_vectors()
    weights = hashed_embedding_weights(vectors, buckets=1000, lowercase=True)
    assert weights.shape == (1000, 6) and not weights[0].any()
    np.testing.assert_allclose(weights[word_ids(["happy"], buckets=1000)[0]], vectors["happy"])
    np.testing.assert_allclose(weights[word_ids(["great"], buckets=1000)[0]], vectors["Great"])  # lower-cased


def test_extractor_sequences_unknown_words_and_bad_input(tmp_path, vector_files):
    vectors, files = vector_files
    extractor = build_extractor(Component("word_vectors", WordVectorsConfig(path=str(files["glove"]), max_tokens=3)))
    happy, nothing, long, foreign = extractor.extract_texts(
        ["Great happy news!", "zzz qqq", " ".join(["sad"] * 1000), "Das ist wunderbar"])
    assert happy.shape == (3, 6)
    np.testing.assert_allclose(happy[0], vectors["Great"], rtol=1e-5)  # as written first, then lower-cased
    assert nothing.shape == (1, 6) and not nothing.any()  # no known word: one zero vector
    assert long.shape == (3, 6)  # max_tokens
    assert foreign.shape == (1, 6) and not foreign.any()
    manifest = Manifest([Utterance("a", text="i miss her"), Utterance("b", text="   "), Utterance("c", text="the news")])
    table = extract_features(extractor, manifest, cache_dir=tmp_path / "cache", on_error="skip", progress=False)
    assert table.is_sequence and table["a"].shape == (3, 6) and set(table.failures) == {"b"}
    assert "utterance b has no reference transcript" in table.failures["b"]
    missing = build_extractor(Component("word_vectors", WordVectorsConfig(path=str(tmp_path / "none.txt"))))
    with pytest.raises(FeatureError, match="not found"):
        missing.extract_texts(["hello"])
    for bad in ({"max_tokens": 0}, {"limit": 0}):
        with pytest.raises(ValueError):
            WordVectorsConfig(path="x", **bad)
    with pytest.raises(ConfigError, match="file_format: 'elmo' is not one of 'auto', 'word2vec'"):
        parse(WordVectorsConfig, {"path": "x", "file_format": "elmo"})
