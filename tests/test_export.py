"""Exporting trained runs as recogniser directories, and loading them back."""

import json
import shutil

import numpy as np
import pytest
from conftest import write_synthetic_corpus
from typer.testing import CliRunner

from emofuse.cli import app
from emofuse.config import Component
from emofuse.data.manifest import Manifest
from emofuse.experiment import load_experiment
from emofuse.fusion import LateFusionConfig
from emofuse.inference import Recognizer
from emofuse.inference import RecognizerError
from emofuse.inference import export_run
from emofuse.inference.export import build_from_run
from emofuse.inference.export import fuse_recognizers
from emofuse.rundir import RunDirectory

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _config(manifest, tiny_bert, cache, **changes):
    config = {
        "name": "tiny",
        "data": {"manifest": str(manifest)},
        "protocol": {"name": "leave_one_session_out", "dev_fraction": 0.25},
        "seeds": [0],
        "features": {
            "logmel": {"name": "logmel_stats", "n_mels": 24},
            "words": {"name": "text_embedding", "model": str(tiny_bert)},
        },
        "extraction": {"cache_dir": str(cache)},
        "systems": {
            "audio": {"inputs": ["logmel"], "model": {"name": "mlp", "hidden_sizes": [16]},
                      "training": {"max_epochs": 4, "batch_size": 8, "learning_rate": 0.01}},
            "text": {"inputs": ["words"], "model": {"name": "mlp", "hidden_sizes": []},
                     "training": {"max_epochs": 4, "batch_size": 8, "learning_rate": 0.05}},
            "logreg": {"inputs": ["logmel", "words"], "model": {"name": "logistic_regression", "c_grid": [0.1, 1.0]}},
            "svm": {"inputs": ["logmel"], "model": {"name": "svm", "c_grid": [1.0]}},
            "per_speaker": {"inputs": ["logmel"], "model": {"name": "logistic_regression", "c_grid": [1.0]},
                            "normalization": "speaker"},
            "fused": {"members": ["audio", "text"], "fusion": {"name": "late", "method": "weighted", "grid_step": 0.1}},
        },
    }
    config.update(changes)
    return load_experiment(config)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_bert):
    from emofuse.training import run_experiment

    root = tmp_path_factory.mktemp("export")
    manifest = write_synthetic_corpus(root / "corpus")
    run_experiment(_config(manifest, tiny_bert, root / "cache"), root / "run", progress=False)
    return root / "run"


@pytest.fixture(scope="module")
def dimensional_run(tmp_path_factory, tiny_bert):
    from emofuse.training import run_experiment

    root = tmp_path_factory.mktemp("export_dimensional")
    manifest = write_synthetic_corpus(root / "corpus")
    config = _config(manifest, tiny_bert, root / "cache", task={"type": "dimensional"},
                     systems={"svr": {"inputs": ["logmel"], "model": {"name": "svm", "c_grid": [1.0]}}})
    run_experiment(config, root / "run", progress=False)
    return root / "run"


def _test_rows(run, system, fold):
    return RunDirectory(run).fold(system, 0, fold).predictions().select("test").to_frame()


def test_default_export_is_the_fused_system_of_the_best_dev_fold(tiny_run, tmp_path):
    recognizer = Recognizer.from_pretrained(export_run(tiny_run, tmp_path / "default"))
    provenance = recognizer.config.provenance
    assert provenance["system"] == "fused" and provenance["seed"] == 0
    dev = {f: json.loads((tiny_run / "systems" / "fused" / "seed_0" / f / "metrics.json").read_text())["dev"]["UA"]
           for f in ("session_1", "session_2")}
    best = max(dev.values())
    assert dev[provenance["fold"]] == best and provenance["fold"] == min(f for f, v in dev.items() if v == best)
    assert "best dev UA" in provenance["selection"]
    assert recognizer.config.metrics["fold_dev"]["UA"] == best
    assert set(recognizer.config.metrics["protocol_summary"]) >= {"UA_mean", "UA_std", "runs"}
    assert "trained_on" in provenance and "fold" in provenance["trained_on"]  # says it is one fold's model
    # it reads text, so the default ASR is pocketsphinx
    assert recognizer.config.asr == "pocketsphinx" and recognizer.transcriber is not None
    fused = recognizer.systems["fused"]
    saved = RunDirectory(tiny_run).fold("fused", 0, provenance["fold"]).load_system()
    np.testing.assert_array_equal(fused.state_dict()["weights"], saved.state_dict()["weights"])
    assert fused.spec.members == ("audio", "text")


