import pathlib

import numpy as np
import pytest

from emofuse.audio.logmel import LogMelConfig
from emofuse.audio.logmel import LogMelStatsConfig
from emofuse.audio.logmel import log_mel
from emofuse.cache import FeatureCache
from emofuse.config import Component
from emofuse.data.manifest import Manifest
from emofuse.data.manifest import Utterance
from emofuse.features import FeatureError
from emofuse.features import build_extractor
from emofuse.features import extract_features
from emofuse.pretrained import TextEmbeddingConfig


def test_logmel_shapes_and_normalisation():
    signal = np.random.default_rng(0).standard_normal(16000).astype(np.float32)
    frames = log_mel(signal, 16000, LogMelConfig(n_mels=64, window_ms=32, hop_ms=10))
    assert frames.shape == (101, 64)
    normed = log_mel(signal, 16000, LogMelConfig(n_mels=128, window_ms=25, normalization="utterance"))
    assert normed.shape[1] == 128
    assert np.allclose(normed.mean(axis=0), 0, atol=1e-4) and np.allclose(normed.std(axis=0), 1, atol=1e-2)


def test_cache_reuse_and_errors(tmp_path, tone):
    good = [Utterance(f"u{i}", audio=str(tone(f"u{i}.wav", frequency=200 + 50 * i))) for i in range(3)]
    silent = tmp_path / "silent.wav"
    import soundfile

    soundfile.write(silent, np.zeros(8000, dtype=np.float32), 16000)
    manifest = Manifest([*good, Utterance("bad", audio=str(silent)), Utterance("gone", audio=str(tmp_path / "x.wav"))])
    extractor = build_extractor(Component("logmel_stats", LogMelStatsConfig()))
    with pytest.raises(FeatureError, match=r"2 of 5 utterances failed") as error:
        extract_features(extractor, manifest, cache_dir=tmp_path / "cache", progress=False)
    assert set(error.value.failures) == {"bad", "gone"}
    assert "silent" in error.value.failures["bad"] and "not found" in error.value.failures["gone"]
    # good files were cached before the error: a second pass computes nothing for them
    table = extract_features(extractor, manifest, cache_dir=tmp_path / "cache", on_error="skip", progress=False)
    assert sorted(table.values) == ["u0", "u1", "u2"] and table.dim == 256 and not table.is_sequence
    cache = FeatureCache(tmp_path / "cache", extractor.name, extractor.component)
    assert len(list(cache.directory.rglob("*.npy"))) == 3
    assert not list(cache.directory.rglob(".*.npy*"))  # no temporary files left behind


def test_parallel_workers_match_serial(tmp_path, tone):
    manifest = Manifest([Utterance(f"u{i}", audio=str(tone(f"u{i}.wav", frequency=150 + 40 * i))) for i in range(6)])
    extractor = build_extractor(Component("logmel", LogMelConfig(n_mels=32)))
    serial = extract_features(extractor, manifest, cache_dir=tmp_path / "a", progress=False)
    parallel = extract_features(extractor, manifest, cache_dir=tmp_path / "b", num_workers=2, progress=False)
    for identifier in manifest.ids:
        assert np.allclose(serial[identifier], parallel[identifier])
        assert serial[identifier].ndim == 2


def test_text_embeddings_with_a_tiny_model(tmp_path, tiny_bert):
    manifest = Manifest([Utterance("a", text="great news"), Utterance("b", text="i miss her"), Utterance("c", text="  ")])
    extractor = build_extractor(Component("text_embedding", TextEmbeddingConfig(model=str(tiny_bert))))
    table = extract_features(extractor, manifest, cache_dir=tmp_path, on_error="skip", progress=False)
    assert table.dim == 32 and set(table.values) == {"a", "b"}
    assert "no reference transcript" in table.failures["c"]
    tokens = build_extractor(Component("text_embedding", TextEmbeddingConfig(model=str(tiny_bert), pooling="tokens", layer=-2)))
    sequences = extract_features(tokens, manifest.subset(["a", "b"]), cache_dir=tmp_path, progress=False)
    assert sequences["a"].shape == (4, 32)  # [CLS] great news [SEP]


