"""Shared fixtures: paths to ../shared (skipping cleanly without it) and tiny synthetic audio."""

from __future__ import annotations

import os
import pathlib

import numpy as np
import pytest
import soundfile

ROOT = pathlib.Path(__file__).resolve().parents[1]

if os.environ.get("PYTEST_XDIST_WORKER"):
    # pytest-xdist runs the suite in one process per core (make test): one torch / BLAS thread
    # each, and for the runs they start, instead of every process claiming every core
    os.environ.setdefault("OMP_NUM_THREADS", "1")
SHARED = pathlib.Path(os.environ.get("EMOFUSE_SHARED", ROOT.parent / "shared"))


def shared_path(*parts: str) -> pathlib.Path:
    """A path under ../shared, or skip the test with the reason."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (../shared is not available)")
    return path


@pytest.fixture
def iemocap_mini() -> pathlib.Path:
    return shared_path("fixtures", "IEMOCAP_mini")


@pytest.fixture
def msp_mini() -> pathlib.Path:
    return shared_path("fixtures", "MSP_mini")


@pytest.fixture
def expected_counts() -> dict:
    import json

    return json.loads(shared_path("fixtures", "EXPECTED.json").read_text())


def write_tone(path: pathlib.Path, *, seconds: float = 1.0, frequency: float = 220.0,
               sampling_rate: int = 16000, channels: int = 1, amplitude: float = 0.3,
               seed: int = 0) -> pathlib.Path:
    """A short harmonic tone with a little noise, as a 16-bit wav."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sampling_rate)) / sampling_rate
    signal = amplitude * np.sin(2 * np.pi * frequency * t) + 0.01 * rng.standard_normal(t.size)
    if channels > 1:
        signal = np.stack([signal * (0.5 + 0.5 * c / channels) for c in range(channels)], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, signal.astype(np.float32), sampling_rate, subtype="PCM_16")
    return path


@pytest.fixture
def tone(tmp_path: pathlib.Path):
    def make(name: str = "tone.wav", **kwargs) -> pathlib.Path:
        return write_tone(tmp_path / name, **kwargs)

    return make


CLASS_PITCH = {"neu": 140.0, "hap": 260.0, "sad": 110.0, "ang": 200.0}
CLASS_WORDS = {
    "neu": "the meeting is at noon in the office",
    "hap": "wonderful great news I love it",
    "sad": "I miss her so much it hurts",
    "ang": "get out now I am furious with you",
}