def test_refit_trains_on_all_labelled_data_with_what_cross_validation_chose(tiny_run, tmp_path):
    import statistics

    from emofuse.audio.io import read_utterance
    from emofuse.features import build_extractor

    run = RunDirectory(tiny_run)
    folds = run.fold_names()
    best_epochs = [run.fold("audio", 0, f).metrics()["fitted"]["best_epoch"] for f in folds]
    fold_weights = [run.fold("fused", 0, f).load_system().state_dict()["weights"] for f in folds]
    recognizer = Recognizer.from_pretrained(export_run(tiny_run, tmp_path / "refit", refit=True), asr="none")
    provenance = recognizer.config.provenance
    manifest = run.manifest()
    assert provenance["model"] == "refit" and "fold" not in provenance
    assert f"all {len(manifest)} labelled utterances" in provenance["trained_on"]
    assert set(provenance["chosen"]) == {"audio", "text", "fused"}
    assert "fold_test" not in recognizer.config.metrics  # nothing held out: only the protocol's estimate
    # epochs: the median of the folds' best dev epochs, and the last epoch kept
    audio = run.refit("audio", 0).metrics()
    assert audio["fitted"]["epochs_trained"] == max(1, int(statistics.median(best_epochs) + 0.5))
    assert audio["trained_on"] == len(manifest)
    # the standardiser saw every utterance: its mean is the mean over the whole corpus
    extractor = build_extractor(run.config().features["logmel"])
    features = np.stack([extractor.extract(read_utterance(u), 16000) for u in manifest])
    mean = next(v for k, v in recognizer.systems["audio"].state_dict().items() if k.endswith("standardizers.0.mean"))
    np.testing.assert_allclose(mean, features.mean(axis=0), rtol=1e-4, atol=1e-5)
    # fusion weights: the average of the folds'
    np.testing.assert_allclose(recognizer.systems["fused"].state_dict()["weights"], np.mean(fold_weights, axis=0))
    # C of the logistic regression: the value chosen in most folds, fitted once on everything
    chosen_c = [run.fold("logreg", 0, f).metrics()["fitted"]["C"] for f in folds]
    export_run(tiny_run, tmp_path / "logreg", system="logreg", refit=True)
    refitted = run.refit("logreg", 0).load_system()
    assert len(refitted.model.config.c_grid) == 1 and refitted.model.config.c_grid[0] in chosen_c
    # a finished refit is reused, and --restart-style deletion removes it with the run's files
    again = Recognizer.from_pretrained(export_run(tiny_run, tmp_path / "again", refit=True), asr="none")
    for key, value in recognizer.systems["audio"].state_dict().items():
        np.testing.assert_array_equal(again.systems["audio"].state_dict()[key], value)
    with pytest.raises(RecognizerError, match="fold or refit"):
        export_run(tiny_run, tmp_path / "both", refit=True, fold="session_1")


