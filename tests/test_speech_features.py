"""Acoustic front-ends: openSMILE, pyAudioAnalysis (against the library itself), resemblyzer,
self-supervised encoders (tiny models built from configs), and bad audio through all of them."""

import numpy as np
import pytest
import soundfile
import torch
from conftest import shared_path

from emofuse.audio import IS09WindowsConfig
from emofuse.audio import OpenSmileConfig
from emofuse.audio import PyAudioAnalysisConfig
from emofuse.audio import ResemblyzerConfig
from emofuse.audio import SSLConfig
from emofuse.audio import SSLEncoder
from emofuse.audio import read_audio
from emofuse.config import Component
from emofuse.config import ConfigError
from emofuse.config import parse
from emofuse.data.manifest import Manifest
from emofuse.data.manifest import Utterance
from emofuse.features import build_extractor
from emofuse.features import extract_features


def extractor(name, config):
    return build_extractor(Component(name, config))


def features(name, config, paths, cache):
    manifest = Manifest([Utterance(f"u{i}", audio=str(p)) for i, p in enumerate(paths)])
    return extract_features(extractor(name, config), manifest, cache_dir=cache, on_error="skip", progress=False)


@pytest.fixture(scope="module")
def tiny_wavlm(tmp_path_factory):
    """A tiny WavLM with layer-norm feature extraction, trained-with-attention-mask style."""
    transformers = pytest.importorskip("transformers")
    directory = tmp_path_factory.mktemp("tiny_wavlm")
    torch.manual_seed(0)
    config = transformers.WavLMConfig(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64,
                                      conv_dim=(16, 16, 16), conv_stride=(10, 8, 4), conv_kernel=(10, 8, 4), feat_extract_norm="layer",
                                      do_stable_layer_norm=True, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
                                      num_buckets=16, max_bucket_distance=40)
    transformers.WavLMModel(config).save_pretrained(directory)
    return directory


# openSMILE -----------------------------------------------------------------------------------


def test_opensmile_feature_sets(tmp_path, tone):
    pytest.importorskip("opensmile")
    path = tone(seconds=1.5)
    dims = {"IS09": 384, "eGeMAPSv02": 88, "ComParE_2016": 6373}
    for feature_set, dim in dims.items():
        table = features("opensmile", OpenSmileConfig(feature_set=feature_set), [path], tmp_path)
        assert table["u0"].shape == (dim,) and np.isfinite(table["u0"]).all()
    lld = features("opensmile", OpenSmileConfig(feature_set="IS09", level="lld_deltas"), [path], tmp_path)["u0"]
    assert lld.shape[1] == 32 and 140 <= len(lld) <= 152  # 16 descriptors + deltas every 10 ms
    fixed = features("opensmile", OpenSmileConfig(feature_set="IS09", level="lld_deltas", num_frames=384), [path], tmp_path)["u0"]
    assert fixed.shape == (384, 32) and np.allclose(fixed[: len(lld)], lld) and not fixed[len(lld):].any()
    with pytest.raises(ValueError, match="no delta descriptors"):
        OpenSmileConfig(feature_set="eGeMAPSv02", level="lld_deltas")
    with pytest.raises(ConfigError, match="feature_set: 'IS2009' is not one of 'ComParE_2016'"):
        parse(OpenSmileConfig, {"feature_set": "IS2009"})


def test_opensmile_functionals_equal_the_library(tmp_path, tone):
    opensmile = pytest.importorskip("opensmile")
    path = tone(seconds=1.2, frequency=180)
    ours = features("opensmile", OpenSmileConfig(feature_set="eGeMAPSv02"), [path], tmp_path)["u0"]
    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.Functionals)
    assert np.allclose(ours, smile.process_file(str(path)).to_numpy()[0], rtol=1e-5, atol=1e-6)


def test_is09_windows_follow_iemonet(tmp_path, tone):
    pytest.importorskip("opensmile")
    table = features("is09_windows", IS09WindowsConfig(), [tone("a.wav", seconds=2.0), tone("b.wav", seconds=0.15)], tmp_path)
    long, short = table["u0"], table["u1"]
    assert long.shape == short.shape == (384, 384)
    windows = (np.abs(long).sum(axis=1) > 0).sum()
    assert 55 <= windows <= 58  # 300 ms windows every 30 ms over 2 s, then zero padding
    assert (np.abs(short).sum(axis=1) > 0).sum() == 1  # shorter than a window: one window of all of it
    unpadded = features("is09_windows", IS09WindowsConfig(num_frames=20), [tone("c.wav", seconds=2.0)], tmp_path)["u0"]
    assert unpadded.shape == (20, 384) and np.allclose(unpadded, long[:20])
    free = features("is09_windows", IS09WindowsConfig(num_frames=None), [tone("d.wav", seconds=2.0)], tmp_path)["u0"]
    assert len(free) == windows


