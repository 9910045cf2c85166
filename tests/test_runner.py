"""End-to-end runs on the tiny synthetic corpus (a handful: the parts are unit-tested elsewhere)."""

import json

import numpy as np
import pandas as pd
import pytest

from emofuse.data.validation import LeakageError
from emofuse.experiment import load_experiment
from emofuse.rundir import RunDirectory
from emofuse.training import RunError
from emofuse.training import Runner
from emofuse.training import run_experiment


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
    run = RunDirectory(tmp_path / "run")
    assert run.task() == ("categorical", ("neu", "hap", "sad", "ang"))
    assert "| fused |" in (run.results / "summary.md").read_text()
    predictions = pd.read_csv(run.results / "predictions.csv")
    assert set(predictions["system"]) == {"audio", "text", "fused"}
    assert {"p_neu", "p_hap", "p_sad", "p_ang"} <= set(predictions.columns)
    fold = run.fold("audio", 0, "session_1")
    assert (fold.path / "model.safetensors").exists() and not fold.checkpoints.exists()
    assert fold.load_system().outputs == ("neu", "hap", "sad", "ang")
    history = pd.read_csv(fold.history_path)  # the learning curve, as CSV and PNG
    assert list(history["epoch"]) == list(range(1, len(history) + 1)) and history["train_loss"].notna().all()
    assert fold.learning_curve_path.stat().st_size > 1000
    weights = run.fold("fused", 0, "session_1").load_system().state_dict()["weights"]
    assert abs(weights.sum() - 1) < 1e-9
    assert json.loads((run.path / "validation.json").read_text())["speaker_independent"] is True
    per_fold = fold.predictions()
    assert set(per_fold.split) == {"dev", "test"} and not set(per_fold.select("dev").ids) & set(per_fold.select("test").ids)


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


KILLED_RUN = """
import os, signal, sys
sys.path.insert(0, {tests!r})
from test_runner import experiment
from emofuse.training.lightning import EmotionModule
from emofuse.training import run_experiment

original = EmotionModule.on_train_epoch_end


def kill_after_epoch_four(self):
    original(self)
    if self.current_epoch == 4 and "session_1" in str(self.trainer.default_root_dir):
        os.kill(os.getpid(), signal.SIGKILL)  # no clean-up at all, as a crash or an out-of-memory kill


EmotionModule.on_train_epoch_end = kill_after_epoch_four
run_experiment(experiment({manifest!r}, {bert!r}, {cache!r}), {run!r}, progress=False, systems=["audio"])
"""


def test_a_fold_killed_mid_training_resumes_to_the_same_result(tmp_path, synthetic_corpus, tiny_bert):
    import pathlib
    import subprocess
    import sys

    config = experiment(synthetic_corpus, tiny_bert, tmp_path / "cache")
    run_experiment(config, tmp_path / "uninterrupted", progress=False, systems=["audio"])
    script = tmp_path / "killed.py"
    script.write_text(KILLED_RUN.format(tests=str(pathlib.Path(__file__).parent), manifest=str(synthetic_corpus),
                                        bert=str(tiny_bert), cache=str(tmp_path / "cache"), run=str(tmp_path / "run")))
    process = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert process.returncode == -9, process.stderr[-2000:]  # killed by SIGKILL
    fold = RunDirectory(tmp_path / "run").fold("audio", 0, "session_1")
    assert (fold.checkpoints / "last.ckpt").exists() and not fold.done
    run_experiment(config, tmp_path / "run", progress=False, systems=["audio"])
    first, second = (pd.read_csv(fold.path / "logs" / f"version_{n}" / "metrics.csv") for n in (0, 1))
    reference = RunDirectory(tmp_path / "uninterrupted").fold("audio", 0, "session_1")
    whole = pd.read_csv(reference.path / "logs" / "version_0" / "metrics.csv")
    assert sorted(set(first["epoch"].dropna().astype(int))) == [0, 1, 2, 3, 4]
    # the second attempt starts from the checkpoint of epoch 4 and stops where the uninterrupted run stopped
    assert sorted(set(second["epoch"].dropna().astype(int))) == list(range(4, int(whole["epoch"].max()) + 1))
    for name in ("predictions.csv", "model.safetensors"):  # bit for bit
        assert (fold.path / name).read_bytes() == (reference.path / name).read_bytes(), name
    assert fold.metrics()["fitted"] == reference.metrics()["fitted"]


