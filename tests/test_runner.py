import json

import pandas as pd
import pytest

from emofuse.data.validation import LeakageError
from emofuse.experiment import load_experiment
from emofuse.training import RunError
from emofuse.training import run_experiment
from emofuse.training.module import EmotionModule


def experiment(manifest, tiny_bert, cache, **changes):
    config = {
        "name": "synthetic",
        "data": {"manifest": str(manifest)},
        "protocol": {"name": "leave_one_session_out", "dev_fraction": 0.25},
        "seeds": [0],
        "features": {
            "logmel": {"name": "logmel_stats", "n_mels": 40},
            "words": {"name": "text_embedding", "model": str(tiny_bert)},
        },
        "extraction": {"cache_dir": str(cache)},
        "systems": {
            "audio": {"inputs": ["logmel"], "model": {"name": "mlp", "hidden_sizes": [16]},
                      "training": {"max_epochs": 15, "batch_size": 8, "learning_rate": 0.01}},
            "text": {"inputs": ["words"], "model": {"name": "mlp", "hidden_sizes": []},
                     "training": {"max_epochs": 15, "batch_size": 8, "learning_rate": 0.05}},
            "fused": {"members": ["audio", "text"], "fusion": {"name": "late", "method": "weighted", "grid_step": 0.1}},
        },
    }
    for key, value in changes.items():
        config[key] = value
    return load_experiment(config)


def test_end_to_end_categorical(tmp_path, synthetic_corpus, tiny_bert):
    result = run_experiment(experiment(synthetic_corpus, tiny_bert, tmp_path / "cache"), tmp_path / "run", progress=False)
    summary = result.summary.set_index("system")
    assert list(summary.index) == ["audio", "text", "fused"]
    assert (summary["runs"] == 2).all()
    assert summary.loc["audio", "UA_mean"] > 0.4  # above chance (0.25): pitch carries the class
    results = tmp_path / "run" / "results"
    assert "| fused |" in (results / "summary.md").read_text()
    predictions = pd.read_csv(results / "predictions.csv")
    assert set(predictions["system"]) == {"audio", "text", "fused"}
    assert {"p_neu", "p_hap", "p_sad", "p_ang"} <= set(predictions.columns)
    fold = tmp_path / "run" / "systems" / "audio" / "seed_0" / "session_1"
    assert (fold / "model.safetensors").exists() and not (fold / "checkpoints").exists()
    description = json.loads((fold / "model.json").read_text())
    assert description["outputs"] == ["neu", "hap", "sad", "ang"]
    fusion = json.loads((tmp_path / "run" / "systems" / "fused" / "seed_0" / "session_1" / "fusion.json").read_text())
    assert abs(sum(fusion["weights"]) - 1) < 1e-9
    validation = json.loads((tmp_path / "run" / "validation.json").read_text())
    assert validation["speaker_independent"] is True
    # test predictions never include dev utterances, and dev is disjoint from test
    per_fold = pd.read_csv(fold / "predictions.csv")
    assert set(per_fold["split"]) == {"dev", "test"}


def test_resume_skips_finished_folds(tmp_path, synthetic_corpus, tiny_bert):
    config = experiment(synthetic_corpus, tiny_bert, tmp_path / "cache")
    run_experiment(config, tmp_path / "run", progress=False, systems=["audio"])
    finished = tmp_path / "run" / "systems" / "audio" / "seed_0"
    kept = (finished / "session_1" / "predictions.csv").stat().st_mtime_ns
    (finished / "session_2" / "done.json").unlink()
    result = run_experiment(config, tmp_path / "run", progress=False)
    assert (finished / "session_1" / "predictions.csv").stat().st_mtime_ns == kept
    assert (finished / "session_2" / "done.json").exists()
    assert set(result.summary["system"]) == {"audio", "text", "fused"}


