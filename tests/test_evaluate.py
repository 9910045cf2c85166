"""``emofuse evaluate``: a run's fold models scored on other labelled data, as the run scores."""

import numpy as np
import pandas as pd
import pytest
from conftest import write_synthetic_corpus
from typer.testing import CliRunner

from emofuse.cli import app
from emofuse.experiment import load_experiment
from emofuse.rundir import RunDirectory
from emofuse.training import EvaluationError
from emofuse.training import evaluate_run
from emofuse.training import run_experiment


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, tiny_bert):
    root = tmp_path_factory.mktemp("evaluate")
    manifest = write_synthetic_corpus(root / "corpus")
    config = load_experiment({
        "name": "tiny", "data": {"manifest": str(manifest)},
        "protocol": {"name": "leave_one_session_out", "dev_fraction": 0.25},
        "features": {"logmel": {"name": "logmel_stats", "n_mels": 24}, "words": {"name": "text_embedding", "model": str(tiny_bert)}},
        "extraction": {"cache_dir": str(root / "cache")},
        "systems": {
            "audio": {"inputs": ["logmel"], "model": {"name": "mlp", "hidden_sizes": [16]}, "training": {"max_epochs": 4, "batch_size": 8}},
            "text": {"inputs": ["words"], "model": {"name": "mlp", "hidden_sizes": []}, "training": {"max_epochs": 4, "batch_size": 8}},
            "svm": {"inputs": ["logmel"], "model": {"name": "svm", "c_grid": [1.0]}, "normalization": "speaker"},
            "fused": {"members": ["audio", "text"], "fusion": {"name": "late", "method": "weighted", "grid_step": 0.1}},
        },
    })
    run_experiment(config, root / "run", progress=False)
    return root / "run", manifest


def test_evaluating_on_the_runs_own_data_repeats_its_test_predictions(tiny_run, tmp_path):
    run_dir, manifest = tiny_run
    result = evaluate_run(run_dir, manifest, output=tmp_path / "own", progress=False)
    assert list(result.summary["system"]) == ["audio", "text", "svm", "fused"] and (result.summary["runs"] == 2).all()
    evaluation, run = RunDirectory(tmp_path / "own"), RunDirectory(run_dir)
    for fold in run.finished():
        if fold.system == "svm":  # per-speaker standardisation: statistics of all of a speaker's utterances, as in the run
            continue
        own = fold.predictions().select("test")
        again = evaluation.fold(fold.system, fold.seed, fold.fold).predictions().subset(own.ids)
        np.testing.assert_allclose(again.scores, own.scores, atol=1e-6)
    assert "fold models evaluated on" in (tmp_path / "own" / "results" / "summary.md").read_text()


def test_evaluating_on_new_data_with_a_label_map_and_errors(tiny_run, tmp_path):
    run_dir, _ = tiny_run
    other = write_synthetic_corpus(tmp_path / "other", speakers=2, per_class=2, prefix="new_")
    frame = pd.read_csv(other)
    frame["emotion"] = frame["emotion"].map({"neu": "neutral", "hap": "happy", "sad": "sad", "ang": "angry"})
    frame["label"] = frame["emotion"]
    frame.to_csv(other, index=False)
    with pytest.raises(EvaluationError, match=r"labels \['angry', 'happy', 'neutral'\] are not among the run's classes"):
        evaluate_run(run_dir, other, systems=["text"], progress=False)
    mapped = tmp_path / "mapped.csv"
    frame.assign(label=frame["emotion"].map({"neutral": "neu", "happy": "hap", "sad": "sad", "angry": "ang"})).to_csv(mapped, index=False)
    result = evaluate_run(run_dir, mapped, systems=["fused"], progress=False)
    assert list(result.summary["system"]) == ["audio", "text", "fused"]  # a fusion brings its members
    assert result.directory == run_dir / "evaluations" / "mapped"
    with pytest.raises(EvaluationError, match="no such manifest"):
        evaluate_run(run_dir, tmp_path / "missing.csv", progress=False)
    with pytest.raises(EvaluationError, match="not an emofuse run"):
        evaluate_run(tmp_path, mapped, progress=False)


def test_cli_evaluate(tiny_run, tmp_path):
    run_dir, manifest = tiny_run
    result = CliRunner().invoke(app, ["evaluate", str(run_dir), str(manifest), "--system", "text", "-o", str(tmp_path / "cli"),
                                      "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "| text |" in result.output and (tmp_path / "cli" / "results" / "metrics.csv").exists()
    bad = CliRunner().invoke(app, ["evaluate", str(run_dir), str(tmp_path / "nope.csv")])
    assert bad.exit_code == 2 and "no such manifest" in bad.output