def test_classic_models_with_speaker_normalization(tmp_path, synthetic_corpus, tiny_bert):
    config = experiment(synthetic_corpus, tiny_bert, tmp_path / "cache", systems={
        "svm": {"inputs": ["logmel"], "model": {"name": "svm", "kernel": "linear", "c_grid": [0.01, 1.0]}},
        "logreg": {"inputs": ["logmel", "words"], "model": {"name": "logistic_regression"}, "normalization": "speaker"},
        "fused": {"members": ["svm", "logreg"], "fusion": {"name": "late", "method": "znorm"}},
    })
    result = run_experiment(config, tmp_path / "run", progress=False)
    assert set(result.summary["system"]) == {"svm", "logreg", "fused"}
    run = RunDirectory(tmp_path / "run")
    assert run.fold("svm", 0, "session_1").metrics()["fitted"]["C"] in (0.01, 1.0)
    logreg = run.fold("logreg", 0, "session_1").load_system()
    assert logreg.spec.normalization == "speaker" and logreg.state_dict()["coef"].shape == (4, 40 * 4 + 32)


def test_classification_block_over_frozen_members(tmp_path, synthetic_corpus, tiny_bert):
    import torch

    config = experiment(synthetic_corpus, tiny_bert, tmp_path / "cache", systems={
        "audio": {"inputs": ["logmel"], "model": {"name": "mlp", "hidden_sizes": [16]}, "training": {"max_epochs": 5}},
        "text": {"inputs": ["words"], "model": {"name": "mlp", "hidden_sizes": [8]}, "training": {"max_epochs": 5}},
        "block": {"members": ["audio", "text"], "model": {"name": "classification_block", "hidden_sizes": [8]},
                  "training": {"max_epochs": 3, "selection": "last"}},
        "block_unfrozen": {"members": ["audio", "text"],
                           "model": {"name": "classification_block", "hidden_sizes": [8], "unfreeze_after": 1},
                           "training": {"max_epochs": 3, "selection": "last"}},
    })
    run_experiment(config, tmp_path / "run", progress=False)
    run = RunDirectory(tmp_path / "run")
    audio = run.fold("audio", 0, "session_1").load_system().module
    block = run.fold("block", 0, "session_1").load_system()
    unfrozen = run.fold("block_unfrozen", 0, "session_1").load_system().module
    assert [m.model.name for m in block.spec.member_specs] == ["mlp", "mlp"]
    # frozen members keep the weights of the trained audio system; unfrozen ones moved
    for key, value in audio.state_dict().items():
        assert torch.equal(block.module.model.members[0].state_dict()[key], value)
    assert any(not torch.equal(unfrozen.model.members[0].state_dict()[k], v) for k, v in audio.state_dict().items())


def test_cross_corpus_evaluation_and_simulated_asr(tmp_path, synthetic_corpus, tiny_bert):
    from conftest import write_synthetic_corpus

    other = write_synthetic_corpus(tmp_path / "other", speakers=2, per_class=2, prefix="other_")
    config = experiment(synthetic_corpus, tiny_bert, tmp_path / "cache", evaluate_on={
        "other": {"manifest": str(other)},
        "noisy": {"manifest": str(synthetic_corpus), "transcript": "simulated", "simulated_wer": 0.3}})
    result = run_experiment(config, tmp_path / "run", progress=False)
    run = RunDirectory(tmp_path / "run")
    fold = run.fold("fused", 0, "session_1")
    cross = fold.predictions("other")
    assert len(cross) == 16 and set(cross.split) == {"test"}
    assert len(run.manifest("other")) == 16 and "other" in fold.metrics()["cross"]
    noisy = run.fold("text", 0, "session_1").predictions("noisy")
    test = run.fold("text", 0, "session_1").predictions().select("test")
    assert sorted(noisy.ids) == sorted(test.ids)  # the same corpus: only the fold's test utterances
    table = pd.read_csv(run.results / "cross_metrics.csv")
    assert set(table["system"]) == {"audio", "text", "fused"} and set(table["evaluated_on"]) == {"other", "noisy"}
    assert "## Evaluated on other" in (run.results / "summary.md").read_text()
    assert len(result.metrics) == 6