def test_interrupted_fold_resumes_from_its_checkpoint(tmp_path, synthetic_corpus, tiny_bert, monkeypatch):
    config = experiment(synthetic_corpus, tiny_bert, tmp_path / "cache")
    original = EmotionModule.on_train_epoch_end

    def crash(self):
        original(self)
        if self.current_epoch == 4:
            raise KeyboardInterrupt("simulated kill")

    monkeypatch.setattr(EmotionModule, "on_train_epoch_end", crash)
    with pytest.raises((KeyboardInterrupt, SystemExit)):  # Lightning turns Ctrl+C into exit(1)
        run_experiment(config, tmp_path / "run", progress=False, systems=["audio"])
    fold = tmp_path / "run" / "systems" / "audio" / "seed_0" / "session_1"
    assert (fold / "checkpoints" / "last.ckpt").exists() and not (fold / "done.json").exists()
    monkeypatch.setattr(EmotionModule, "on_train_epoch_end", original)
    run_experiment(config, tmp_path / "run", progress=False, systems=["audio"])
    first, second = (pd.read_csv(fold / "logs" / f"version_{n}" / "metrics.csv") for n in (0, 1))
    assert sorted(set(first["epoch"].dropna().astype(int))) == [0, 1, 2, 3, 4]
    assert sorted(set(second["epoch"].dropna().astype(int))) == list(range(4, 15))  # resumed after epoch 3
    assert json.loads((fold / "model.json").read_text())["epochs_trained"] == 15


def test_classic_models(tmp_path, synthetic_corpus, tiny_bert):
    config = experiment(synthetic_corpus, tiny_bert, tmp_path / "cache", systems={
        "svm": {"inputs": ["logmel"], "model": {"name": "svm", "kernel": "linear", "c_grid": [0.01, 1.0]}},
        "logreg": {"inputs": ["logmel", "words"], "model": {"name": "logistic_regression"}, "normalization": "speaker"},
        "fused": {"members": ["svm", "logreg"], "fusion": {"name": "late", "method": "znorm"}},
    })
    result = run_experiment(config, tmp_path / "run", progress=False)
    assert set(result.summary["system"]) == {"svm", "logreg", "fused"}
    model = json.loads((tmp_path / "run" / "systems" / "svm" / "seed_0" / "session_1" / "model.json").read_text())
    assert model["selected"]["C"] in (0.01, 1.0)
    from safetensors.numpy import load_file

    state = load_file(tmp_path / "run" / "systems" / "logreg" / "seed_0" / "session_1" / "model.safetensors")
    assert state["0.coef"].shape == (4, 40 * 4 + 32)
    dimensional = experiment(synthetic_corpus, tiny_bert, tmp_path / "cache", task={"type": "dimensional"}, systems={
        "svr": {"inputs": ["logmel"], "model": {"name": "svm", "c_grid": [1.0]}}})
    assert run_experiment(dimensional, tmp_path / "run_dim", progress=False).summary["CCC_mean_mean"].notna().all()


def test_classification_block_over_frozen_members(tmp_path, synthetic_corpus, tiny_bert):
    import torch

    from emofuse.models.serialization import load_system_model

    config_data = {
        "name": "block", "data": {"manifest": str(synthetic_corpus)},
        "protocol": {"name": "leave_one_session_out", "dev_fraction": 0.25},
        "features": {"logmel": {"name": "logmel_stats", "n_mels": 40}, "words": {"name": "text_embedding", "model": str(tiny_bert)}},
        "extraction": {"cache_dir": str(tmp_path / "cache")},
        "systems": {
            "audio": {"inputs": ["logmel"], "model": {"name": "mlp", "hidden_sizes": [16]}, "training": {"max_epochs": 5}},
            "text": {"inputs": ["words"], "model": {"name": "mlp", "hidden_sizes": [8]}, "training": {"max_epochs": 5}},
            "block": {"members": ["audio", "text"], "model": {"name": "classification_block", "hidden_sizes": [8]},
                      "training": {"max_epochs": 3, "selection": "last"}},
            "block_unfrozen": {"members": ["audio", "text"],
                               "model": {"name": "classification_block", "hidden_sizes": [8], "unfreeze_after": 1},
                               "training": {"max_epochs": 3, "selection": "last"}},
        },
    }
    run_experiment(load_experiment(config_data), tmp_path / "run", progress=False)
    fold = tmp_path / "run" / "systems"
    audio, _ = load_system_model(fold / "audio" / "seed_0" / "session_1")
    block, description = load_system_model(fold / "block" / "seed_0" / "session_1")
    unfrozen, _ = load_system_model(fold / "block_unfrozen" / "seed_0" / "session_1")
    assert [m["model"]["name"] for m in description["members"]] == ["mlp", "mlp"]
    # frozen members keep the weights of the trained audio system; unfrozen ones moved
    for key, value in audio.state_dict().items():
        assert torch.equal(block.model.members[0].state_dict()[key], value)
    changed = [not torch.equal(unfrozen.model.members[0].state_dict()[k], v) for k, v in audio.state_dict().items()]
    assert any(changed)