def write_synthetic_corpus(root: pathlib.Path, *, speakers: int = 4, per_class: int = 3,
                           sessions: int = 2, seconds: float = 0.6, prefix: str = "",
                           vary_length: bool = False) -> pathlib.Path:
    """A tiny corpus whose pitch and words carry the class; returns its manifest CSV.

    Speakers ``s0..``, two per session; V/A/D follow the class (so dimensional tasks work).
    With ``vary_length`` the clips last 0.75 to 1.5 times ``seconds`` (padding in batches).
    """
    import pandas as pd

    rows = []
    vad = {"neu": (0.0, -0.2, 0.0), "hap": (0.8, 0.6, 0.3), "sad": (-0.7, -0.6, -0.5), "ang": (-0.6, 0.8, 0.7)}
    for speaker in range(speakers):
        for label, pitch in CLASS_PITCH.items():
            for k in range(per_class):
                identifier = f"{prefix}s{speaker}_{label}_{k}"
                length = seconds * (0.75 + 0.75 * ((speaker * 7 + k * 3 + len(label)) % 5) / 4) if vary_length else seconds
                path = write_tone(root / "wav" / f"{identifier}.wav", seconds=length,
                                  frequency=pitch * (1 + 0.03 * speaker) * (1 + 0.02 * k),
                                  amplitude=0.5 if label in {"hap", "ang"} else 0.2, seed=speaker * 100 + k)
                v, a, d = vad[label]
                rows.append({"id": identifier, "audio": str(path), "speaker": f"{prefix}s{speaker}",
                             "session": str(speaker // 2 % sessions + 1), "corpus": "synthetic",
                             "text": f"{CLASS_WORDS[label]} {k}", "emotion": label, "label": label,
                             "valence": v, "arousal": a, "dominance": d, "scripted": False})
    manifest = root / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


@pytest.fixture
def synthetic_corpus(tmp_path: pathlib.Path) -> pathlib.Path:
    return write_synthetic_corpus(tmp_path / "corpus")


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A 2-layer, 32-unit BERT with a word-level vocabulary, saved like a hub model."""
    import transformers

    directory = tmp_path_factory.mktemp("tiny_bert")
    words = sorted({w for text in CLASS_WORDS.values() for w in text.lower().split()}
                   | set("abcdefghijklmnopqrstuvwxyz0123456789.,!?'"))
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words]
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(directory / "vocab.txt"), do_lower_case=True)
    tokenizer.save_pretrained(directory)
    config = transformers.BertConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2,
                                     num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)
    import torch

    torch.manual_seed(0)
    transformers.BertModel(config).save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_wav2vec2(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A 2-layer, 32-unit wav2vec 2.0 (group norm, no attention mask), saved like a hub model."""
    import torch
    import transformers

    directory = tmp_path_factory.mktemp("tiny_wav2vec2")
    torch.manual_seed(0)
    config = transformers.Wav2Vec2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                                         conv_dim=(16, 16, 16), conv_stride=(10, 8, 4), conv_kernel=(10, 8, 4),
                                         num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2)
    transformers.Wav2Vec2Model(config).save_pretrained(directory)
    transformers.Wav2Vec2FeatureExtractor(do_normalize=True, return_attention_mask=False).save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def shared_corpus(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The synthetic corpus, written once per test session (for tests that only read it)."""
    return write_synthetic_corpus(tmp_path_factory.mktemp("shared_corpus"), vary_length=True)


@pytest.fixture(scope="session")
def feature_cache(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """A feature cache shared by the tests of a session (features are keyed by config and file)."""
    return tmp_path_factory.mktemp("feature_cache")


#: Front-ends of the tiny synthetic runs, by the input kinds that models' examples name.
EXAMPLE_INPUTS = {
    "vector": ("logmel_stats", {"name": "logmel_stats", "n_mels": 16}),
    "sequence": ("logmel", {"name": "logmel", "n_mels": 16}),
    "text_vector": ("words", {"name": "text_embedding", "model": "{tiny_text_model}"}),
    "text_sequence": ("tokens", {"name": "text_embedding", "model": "{tiny_text_model}", "pooling": "tokens"}),
    "text": ("text", None),
    "waveform": ("waveform", None),
}


def _fill(value, paths):
    if isinstance(value, str):
        for key, path in paths.items():
            value = value.replace("{" + key + "}", str(path))
        return value
    if isinstance(value, dict):
        return {k: _fill(v, paths) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_fill(v, paths) for v in value]
    return value


def example_experiment(component: str, *, manifest: pathlib.Path, cache: pathlib.Path, paths: dict, fusion: bool = False,
                       config_overrides: dict | None = None, epochs: int = 2, task: dict | None = None) -> dict:
    """The config of a tiny run of one registered model (or score fusion) in its ``Example``
    configuration, as system ``model``; members, where it needs them, are small MLPs."""
    from emofuse.components import MODELS
    from emofuse.components import SCORE_FUSIONS

    registry = SCORE_FUSIONS if fusion else MODELS
    example = registry.get(component).builder.example
    assert example is not None, f"{registry.kind} {component!r} declares no example (emofuse.registry.Example)"
    features, systems = {}, {}
    training = {"max_epochs": epochs, "batch_size": 8, "learning_rate": 0.01}
    member_inputs = {0: "vector", 1: "text_vector"}
    members = []
    inputs = []
    for kind in example.inputs:
        if kind == "member":
            member_kind = member_inputs[len(members) % 2]
            name, feature = EXAMPLE_INPUTS[member_kind]
            features[name] = feature
            member = f"member_{len(members)}"
            systems[member] = {"inputs": [name], "model": {"name": "mlp", "hidden_sizes": [8]}, "training": training}
            members.append(member)
        else:
            name, feature = EXAMPLE_INPUTS[kind]
            if feature is not None:
                features[name] = feature
            inputs.append(name)
    settings = {"name": component, **_fill(dict(example.config), paths), **(config_overrides or {})}
    if fusion:
        systems["model"] = {"members": members, "fusion": settings}
    elif members:
        systems["model"] = {"members": members, "model": settings, "training": training}
    else:
        systems["model"] = {"inputs": inputs, "model": settings, "training": training}
    return _fill({
        "name": f"example_{component}",
        "data": {"manifest": str(manifest)},
        "task": task or {"type": "categorical"},
        "protocol": {"name": "holdout_session", "test_sessions": ["2"], "dev_fraction": 0.25},
        "seeds": [0],
        "features": features,
        "extraction": {"cache_dir": str(cache)},
        "systems": systems,
    }, paths)


@pytest.fixture(scope="module")
def one_torch_thread():
    """Inference as the CLI runs it (one torch thread); the previous setting is restored after."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
