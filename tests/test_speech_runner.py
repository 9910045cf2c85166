"""Every speech model trains through the runner (one epoch on a tiny synthetic corpus)."""


import pandas as pd
import pytest
import torch

from emofuse.experiment import load_experiment
from emofuse.rundir import RunDirectory
from emofuse.training import run_experiment

ONE_EPOCH = {"max_epochs": 1, "batch_size": 8, "selection": "last"}


def experiment(manifest, cache, features, systems, **changes):
    config = {
        "name": "speech_smoke",
        "data": {"manifest": str(manifest)},
        "protocol": {"name": "leave_one_session_out", "dev_fraction": 0.25},
        "seeds": [0],
        "features": features,
        "extraction": {"cache_dir": str(cache), "num_workers": 1},
        "systems": systems,
        **changes,
    }
    return load_experiment(config)


def check(result, systems):
    summary = result.summary.set_index("system")
    assert set(summary.index) == set(systems)
    assert (summary["runs"] == 2).all()
    return summary


def test_spectrogram_models_train_through_the_runner(tmp_path, synthetic_corpus):
    features = {
        "mel64": {"name": "logmel", "n_mels": 64, "window_ms": 32, "hop_ms": 10},
        "mel128": {"name": "logmel", "n_mels": 128, "window_ms": 25, "hop_ms": 10, "normalization": "utterance"},
    }
    systems = {
        "cnn14": {"inputs": ["mel64"], "model": {"name": "cnn14", "channels": [4, 8, 8, 16, 16, 32], "crop_seconds": 0.4},
                  "training": {**ONE_EPOCH, "optimizer": "sgd", "learning_rate": 0.01, "nesterov": True,
                               "length_bucketing": True}},
        "resnet34": {"inputs": ["mel128"], "model": {"name": "resnet34", "channels": 4, "layers": [1, 1, 1, 1],
                                                      "embedding_size": 16, "spec_augment": "conservative"},
                     "normalization": "none",
                     "training": {**ONE_EPOCH, "optimizer": "sgd", "learning_rate": 0.1, "scheduler": "step_halving",
                                  "repeat": 2}},
        "pooling": {"inputs": ["mel64"], "model": {"name": "pooling", "head": "attention"},
                    "training": {**ONE_EPOCH, "learning_rate": 1e-4, "batch_size": 16}},
        "fused": {"members": ["cnn14", "resnet34", "pooling"], "fusion": {"name": "late", "method": "average"}},
    }
    result = run_experiment(experiment(synthetic_corpus, tmp_path / "cache", features, systems), tmp_path / "run",
                            progress=False)
    check(result, systems)
    spec = RunDirectory(tmp_path / "run").fold("resnet34", 0, "session_1").load_system().spec
    assert spec.model.config.spec_augment == "conservative"


def test_descriptor_models_train_through_the_runner(tmp_path, synthetic_corpus):
    pytest.importorskip("opensmile")
    pytest.importorskip("pyAudioAnalysis")
    features = {
        "is09": {"name": "is09_windows", "num_frames": 24},
        "hsf": {"name": "pyaudioanalysis"},
        "egemaps": {"name": "opensmile", "feature_set": "eGeMAPSv02"},
    }
    systems = {
        "iemonet_ser": {"inputs": ["is09"], "model": {"name": "attention_bilstm", "lstm_size": 8, "attention_size": 8},
                        "training": {**ONE_EPOCH, "learning_rate": 1e-3}},
        "atmaja": {"inputs": ["hsf"], "model": {"name": "acoustic_lstm", "lstm_sizes": [68, 16, 16], "dense_size": 8},
                   "training": {**ONE_EPOCH, "optimizer": "nadam"}},
        "svm": {"inputs": ["egemaps"], "model": {"name": "svm", "c_grid": [0.01]}, "normalization": "speaker"},
    }
    result = run_experiment(experiment(synthetic_corpus, tmp_path / "cache", features, systems), tmp_path / "run",
                            progress=False)
    check(result, systems)
    dimensional = {"atmaja": {**systems["atmaja"], "training": {**ONE_EPOCH, "optimizer": "nadam"}}}
    result = run_experiment(experiment(synthetic_corpus, tmp_path / "cache", features, dimensional,
                                       task={"type": "dimensional", "loss": "ccc", "loss_weights": [0.1, 0.4, 0.5]}),
                            tmp_path / "run_dim", progress=False)
    assert result.summary["CCC_mean_mean"].notna().all()
    predictions = pd.read_csv(tmp_path / "run_dim" / "results" / "predictions.csv")
    assert {"pred_valence", "pred_arousal", "pred_dominance"} <= set(predictions.columns)


def test_speaker_and_ssl_models_train_through_the_runner(tmp_path, synthetic_corpus):
    pytest.importorskip("resemblyzer")
    transformers = pytest.importorskip("transformers")
    model_dir = tmp_path / "tiny_hubert"
    torch.manual_seed(0)
    config = transformers.HubertConfig(hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
                                       conv_dim=(8, 8, 8), conv_stride=(10, 8, 4), conv_kernel=(10, 8, 4),
                                       num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2)
    transformers.HubertModel(config).save_pretrained(model_dir)
    features = {
        "speaker": {"name": "resemblyzer"},
        "hubert": {"name": "ssl", "model": str(model_dir), "layer": "all", "max_duration": 2.0},
    }
    systems = {
        "speaker_linear": {"inputs": ["speaker"], "model": {"name": "mlp", "hidden_sizes": []}, "training": ONE_EPOCH},
        "hubert_frames": {"inputs": ["hubert"], "model": {"name": "pooling", "head": "mlp_mean", "hidden_sizes": [8],
                                                          "num_layers": 3}, "training": ONE_EPOCH},
        "hubert_finetune": {"inputs": ["waveform"], "model": {"name": "ssl_finetune", "model": str(model_dir),
                                                              "max_duration": 0.5},
                            "training": {**ONE_EPOCH, "learning_rate": 1e-3, "encoder_learning_rate": 1e-5}},
    }
    result = run_experiment(experiment(synthetic_corpus, tmp_path / "cache", features, systems), tmp_path / "run",
                            progress=False)
    check(result, systems)