# pyAudioAnalysis -------------------------------------------------------------------------------


def _library_pyaudioanalysis(path, window_s=0.050, step_s=0.025):
    """The library's own features, with its own chroma tables (emofuse caches them)."""
    from pyAudioAnalysis import ShortTermFeatures

    from emofuse.audio.pyaudioanalysis import library_chroma_tables

    signal, rate = soundfile.read(path, dtype="float32")
    with library_chroma_tables():
        frames, _ = ShortTermFeatures.feature_extraction(signal, rate, window_s * rate, step_s * rate, deltas=False)
    return frames.T


def test_pyaudioanalysis_matches_the_library(tmp_path, tone):
    pytest.importorskip("pyAudioAnalysis")
    path = tone(seconds=1.0, frequency=240)
    reference = _library_pyaudioanalysis(path)
    frames = features("pyaudioanalysis", PyAudioAnalysisConfig(output="frames"), [path], tmp_path)["u0"]
    assert frames.shape == reference.shape == (39, 34)
    assert np.allclose(frames, reference, rtol=1e-5, atol=1e-6)
    hsf = features("pyaudioanalysis", PyAudioAnalysisConfig(), [path], tmp_path)["u0"]
    assert hsf.shape == (68,)
    assert np.allclose(hsf, np.concatenate([reference.mean(axis=0), reference.std(axis=0)]), rtol=1e-5, atol=1e-6)


def test_pyaudioanalysis_builds_its_chroma_tables_once_per_fft_size(tmp_path, tone, monkeypatch):
    pytest.importorskip("pyAudioAnalysis")
    from pyAudioAnalysis import ShortTermFeatures

    from emofuse.audio.pyaudioanalysis import short_term_features

    library = getattr(ShortTermFeatures.chroma_features_init, "__wrapped__", ShortTermFeatures.chroma_features_init)
    calls = []

    def counted(num_fft, sampling_rate):
        calls.append((num_fft, sampling_rate))
        return library(num_fft, sampling_rate)

    monkeypatch.setattr(ShortTermFeatures, "chroma_features_init", counted)  # as if freshly imported
    signal, rate = soundfile.read(tone(seconds=1.0, frequency=240), dtype="float32")
    first = short_term_features(signal, rate)
    short_term_features(signal, rate, window_ms=40.0)
    assert np.array_equal(short_term_features(signal, rate), first)
    assert calls == [(400, rate), (320, rate)]  # 3 x 39 frames, two FFT sizes
    num_chroma, _ = ShortTermFeatures.chroma_features_init(400, rate)
    with pytest.raises(ValueError, match="read-only"):
        num_chroma[0] = 0


def test_pyaudioanalysis_on_emodb_matches_the_library(tmp_path):
    pytest.importorskip("pyAudioAnalysis")
    path = shared_path("data", "emodb", "wav", "03a01Fa.wav")
    hsf = features("pyaudioanalysis", PyAudioAnalysisConfig(), [path], tmp_path)["u0"]
    reference = _library_pyaudioanalysis(path)
    assert np.allclose(hsf, np.concatenate([reference.mean(axis=0), reference.std(axis=0)]), rtol=1e-4, atol=1e-6)


# resemblyzer -------------------------------------------------------------------------------------


def test_resemblyzer_matches_the_library(tmp_path, tone):
    pytest.importorskip("resemblyzer")
    from emofuse.audio.speaker import voice_encoder

    path = tone(seconds=2.5, frequency=150)
    table = features("resemblyzer", ResemblyzerConfig(preprocess=False), [path], tmp_path)
    embedding = table["u0"]
    assert embedding.shape == (256,) and abs(np.linalg.norm(embedding) - 1) < 1e-4
    signal, _ = soundfile.read(path, dtype="float32")
    assert np.allclose(embedding, voice_encoder().embed_utterance(signal), atol=1e-5)
    partials = features("resemblyzer", ResemblyzerConfig(output="partials"), [path], tmp_path)["u0"]
    assert partials.ndim == 2 and partials.shape[1] == 256 and len(partials) >= 2
    # a pure tone is no speech to resemblyzer's VAD: emofuse keeps the untrimmed signal
    assert np.isfinite(features("resemblyzer", ResemblyzerConfig(), [path], tmp_path)["u0"]).all()