def test_cross_corpus_evaluation(tmp_path, synthetic_corpus, tiny_bert):
    from conftest import write_synthetic_corpus

    other = write_synthetic_corpus(tmp_path / "other", speakers=2, per_class=2, prefix="other_")
    config = experiment(synthetic_corpus, tiny_bert, tmp_path / "cache", evaluate_on={"other": {"manifest": str(other)}})
    result = run_experiment(config, tmp_path / "run", progress=False)
    fold = tmp_path / "run" / "systems" / "fused" / "seed_0" / "session_1"
    cross = pd.read_csv(fold / "predictions_other.csv")
    assert len(cross) == 16 and set(cross["split"]) == {"test"}
    assert len(pd.read_csv(tmp_path / "run" / "manifest_other.csv")) == 16
    assert "other" in json.loads((fold / "metrics.json").read_text())["cross"]
    table = pd.read_csv(tmp_path / "run" / "results" / "cross_metrics.csv")
    assert set(table["system"]) == {"audio", "text", "fused"} and set(table["evaluated_on"]) == {"other"}
    assert "## Evaluated on other" in (tmp_path / "run" / "results" / "summary.md").read_text()
    assert len(result.metrics) == 6


def test_reference_training_with_simulated_asr_test_transcripts(tmp_path, synthetic_corpus, tiny_bert):
    config = experiment(synthetic_corpus, tiny_bert, tmp_path / "cache",
                        evaluate_on={"noisy": {"manifest": str(synthetic_corpus), "transcript": "simulated", "simulated_wer": 0.3}})
    run_experiment(config, tmp_path / "run", progress=False, systems=["text"])
    fold = tmp_path / "run" / "systems" / "text" / "seed_0" / "session_1"
    noisy = pd.read_csv(fold / "predictions_noisy.csv")
    test = pd.read_csv(fold / "predictions.csv").query("split == 'test'")
    assert sorted(noisy["id"]) == sorted(test["id"])  # same corpus: only the fold's test utterances
    simulated = experiment(synthetic_corpus, tiny_bert, tmp_path / "cache",
                           data={"manifest": str(synthetic_corpus), "transcript": "simulated", "simulated_wer": 0.2, "simulated_seed": 1})
    run_experiment(simulated, tmp_path / "run2", progress=False, systems=["text"])
    manifest = pd.read_csv(tmp_path / "run2" / "manifest.csv")
    changed = (manifest["asr_text"] != manifest["text"]).mean()
    assert 0.2 < changed <= 1.0
    from emofuse.config import ConfigError

    with pytest.raises(ConfigError, match="transcript must be"):
        experiment(synthetic_corpus, tiny_bert, tmp_path / "cache", data={"manifest": str(synthetic_corpus), "transcript": "noisy"})


def test_parallel_jobs_match_serial(tmp_path, synthetic_corpus, tiny_bert):
    config = experiment(synthetic_corpus, tiny_bert, tmp_path / "cache")
    serial = run_experiment(config, tmp_path / "serial", progress=False)
    parallel = run_experiment(config, tmp_path / "parallel", progress=False, jobs=2)
    merged = serial.metrics.merge(parallel.metrics, on=["system", "seed", "fold"], suffixes=("_s", "_p"))
    assert len(merged) == 6
    assert (merged["UA_s"] - merged["UA_p"]).abs().max() < 1e-9


def test_ddp_with_two_processes(tmp_path, synthetic_corpus, tiny_bert):
    config = experiment(synthetic_corpus, tiny_bert, tmp_path / "cache")
    ddp = dataclasses_replace_training(config, "audio", strategy="ddp_spawn", devices=2, accelerator="cpu", max_epochs=3)
    result = run_experiment(ddp, tmp_path / "run", progress=False, systems=["audio"])
    assert len(result.metrics) == 2 and result.metrics["UA"].notna().all()
    fold = tmp_path / "run" / "systems" / "audio" / "seed_0" / "session_1"
    assert json.loads((fold / "model.json").read_text())["epochs_trained"] == 3


def dataclasses_replace_training(config, system, **changes):
    import dataclasses

    spec = config.systems[system]
    training = dataclasses.replace(spec.training, **changes)
    return dataclasses.replace(config, systems={**config.systems, system: dataclasses.replace(spec, training=training)})