def test_parallel_jobs_match_serial(tmp_path, synthetic_corpus, tiny_bert):
    config = experiment(synthetic_corpus, tiny_bert, tmp_path / "cache")
    serial = run_experiment(config, tmp_path / "serial", progress=False)
    parallel = run_experiment(config, tmp_path / "parallel", progress=False, jobs=2)
    merged = serial.metrics.merge(parallel.metrics, on=["system", "seed", "fold"], suffixes=("_s", "_p"))
    assert len(merged) == 6
    assert (merged["UA_s"] - merged["UA_p"]).abs().max() < 1e-9


def test_parallel_workers_read_only_the_inputs_of_the_chosen_systems(tmp_path, synthetic_corpus, tiny_bert):
    # the text system's language model does not exist: a worker that read every input of the
    # config (not only the audio system's) would fail loading it
    config = experiment(synthetic_corpus, tmp_path / "no_such_model", tmp_path / "cache")
    result = run_experiment(config, tmp_path / "run", progress=False, systems=["audio"], jobs=2)
    assert set(result.metrics["system"]) == {"audio"} and len(result.metrics) == 2
    assert result.metrics["UA"].notna().all()


def test_ddp_with_two_processes(tmp_path, synthetic_corpus, tiny_bert):
    config = experiment(synthetic_corpus, tiny_bert, tmp_path / "cache")
    ddp = dataclasses_replace_training(config, "audio", strategy="ddp_spawn", devices=2, accelerator="cpu", max_epochs=3)
    # one fold: each fold spawns its two processes afresh
    result = run_experiment(ddp, tmp_path / "run", progress=False, systems=["audio"], folds=["session_1"])
    assert len(result.metrics) == 1 and result.metrics["UA"].notna().all()
    assert RunDirectory(tmp_path / "run").fold("audio", 0, "session_1").metrics()["fitted"]["epochs_trained"] == 3


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
    assert result.summary.set_index("system").loc["audio", "CCC_mean_mean"] > 0.3


def test_leaking_protocol_is_refused_before_training(tmp_path, synthetic_corpus, tiny_bert):
    config = experiment(synthetic_corpus, tiny_bert, tmp_path / "cache", protocol={"name": "random_kfold", "folds": 2})
    with pytest.raises(LeakageError, match="not speaker-independent"):
        Runner(config, tmp_path / "run", progress=False).prepare()
    allowed = experiment(synthetic_corpus, tiny_bert, tmp_path / "cache", protocol={"name": "random_kfold", "folds": 2},
                         allow_speaker_overlap=True)
    _, _, _, folds = Runner(allowed, tmp_path / "run2", progress=False).prepare()
    assert len(folds) == 2


def test_unknown_systems_and_bad_jobs_are_refused(tmp_path, synthetic_corpus, tiny_bert):
    config = experiment(synthetic_corpus, tiny_bert, tmp_path / "cache")
    with pytest.raises(RunError, match=r"unknown systems \['ghost'\]"):
        Runner(config, tmp_path / "run", systems=["ghost"])
    with pytest.raises(RunError, match="jobs must be at least 1"):
        Runner(config, tmp_path / "run", jobs=0)
    assert Runner(config, tmp_path / "run", systems=["fused"]).systems == ["audio", "text", "fused"]
    assert np.array_equal(Runner(config, tmp_path / "run", systems=["text"]).systems, ["text"])