def test_resemblyzer_on_emodb_matches_the_library(tmp_path):
    pytest.importorskip("resemblyzer")
    from resemblyzer import preprocess_wav

    from emofuse.audio.speaker import voice_encoder

    path = shared_path("data", "emodb", "wav", "03a01Fa.wav")
    embedding = features("resemblyzer", ResemblyzerConfig(), [path], tmp_path)["u0"]
    assert np.allclose(embedding, voice_encoder().embed_utterance(preprocess_wav(path)), atol=1e-5)


# Self-supervised encoders ---------------------------------------------------------------------


def test_ssl_encoder_returns_all_layers_with_lengths(tiny_wav2vec2):
    encoder = SSLEncoder.from_pretrained(str(tiny_wav2vec2)).eval()
    assert encoder.num_layers == 3 and encoder.hidden_size == 32 and encoder.normalize and not encoder.use_attention_mask
    waveforms = torch.randn(2, 16000)
    with torch.no_grad():
        hidden, lengths = encoder(waveforms, torch.tensor([16000, 8000]))
    assert hidden.shape == (2, 3, 50, 32) and lengths.tolist() == [50, 25]  # 320 samples per frame


def test_ssl_padding_is_masked_for_layer_norm_models(tiny_wavlm):
    encoder = SSLEncoder.from_pretrained(str(tiny_wavlm)).eval()
    assert encoder.use_attention_mask
    waveforms = torch.randn(2, 16000)
    with torch.no_grad():
        hidden, lengths = encoder(waveforms, torch.tensor([16000, 8000]))
        alone, alone_lengths = encoder(waveforms[1:, :8000])
    assert int(lengths[1]) == int(alone_lengths[0]) == alone.shape[2]
    assert torch.allclose(hidden[1, -1, : int(lengths[1])], alone[0, -1], atol=1e-4)


def test_ssl_features_layers_pooling_and_crop(tmp_path, tone, tiny_wav2vec2):
    paths = [tone("long.wav", seconds=3.0), tone("short.wav", seconds=0.5)]
    model = str(tiny_wav2vec2)
    last = features("ssl", SSLConfig(model=model, max_duration=1.0), paths, tmp_path)
    assert last["u0"].shape == (50, 32) and last["u1"].shape == (25, 32)  # cropped to 1 s; 0.5 s whole
    every = features("ssl", SSLConfig(model=model, layer="all", max_duration=1.0), paths, tmp_path)
    assert every["u0"].shape == (50, 3 * 32)
    assert np.allclose(every["u0"][:, -32:], last["u0"], atol=1e-5)
    second = features("ssl", SSLConfig(model=model, layer="second_to_last", max_duration=1.0), paths, tmp_path)
    assert np.allclose(every["u0"][:, 32:64], second["u0"], atol=1e-5)
    mean = features("ssl", SSLConfig(model=model, pooling="mean", layer=0, max_duration=1.0), paths, tmp_path)
    assert np.allclose(mean["u0"], every["u0"][:, :32].mean(axis=0), atol=1e-5)
    with pytest.raises(ValueError, match="layer must be one of"):
        SSLConfig(layer="penultimate")


def test_ssl_model_loading_fails_with_a_clear_message(tmp_path):
    from emofuse.text.lm import ModelLoadError

    with pytest.raises(ModelLoadError, match="cannot load speech encoder"):
        SSLEncoder.from_pretrained(str(tmp_path))  # a directory without a model


def test_ssl_finetune_model_frozen_and_fine_tuned(tiny_wav2vec2):
    from emofuse.components import MODELS
    from emofuse.models import SSLFinetuneConfig
    from emofuse.models.inputs import InputSpec

    specs = [InputSpec("waveform", "audio", "waveform", 1)]
    inputs = [(torch.randn(3, 24000), torch.tensor([24000, 16000, 4000]))]
    tuned = MODELS.build("ssl_finetune", SSLFinetuneConfig(model=str(tiny_wav2vec2), max_duration=1.0), specs, 4)
    tuned.train()
    outputs = tuned(inputs)
    assert outputs.shape == (3, 4)
    outputs.sum().backward()
    assert tuned.layer_sum.logits.grad is not None
    groups = tuned.parameter_groups(1e-3)
    assert [g.get("pretrained", False) for g in groups] == [False, True]
    conv = tuned.encoder.model.feature_extractor
    assert all(not p.requires_grad for p in conv.parameters())  # the CNN feature encoder stays frozen
    from emofuse.models.blocks.dropout import Dropout

    layers = [m for m in tuned.encoder.modules() if isinstance(m, torch.nn.Dropout)]
    assert layers and all(type(m) is Dropout for m in layers)  # the encoder's dropout, emofuse's masks
    frozen = MODELS.build("ssl_finetune", SSLFinetuneConfig(model=str(tiny_wav2vec2), freeze=True, layer="last",
                                                            pooling="attention"), specs, 3)
    frozen.train()
    assert not frozen.encoder.training
    frozen(inputs).sum().backward()
    assert all(p.grad is None for p in frozen.encoder.parameters())
    assert len(frozen.parameter_groups(1e-3)) == 1
    frozen.eval()
    assert frozen.embed(inputs).shape == (3, 32)