def test_dimensional_run(tmp_path, synthetic_corpus, tiny_bert):
    config = experiment(synthetic_corpus, tiny_bert, tmp_path / "cache",
                        task={"type": "dimensional", "loss": "ccc", "loss_weights": [0.7, 0.2, 0.1]})
    result = run_experiment(config, tmp_path / "run", progress=False)
    assert {"CCC_mean_mean", "CCC_valence_mean", "PCC_arousal_mean", "MSE_dominance_mean"} <= set(result.summary.columns)
    predictions = pd.read_csv(tmp_path / "run" / "results" / "predictions.csv")
    assert {"truth_valence", "pred_valence", "pred_dominance"} <= set(predictions.columns)


def test_leaking_protocol_is_refused(tmp_path, synthetic_corpus, tiny_bert):
    config = experiment(synthetic_corpus, tiny_bert, tmp_path / "cache", protocol={"name": "random_kfold", "folds": 2})
    with pytest.raises(LeakageError, match="not speaker-independent"):
        run_experiment(config, tmp_path / "run", progress=False, systems=["audio"])
    allowed = experiment(synthetic_corpus, tiny_bert, tmp_path / "cache", protocol={"name": "random_kfold", "folds": 2},
                         allow_speaker_overlap=True)
    result = run_experiment(allowed, tmp_path / "run2", progress=False, systems=["audio"])
    assert len(result.metrics) == 2


def test_missing_text_names_the_utterance(tmp_path, synthetic_corpus, tiny_bert):
    frame = pd.read_csv(synthetic_corpus)
    frame.loc[3, "text"] = None
    frame.to_csv(synthetic_corpus, index=False)
    config = experiment(synthetic_corpus, tiny_bert, tmp_path / "cache")
    with pytest.raises(RunError, match=rf"{frame.loc[3, 'id']}.*no reference transcript"):
        run_experiment(config, tmp_path / "run", progress=False)
    # audio-only systems do not need text
    run_experiment(config, tmp_path / "run", progress=False, systems=["audio"])
    skipping = experiment(synthetic_corpus, tiny_bert, tmp_path / "cache",
                          extraction={"cache_dir": str(tmp_path / "cache"), "on_error": "skip"})
    run_experiment(skipping, tmp_path / "run3", progress=False)
    skipped = pd.read_csv(tmp_path / "run3" / "skipped.csv")
    assert skipped["id"].tolist() == [frame.loc[3, "id"]]


def test_changed_config_needs_restart(tmp_path, synthetic_corpus, tiny_bert):
    config = experiment(synthetic_corpus, tiny_bert, tmp_path / "cache", seeds=[0])
    run_experiment(config, tmp_path / "run", progress=False, systems=["audio"])
    changed = experiment(synthetic_corpus, tiny_bert, tmp_path / "cache", seeds=[1])
    with pytest.raises(RunError, match="different config"):
        run_experiment(changed, tmp_path / "run", progress=False)
    run_experiment(changed, tmp_path / "run", progress=False, restart=True, systems=["audio"])


def test_variants():
    data = {"name": "x", "data": {"manifest": "m.csv"},
            "systems": {"a": {"inputs": ["text"], "model": {"name": "mlp"}}},
            "variants": {"small": ["systems.a.model.hidden_sizes=[4]", "seeds=[1, 2]"]}}
    from emofuse.config import ConfigError

    assert load_experiment(data).seeds == (0,)
    small = load_experiment(data, variant="small", overrides=["seeds=[3]"])
    assert small.systems["a"].model.config.hidden_sizes == (4,) and small.seeds == (3,)
    with pytest.raises(ConfigError, match="unknown variant 'big'; this experiment defines: small"):
        load_experiment(data, variant="big")


def test_config_errors(synthetic_corpus, tiny_bert, tmp_path):
    from emofuse.config import ConfigError

    with pytest.raises(ConfigError, match="systems.audio.model.hiden: unknown key"):
        load_experiment({"name": "x", "data": {"manifest": "m.csv"},
                         "systems": {"audio": {"inputs": ["waveform"], "model": {"name": "mlp", "hiden": 3}}}})
    with pytest.raises(ConfigError, match="input 'nope' is neither a feature stream"):
        load_experiment({"name": "x", "data": {"manifest": "m.csv"},
                         "systems": {"audio": {"inputs": ["nope"], "model": {"name": "mlp"}}}})
    with pytest.raises(ConfigError, match="member 'ghost' is not a system"):
        load_experiment({"name": "x", "data": {"manifest": "m.csv"}, "systems": {
            "a": {"inputs": ["text"], "model": "mlp"}, "f": {"members": ["a", "ghost"], "fusion": "late"}}})