def test_a_signal_stops_the_run_cleanly_with_a_resume_hint(tmp_path, synthetic_corpus, tiny_bert):
    """Ctrl-C (SIGINT, exit 130) and a scheduler's SIGTERM (exit 143), each to its own run; the two
    runs go side by side to share their start-up time."""
    import signal
    import subprocess
    import sys
    import time

    import yaml

    config = {"name": "signals", "data": {"manifest": str(synthetic_corpus)},
              "protocol": {"name": "leave_one_session_out", "dev_fraction": 0.25},
              "features": {"logmel": {"name": "logmel_stats", "n_mels": 16}}, "extraction": {"cache_dir": str(tmp_path / "cache")},
              "systems": {"audio": {"inputs": ["logmel"], "model": {"name": "mlp", "hidden_sizes": [8]},
                                    # no early stopping: the first fold must still be training when the signal comes
                                    "training": {"max_epochs": 5000, "batch_size": 8, "early_stopping_patience": None}}}}
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    # features first, so that the two runs do not write the same cache entries at once
    Runner(load_experiment(tmp_path / "config.yaml"), tmp_path / "prepare", progress=False).prepare()
    signals = {"SIGINT": 130, "SIGTERM": 143}
    processes = {name: subprocess.Popen([sys.executable, "-m", "emofuse", "run", str(tmp_path / "config.yaml"), "-o",
                                         str(tmp_path / name), "--no-progress"],
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for name in signals}
    try:
        deadline = time.monotonic() + 120
        waiting = dict(processes)
        while waiting:
            for name, process in list(waiting.items()):
                checkpoint = tmp_path / name / "systems" / "audio" / "seed_0" / "session_1" / "checkpoints" / "last.ckpt"
                if checkpoint.exists():
                    process.send_signal(getattr(signal, name))
                    del waiting[name]
                elif process.poll() is not None:
                    pytest.fail(f"the {name} run ended before its first checkpoint: {process.communicate()[1][-2000:]}")
                elif time.monotonic() > deadline:
                    pytest.fail(f"no checkpoint from the {name} run within 120 s")
            time.sleep(0.1)
        for name, process in processes.items():
            _, stderr = process.communicate(timeout=60)
            assert process.returncode == signals[name], stderr[-2000:]
            assert f"interrupted by {name}; re-run the same command to resume" in stderr
            fold = RunDirectory(tmp_path / name).fold("audio", 0, "session_1")
            assert not fold.done and (fold.checkpoints / "last.ckpt").exists()  # resumable, nothing half-written
    finally:
        for process in processes.values():  # a failed check leaves no run training 5000 epochs behind
            if process.poll() is None:
                process.kill()
                process.wait()


@pytest.mark.parametrize(("clip", "hint"), [(1.0, r" \(gradients are already clipped at norm 1\)"),
                                           (None, r" or set training.gradient_clip")])
def test_a_diverging_fold_stops_with_a_message_instead_of_nan_scores(tmp_path, synthetic_corpus, tiny_bert, clip, hint):
    systems = {"audio": {"inputs": ["logmel"], "model": {"name": "mlp", "hidden_sizes": [16]},
                         "training": {"max_epochs": 3, "batch_size": 8, "optimizer": "sgd", "learning_rate": 1.0e30,
                                      "gradient_clip": clip}}}
    config = experiment(synthetic_corpus, tiny_bert, tmp_path / "cache", systems=systems)
    # the rate of the step (in warm-up) and the configured one, and a hint that fits the config
    with pytest.raises(RunError, match=r"system 'audio', seed 0, session_1: training diverged: the loss is (nan|inf) "
                                       r"at epoch \d+, step \d+ \(learning rate [0-9.]+e\+(29|30) at this step, of "
                                       r"training.learning_rate 1e\+30 with the cosine schedule\); lower "
                                       rf"training.learning_rate{hint}$"):
        run_experiment(config, tmp_path / "run", progress=False)
    run = RunDirectory(tmp_path / "run")
    assert not list(run.finished())  # nothing written as finished, no NaN scores


def test_a_fold_whose_dev_outputs_are_not_finite_stops_too(tmp_path, synthetic_corpus, tiny_bert, monkeypatch):
    from emofuse.training.lightning import EmotionModule

    forward = EmotionModule.forward

    def not_finite_in_eval_from(epoch):  # a finite training loss, NaN outputs on the dev set from ``epoch`` on
        def patched(self, inputs):
            outputs = forward(self, inputs)
            return outputs if self.training or self.current_epoch + 1 < epoch else outputs * float("nan")
        return patched

    def config_of(selection):
        systems = {"audio": {"inputs": ["logmel"], "model": {"name": "mlp", "hidden_sizes": [16]},
                             "training": {"max_epochs": 3, "batch_size": 8, "selection": selection,
                                          "early_stopping_patience": None}}}
        return experiment(synthetic_corpus, tiny_bert, tmp_path / "cache", systems=systems)

    # with the last epoch kept, or no finite epoch to keep, the fold stops
    for selection, epoch in (("last", 3), ("best_dev", 1)):
        monkeypatch.setattr(EmotionModule, "forward", not_finite_in_eval_from(epoch))
        with pytest.raises(RunError, match=r"system 'audio', seed 0, session_1: training diverged: the dev outputs are "
                                           rf"not finite after epoch {epoch} \(training.learning_rate 0.001, precision "
                                           r"32-true\)"):
            run_experiment(config_of(selection), tmp_path / f"run_{selection}", progress=False)
        assert not list(RunDirectory(tmp_path / f"run_{selection}").finished())
    # selection on dev keeps the finite epochs before: the fold finishes with their scores
    monkeypatch.setattr(EmotionModule, "forward", not_finite_in_eval_from(3))
    run_experiment(config_of("best_dev"), tmp_path / "run_kept", progress=False)
    folds = list(RunDirectory(tmp_path / "run_kept").finished())
    assert folds and all(fold.metrics()["fitted"]["best_epoch"] in (1, 2) and np.isfinite(fold.metrics()["test"]["UA"])
                         for fold in folds)


def _mlp_fold(tiny_bert, tiny_wav2vec2):
    """A small MLP system, its task, and random 64-dim training (24) and dev (9) utterances of 3 classes."""
    from test_systems import _example_spec

    from emofuse.experiment import TaskConfig
    from emofuse.systems.base import SystemData
    from emofuse.systems.base import build_system
    from emofuse.tasks.build import build_task

    spec = _example_spec("mlp", {"tiny_text_model": tiny_bert, "tiny_ssl_model": tiny_wav2vec2})
    rng = np.random.default_rng(0)
    (name,) = [i.name for i in spec.inputs]

    def data(n, prefix):
        ids = tuple(f"{prefix}{k}" for k in range(n))
        return SystemData(ids, inputs={name: {i: rng.standard_normal(64).astype(np.float32) for i in ids}},
                          truth=np.arange(n) % 3)

    return build_system(spec), build_task(TaskConfig(), classes=spec.outputs), data(24, "t"), data(9, "d")


def test_last_checkpoint_holds_the_best_epoch_including_its_own_dev_score(tmp_path, tiny_bert, tiny_wav2vec2):
    """A fold resumed from last.ckpt must choose the same best epoch as an uninterrupted one: the
    checkpoint written after epoch 1 already counts epoch 1's dev score."""
    import dataclasses

    import torch

    from emofuse.experiment import TrainingConfig
    from emofuse.training.lightning import fit_neural

    system, task, train, dev = _mlp_fold(tiny_bert, tiny_wav2vec2)
    training = dataclasses.replace(TrainingConfig(), max_epochs=1, batch_size=8)
    fit_neural(system, train, dev, task=task, training=training, seed=0, directory=tmp_path)
    last = torch.load(tmp_path / "checkpoints" / "last.ckpt", weights_only=True)
    (state,) = [v for k, v in last["callbacks"].items() if k.startswith("ModelCheckpoint") and "dev_score" in k]
    assert state["best_model_score"] is not None
    assert state["best_model_path"].endswith("best.ckpt")


def test_a_fold_trains_in_bf16_mixed_precision_with_gradient_clipping(tmp_path, tiny_bert, tiny_wav2vec2):
    """``training.precision: bf16-mixed`` runs on a CPU with the default gradient clipping (Lightning
    refuses to clip a fused optimizer's gradients under mixed precision) and learns: the weights move
    and stay finite float32."""
    import dataclasses

    import torch

    from emofuse.experiment import TrainingConfig
    from emofuse.training.lightning import fit_neural

    system, task, train, dev = _mlp_fold(tiny_bert, tiny_wav2vec2)
    before = {k: v.clone() for k, v in system.module.state_dict().items()}
    training = dataclasses.replace(TrainingConfig(), max_epochs=2, batch_size=8, precision="bf16-mixed")
    assert training.gradient_clip is not None
    fit_neural(system, train, dev, task=task, training=training, seed=0, directory=tmp_path)
    after = system.module.state_dict()
    weights = [k for k, v in after.items() if v.is_floating_point() and "running" not in k]
    assert all(after[k].dtype == torch.float32 and bool(torch.isfinite(after[k]).all()) for k in weights)
    assert any(not torch.equal(after[k], before[k]) for k in weights)


def test_length_buckets_are_shared_between_processes(monkeypatch):
    from emofuse.training import data

    lengths = list(range(5, 55))
    whole = list(data.BucketBatchSampler(lengths, batch_size=4, seed=3))
    shares = []
    for rank in range(2):
        monkeypatch.setattr(data, "process_group", lambda rank=rank: (rank, 2))
        sampler = data.BucketBatchSampler(lengths, batch_size=4, seed=3)
        shares.append(list(sampler))
        assert len(shares[-1]) == len(sampler) == 7  # 13 batches padded to 14, 7 each
    drawn = sorted(tuple(b) for share in shares for b in share)
    assert sorted(set(drawn)) == sorted(tuple(b) for b in whole)  # every batch taken, one padded twice
    assert len(drawn) == 14


def test_length_buckets_measure_texts_waveforms_and_frames():
    import numpy as np

    from emofuse.training.data import UtteranceDataset

    texts = {"a": "short", "b": "a much longer sentence"}
    frames = {"a": np.zeros((7, 3)), "b": np.zeros((2, 3))}
    waves = {"a": np.zeros(16000), "b": np.zeros(800)}
    assert [UtteranceDataset(["a", "b"], [texts], None).length(i) for i in range(2)] == [5, 22]
    assert [UtteranceDataset(["a", "b"], [frames], None).length(i) for i in range(2)] == [7, 2]
    assert [UtteranceDataset(["a", "b"], [waves], None).length(i) for i in range(2)] == [16000, 800]


def test_length_buckets_are_off_by_default_for_batch_norm_models():
    """Batches of similar length are batches of similar emotion on acted speech; batch norm
    would normalise it away (CNN14 did not learn on EmoDB with buckets)."""
    import types

    import torch

    from emofuse.experiment import TrainingConfig
    from emofuse.training.lightning import uses_buckets

    batch_norm = types.SimpleNamespace(module=torch.nn.Sequential(torch.nn.Conv1d(3, 3, 1), torch.nn.BatchNorm1d(3)))
    recurrent = types.SimpleNamespace(module=torch.nn.LSTM(3, 3))
    assert not uses_buckets(batch_norm, TrainingConfig()) and uses_buckets(recurrent, TrainingConfig())
    assert uses_buckets(batch_norm, TrainingConfig(length_bucketing=True))
    assert not uses_buckets(recurrent, TrainingConfig(length_bucketing=False))


@pytest.mark.parametrize("metric", ["UA", "WA", "macro_F1"])
def test_model_selection_maximises_the_task_selection_metric(metric):
    """A classic model's C and a neural model's epoch are chosen on the task's selection metric."""
    import dataclasses

    from sklearn.metrics import accuracy_score
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.metrics import f1_score

    from emofuse.config import Component
    from emofuse.config import parse
    from emofuse.experiment import TaskConfig
    from emofuse.experiment import TrainingConfig
    from emofuse.models.configs import LogisticRegressionConfig
    from emofuse.models.configs import MLPConfig
    from emofuse.models.inputs import InputSpec
    from emofuse.pretrained import TextEmbeddingConfig
    from emofuse.systems.base import SystemData
    from emofuse.systems.base import SystemSpec
    from emofuse.systems.base import build_system
    from emofuse.tasks.build import build_task

    reference = {"UA": balanced_accuracy_score, "WA": accuracy_score,
                 "macro_F1": lambda t, p: f1_score(t, p, average="macro")}[metric]
    rng = np.random.default_rng(0)
    counts = [60, 25, 10]  # skewed classes: UA, WA and macro-F1 prefer different models

    def data(prefix):
        truth = np.repeat(np.arange(3), counts)
        ids = tuple(f"{prefix}{k}" for k in range(len(truth)))
        values = rng.standard_normal((len(truth), 8)).astype(np.float32) + 0.8 * np.eye(3, 8, dtype=np.float32)[truth]
        return SystemData(ids, inputs={"x": dict(zip(ids, values, strict=True))}, truth=truth)

    train, dev = data("t"), data("d")
    task = build_task(TaskConfig(selection_metric=metric), classes=("a", "b", "c"))

    def system(name, config):  # on a made-up front-end's vectors (never run: the inputs are given)
        return build_system(SystemSpec("categorical", task.outputs, inputs=(InputSpec("x", "text", "vector", 8),),
                                       model=Component(name, config),
                                       features={"x": Component("text_embedding", parse(TextEmbeddingConfig, {}))}))

    grid = (1e-4, 1e-2, 1.0)
    classic = system("logistic_regression", LogisticRegressionConfig(c_grid=grid))
    chosen = classic.fit(train, dev, task=task, training=TrainingConfig())
    on_dev = {}
    for c in grid:
        single = system("logistic_regression", LogisticRegressionConfig(c_grid=(c,)))
        single.fit(train, dev, task=task, training=TrainingConfig())
        on_dev[c] = reference(dev.truth, single.scores(dev).argmax(axis=1))
    assert chosen["dev_score"] == pytest.approx(max(on_dev.values()))
    neural = system("mlp", MLPConfig(hidden_sizes=()))
    training = dataclasses.replace(TrainingConfig(), max_epochs=3, batch_size=16)
    fitted = neural.fit(train, dev, task=task, training=training, seed=0)
    assert fitted["best_dev_score"] == pytest.approx(reference(dev.truth, neural.scores(dev).argmax(axis=1)))


def test_models_train_in_training_mode_and_are_scored_in_eval_mode():
    """Dropout is active in training steps and off when the dev set is scored: a built system is
    in eval mode, and Lightning (2.2 on) keeps the mode of the modules it is given."""
    import dataclasses

    from emofuse.config import Component
    from emofuse.config import parse
    from emofuse.experiment import TaskConfig
    from emofuse.experiment import TrainingConfig
    from emofuse.models.configs import MLPConfig
    from emofuse.models.inputs import InputSpec
    from emofuse.pretrained import TextEmbeddingConfig
    from emofuse.systems.base import SystemData
    from emofuse.systems.base import SystemSpec
    from emofuse.systems.base import build_system
    from emofuse.tasks.build import build_task

    rng = np.random.default_rng(0)

    def data(prefix, n):
        ids = tuple(f"{prefix}{k}" for k in range(n))
        return SystemData(ids, inputs={"x": {i: rng.standard_normal(8).astype(np.float32) for i in ids}},
                          truth=np.arange(n) % 3)

    system = build_system(SystemSpec("categorical", ("a", "b", "c"), inputs=(InputSpec("x", "text", "vector", 8),),
                                     model=Component("mlp", MLPConfig(hidden_sizes=(), dropout=0.5)),
                                     features={"x": Component("text_embedding", parse(TextEmbeddingConfig, {}))}))
    assert not system.module.training
    modes = []
    system.module.model.input_dropout.register_forward_pre_hook(lambda layer, _: modes.append(layer.training))
    task = build_task(TaskConfig(), classes=("a", "b", "c"))
    system.fit(data("t", 16), data("d", 6), task=task, training=dataclasses.replace(TrainingConfig(), max_epochs=1, batch_size=8))
    assert modes == [True, True, False]  # two training batches, then the dev set
    assert not system.module.training


def test_a_signal_is_not_swallowed_by_a_broad_except_in_library_code():
    """A signal that arrives inside someone's ``try: ... except Exception`` still stops the run
    (it once came inside ``inspect`` during Lightning's signature check and became a TypeError)."""
    import os
    import signal
    import time

    from emofuse.training.runner import RunInterrupted
    from emofuse.training.runner import stop_on_signals

    def library_code():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler runs here
        except Exception:  # noqa: BLE001 - what third-party code does
            return "swallowed"
        return "finished"

    with pytest.raises(RunInterrupted) as raised, stop_on_signals():
        library_code()
    assert raised.value.exit_code == 128 + signal.SIGTERM


def test_a_fit_releases_its_process_group(tmp_path):
    """A spawned worker that left its gloo group standing could abort at exit (SIGABRT seen in CI)."""
    import torch.distributed as dist

    from emofuse.training.lightning import ReleaseProcessGroup

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        ReleaseProcessGroup().teardown(None, None, "fit")
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_ema_decay_selects_and_saves_the_moving_average_of_the_weights(tmp_path, tiny_bert, tiny_wav2vec2, monkeypatch):
    import dataclasses

    import torch

    from emofuse.experiment import TrainingConfig
    from emofuse.training.lightning import EmotionModule
    from emofuse.training.lightning import fit_neural

    system, task, train, dev = _mlp_fold(tiny_bert, tiny_wav2vec2)
    steps = []
    original = EmotionModule.on_train_batch_end

    def record(self, *args):
        steps.append({k: v.detach().clone() for k, v in self.system.state_dict().items()})
        return original(self, *args)

    monkeypatch.setattr(EmotionModule, "on_train_batch_end", record)
    decay = 0.3  # the warm-up rate is lower for the first two updates only
    training = dataclasses.replace(TrainingConfig(), max_epochs=3, batch_size=8, selection="last", ema_decay=decay)
    fit_neural(system, train, dev, task=task, training=training, seed=0, directory=tmp_path / "ema")
    assert len(steps) == 9  # 3 epochs of 3 batches
    expected = dict(steps[0])
    for n, weights in enumerate(steps[1:], start=1):  # the decay warms up: min(decay, (1 + n) / (10 + n))
        rate = min(decay, (1 + n) / (10 + n))
        expected = {k: rate * expected[k] + (1 - rate) * v if v.is_floating_point() else v for k, v in weights.items()}
    fitted = system.module.state_dict()
    for key, value in expected.items():
        if value.is_floating_point():
            assert torch.allclose(fitted[key], value, atol=1e-6), key
    assert not all(torch.allclose(fitted[k], v) for k, v in steps[-1].items() if v.is_floating_point())
    with pytest.raises(ValueError, match="ema_decay"):
        TrainingConfig(ema_decay=1.0)


def test_training_loss_adds_the_weighted_auxiliary_losses_of_a_model():
    import warnings

    import torch

    from emofuse.experiment import TaskConfig
    from emofuse.experiment import TrainingConfig
    from emofuse.models.base import EmotionModel
    from emofuse.models.standardize import SystemModel
    from emofuse.tasks import build_task
    from emofuse.training.lightning import EmotionModule

    class TwoHeads(EmotionModel):
        embedding_size = 3

        def __init__(self):
            super().__init__()
            self.head, self.extra = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)

        def embed(self, inputs):
            return inputs[0][0]

        def training_outputs(self, inputs):
            return self(inputs), [(0.25, self.extra(self.embed(inputs)))]

    torch.manual_seed(0)
    model = TwoHeads()
    task = build_task(TaskConfig(type="categorical"), ["a", "b"])
    values, targets = torch.randn(8, 3), torch.tensor([0, 1] * 4)
    weights = torch.ones(2)
    expected = task.loss(model.head(values), targets, weights) + 0.25 * task.loss(model.extra(values), targets, weights)

    def step(mixup):
        module = EmotionModule(SystemModel(model, [None]), task, TrainingConfig(mixup=mixup), weights)
        torch.manual_seed(1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # self.log without a trainer
            return module.training_step(([(values, None)], targets), 0)

    assert torch.allclose(step(0.0), expected)
    # with mixup, the auxiliary output is trained on the same mixed inputs and targets
    torch.manual_seed(1)
    lam = float(torch.distributions.Beta(0.4, 0.4).sample())
    partner = torch.randperm(8)
    mixed = lam * values + (1 - lam) * values[partner]

    def mixed_loss(outputs):
        return lam * task.loss(outputs, targets, weights) + (1 - lam) * task.loss(outputs, targets[partner], weights)

    assert torch.allclose(step(0.4), mixed_loss(model.head(mixed)) + 0.25 * mixed_loss(model.extra(mixed)))