# Bad audio ----------------------------------------------------------------------------------------


@pytest.fixture
def bad_audio(tmp_path, tone):
    """Files that must fail with their name, and files that must be resampled or mixed down."""
    rng = np.random.default_rng(0)
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF" + rng.bytes(2000))
    (tmp_path / "empty.wav").write_bytes(b"")
    soundfile.write(tmp_path / "zeros.wav", np.zeros(16000, np.float32), 16000)
    failing = {"corrupt": "cannot decode", "empty": "empty file", "zeros": "silent", "tiny": "too short"}
    good = {
        "long": tone("long.wav", seconds=30.0),
        "stereo": tone("stereo.wav", seconds=1.0, channels=2),
        "narrowband": tone("narrowband.wav", seconds=1.0, sampling_rate=8000),
        "cd": tone("cd.wav", seconds=1.0, sampling_rate=44100),
    }
    tone("tiny.wav", seconds=0.05)
    paths = {name: tmp_path / f"{name}.wav" for name in failing} | good
    return paths, failing


@pytest.mark.parametrize(("name", "config"), [
    ("opensmile", OpenSmileConfig(feature_set="eGeMAPSv02")),
    ("is09_windows", IS09WindowsConfig()),
    ("pyaudioanalysis", PyAudioAnalysisConfig()),
    ("resemblyzer", ResemblyzerConfig()),
])
def test_bad_audio_is_rejected_with_the_file_name_or_fixed(tmp_path, bad_audio, name, config):
    pytest.importorskip({"opensmile": "opensmile", "is09_windows": "opensmile", "pyaudioanalysis": "pyAudioAnalysis",
                         "resemblyzer": "resemblyzer"}[name])
    paths, failing = bad_audio
    manifest = Manifest([Utterance(key, audio=str(path)) for key, path in paths.items()])
    table = extract_features(extractor(name, config), manifest, cache_dir=tmp_path / "cache", on_error="skip",
                             num_workers=2, progress=False)
    assert set(table.failures) == set(failing)
    for key, reason in failing.items():
        assert f"{key}.wav" in table.failures[key] and reason in table.failures[key]
    for key in ("long", "stereo", "narrowband", "cd"):
        assert np.isfinite(table[key]).all() and table[key].shape == table["stereo"].shape
    assert table["narrowband"].shape == table["cd"].shape


def test_bad_audio_through_the_ssl_extractor(tmp_path, bad_audio, tiny_wav2vec2):
    paths, failing = bad_audio
    manifest = Manifest([Utterance(key, audio=str(path)) for key, path in paths.items()])
    config = SSLConfig(model=str(tiny_wav2vec2), pooling="mean", max_duration=5.0)
    table = extract_features(extractor("ssl", config), manifest, cache_dir=tmp_path / "cache", on_error="skip", progress=False)
    assert set(table.failures) == set(failing)
    assert all(np.isfinite(table[k]).all() and table[k].shape == (32,) for k in ("long", "stereo", "narrowband", "cd"))


def test_resampling_and_mixdown_keep_the_content(tmp_path, tone):
    pytest.importorskip("pyAudioAnalysis")
    reference = tone("ref.wav", seconds=1.0, frequency=300)
    variants = [tone("cd.wav", seconds=1.0, frequency=300, sampling_rate=44100),
                tone("stereo.wav", seconds=1.0, frequency=300, channels=2)]
    table = features("pyaudioanalysis", PyAudioAnalysisConfig(), [reference, *variants], tmp_path)
    assert np.allclose(table["u2"], table["u0"], rtol=2e-3, atol=1e-5)  # a mixed-down copy (features ignore level)
    tonal = [0, 7]  # zero-crossing rate and roll-off follow the 300 Hz tone, not the (band-limited) noise
    assert np.allclose(table["u1"][tonal], table["u0"][tonal], rtol=0.02)
    assert read_audio(variants[0]).shape == (16000,)