def test_invalid_cache_entries_are_recomputed_with_a_warning(tmp_path, synthetic_corpus, caplog):
    import numpy as np

    from emofuse.cache import FeatureCache
    from emofuse.features import audio_key

    manifest = Manifest.load(synthetic_corpus)
    extractor = build_extractor(Component("logmel_stats", LogMelStatsConfig(n_mels=8)))
    fresh = extract_features(extractor, manifest, cache_dir=tmp_path / "cache", progress=False)
    cache = FeatureCache(tmp_path / "cache", extractor.name, extractor.component)
    first, second, third, fourth = (manifest[k] for k in range(4))
    np.save(cache.path(audio_key(first)), np.full(32, np.nan, dtype=np.float32))  # NaN
    np.save(cache.path(audio_key(second)), np.zeros((3, 32), dtype=np.float32))  # wrong shape
    np.save(cache.path(audio_key(third)), np.zeros(32, dtype=np.float64))  # wrong dtype
    cache.path(audio_key(fourth)).write_bytes(b"not an array")  # unreadable
    with caplog.at_level("WARNING"):
        again = extract_features(extractor, manifest, cache_dir=tmp_path / "cache", progress=False)
    assert "4 cached entries were invalid and are computed again" in caplog.text
    for utterance in (first, second, third, fourth):
        np.testing.assert_array_equal(again[utterance.id], fresh[utterance.id])
    assert list(again.values) == list(manifest.ids)


def test_a_copied_corpus_hits_the_cache_and_changed_audio_does_not(tmp_path, synthetic_corpus):
    """Cache keys follow the audio's bytes: a fresh copy of the corpus (new paths and times, as
    in a new checkout or CI) is read from the cache; a file whose samples change is extracted again."""
    import shutil

    import soundfile as sf

    from emofuse.features import audio_key

    manifest = Manifest.load(synthetic_corpus)
    extractor = build_extractor(Component("logmel_stats", LogMelStatsConfig(n_mels=8)))
    first = extract_features(extractor, manifest, cache_dir=tmp_path / "cache", progress=False)
    copy = tmp_path / "copy"
    shutil.copytree(pathlib.Path(synthetic_corpus).parent, copy, copy_function=shutil.copyfile)  # new mtimes
    import pandas as pd

    table = pd.read_csv(copy / pathlib.Path(synthetic_corpus).name)
    table["audio"] = [str(copy / pathlib.Path(a).relative_to(pathlib.Path(synthetic_corpus).parent)) for a in table["audio"]]
    table.to_csv(copy / "manifest.csv", index=False)
    copied = Manifest.load(copy / "manifest.csv")
    assert [u.audio for u in copied] != [u.audio for u in manifest]
    assert [audio_key(u) for u in copied] == [audio_key(u) for u in manifest]

    def refuse(*args, **kwargs):
        raise AssertionError("extracted again although the audio is the same")

    extractor.extract = refuse
    again = extract_features(extractor, copied, cache_dir=tmp_path / "cache", progress=False)
    for identifier in manifest.ids:
        np.testing.assert_array_equal(again[identifier], first[identifier])
    changed = copied[0]
    signal, rate = sf.read(changed.audio)
    sf.write(changed.audio, signal * 0.5, rate)
    assert audio_key(changed) != audio_key(manifest[0])


def test_a_cache_directory_holding_another_config_is_not_trusted(tmp_path, synthetic_corpus, caplog):
    import json

    import numpy as np

    from emofuse.cache import FeatureCache

    manifest = Manifest.load(synthetic_corpus)
    extractor = build_extractor(Component("logmel_stats", LogMelStatsConfig(n_mels=8)))
    fresh = extract_features(extractor, manifest, cache_dir=tmp_path / "cache", progress=False)
    cache = FeatureCache(tmp_path / "cache", extractor.name, extractor.component)
    description = json.loads((cache.directory / "config.json").read_text())
    description["config"]["n_mels"] = 99  # another config's entries under this hash
    (cache.directory / "config.json").write_text(json.dumps(description))
    with caplog.at_level("WARNING"):
        again = extract_features(extractor, manifest, cache_dir=tmp_path / "cache", progress=False)
    assert "does not hold the config its name hashes" in caplog.text
    np.testing.assert_array_equal(again[manifest[0].id], fresh[manifest[0].id])