def test_refit_needs_every_fold_finished(tiny_run, tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(tiny_run, partial)
    done = partial / "systems" / "audio" / "seed_0" / "session_2" / "done.json"
    done.unlink()
    with pytest.raises(RecognizerError, match=r"folds \['session_2'\] have not finished"):
        export_run(partial, tmp_path / "out", system="audio", refit=True)


def test_artifact_is_self_describing_portable_and_pickle_free(tiny_run, tmp_path):
    directory = export_run(tiny_run, tmp_path / "model", system="fused", fold="session_2", asr="none")
    files = sorted(p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file())
    assert "config.json" in files and {f"systems/{s}/{n}" for s in ("audio", "text", "fused")
                                       for n in ("system.json", "model.safetensors")} <= set(files)
    assert any(f.startswith("encoders/words/") for f in files)  # the local encoder travels with the model
    assert not [f for f in files if f.endswith((".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin"))]
    config = json.loads((directory / "config.json").read_text())
    assert config["format"] == "emofuse-recognizer" and config["format_version"] == 2
    assert config["systems"] == ["audio", "text", "fused"]
    text = json.loads((directory / "systems" / "text" / "system.json").read_text())
    audio = json.loads((directory / "systems" / "audio" / "system.json").read_text())
    assert audio["features"]["logmel"]["n_mels"] == 24 and text["features"]["words"]["model"] == "encoders/words"
    assert config["label_names"] == {"neu": "neutral", "hap": "happy", "sad": "sad", "ang": "angry"}
    assert {"emofuse", "torch", "librosa", "transformers"} <= set(config["versions"])
    # the exported weights are the run's, byte for byte
    run_weights = RunDirectory(tiny_run).fold("audio", 0, "session_2").path / "model.safetensors"
    assert (directory / "systems" / "audio" / "model.safetensors").read_bytes() == run_weights.read_bytes()
    # moved elsewhere, and saved again, it predicts the same
    moved = tmp_path / "moved"
    shutil.copytree(directory, moved)
    shutil.rmtree(directory)
    first = Recognizer.from_pretrained(moved, speech_check=False)  # tones, not speech
    second = Recognizer.from_pretrained(first.save_pretrained(tmp_path / "again"), speech_check=False)
    clip = Manifest.load(tiny_run / "manifest.csv")[0]
    a, b = first(clip.audio, text=clip.text), second(clip.audio, text=clip.text)
    assert a.posteriors == pytest.approx(b.posteriors) and a.systems == ("audio", "text")
    assert json.loads((tmp_path / "again" / "config.json").read_text())["systems"] == config["systems"]


def test_fuse_recognizers_matches_the_runs_fusion(tiny_run, tmp_path):
    fused = build_from_run(tiny_run, system="fused", fold="session_1", asr="none")
    audio = build_from_run(tiny_run, system="audio", fold="session_1", asr="none")
    text = build_from_run(tiny_run, system="text", fold="session_1", asr="none")
    state = fused.systems["fused"].state_dict()
    combined = fuse_recognizers({"audio": audio, "text": text}, Component("late", LateFusionConfig(method="weighted", grid_step=0.1)),
                                state, name="combined", asr="none")
    clip = Manifest.load(tiny_run / "manifest.csv")[5]
    assert combined(clip.audio, text=clip.text).posteriors == pytest.approx(fused(clip.audio, text=clip.text).posteriors)
    with pytest.raises(RecognizerError, match="at least two"):
        fuse_recognizers({"audio": audio}, Component("late", LateFusionConfig()), {}, name="x")


def test_dimensional_export_gives_valence_arousal_dominance(dimensional_run, tmp_path):
    recognizer = Recognizer.from_pretrained(export_run(dimensional_run, tmp_path / "dims"), speech_check=False)
    assert recognizer.classes == () and recognizer.targets == ("valence", "arousal", "dominance")
    assert "best dev CCC_mean" in recognizer.config.provenance["selection"]
    rows = _test_rows(dimensional_run, "svr", recognizer.config.provenance["fold"])
    manifest = Manifest.load(dimensional_run / "manifest.csv")
    prediction = recognizer(manifest[rows["id"].iloc[0]].audio)
    assert prediction.emotion is None and prediction.posteriors == {}
    assert [prediction.valence, prediction.arousal, prediction.dominance] == pytest.approx(
        rows[["pred_valence", "pred_arousal", "pred_dominance"]].iloc[0].tolist(), abs=1e-5)


def test_export_errors_name_the_problem(tiny_run, tmp_path):
    svm = Recognizer.from_pretrained(export_run(tiny_run, tmp_path / "svm", system="svm"))  # calibrated SVMs export too
    assert type(svm.systems["svm"]).__name__ == "ClassicSystem"
    with pytest.raises(RecognizerError, match="each speaker with that speaker's own statistics"):
        export_run(tiny_run, tmp_path / "speaker", system="per_speaker")
    with pytest.raises(RecognizerError, match="unknown system 'nope'"):
        export_run(tiny_run, tmp_path / "x", system="nope")
    with pytest.raises(RecognizerError, match="no finished fold 'session_9'"):
        export_run(tiny_run, tmp_path / "x", system="audio", fold="session_9")
    with pytest.raises(RecognizerError, match="not an emofuse run directory"):
        export_run(tmp_path, tmp_path / "x")


def test_cli_export(tiny_run, tmp_path):
    result = CliRunner().invoke(app, ["export", str(tiny_run), "-o", str(tmp_path / "cli"), "--system", "logreg", "--asr", "none"])
    assert result.exit_code == 0, result.output
    assert "exported logreg (seed 0, session_" in result.output
    assert type(Recognizer.from_pretrained(tmp_path / "cli").systems["logreg"]).__name__ == "ClassicSystem"
    bad = CliRunner().invoke(app, ["export", str(tmp_path), "-o", str(tmp_path / "bad")])
    assert bad.exit_code == 2 and "not an emofuse run directory" in bad.output


def test_cli_predict_with_a_text_only_model_names_the_files_without_text(tiny_run, tmp_path):
    model = export_run(tiny_run, tmp_path / "text_model", system="text", asr="none")
    manifest = Manifest.load(tiny_run / "manifest.csv")
    clips = tmp_path / "clips"
    clips.mkdir()
    for utterance in list(manifest)[:2]:
        shutil.copy(utterance.audio, clips / f"{utterance.id}.wav")
    first = list(manifest)[0]
    (tmp_path / "t.csv").write_text(f"file,text\n{first.id}.wav,{first.text}\n")
    result = CliRunner().invoke(app, ["predict", str(clips), "--model", str(model), "--transcripts", str(tmp_path / "t.csv")])
    assert result.exit_code == 1, result.output
    records = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert records[0]["file"] == f"{first.id}.wav" and records[0]["emotion"] in {"neu", "hap", "sad", "ang"}
    assert "needs text" in records[1]["error"]
