"""The run directory: markers, config changes, typed reads, and deleting only emofuse's files."""

import json

import numpy as np
import pytest

from emofuse.experiment import load_experiment
from emofuse.predictions import Predictions
from emofuse.rundir import RunDirectory
from emofuse.rundir import RunDirectoryError


def config(seed=0, epochs=5, seeds=None):
    return load_experiment({"name": "x", "data": {"manifest": "m.csv"}, "seeds": seeds or [seed],
                            "systems": {"a": {"inputs": ["text"], "model": "mlp",
                                              "training": {"max_epochs": epochs}}}})


def test_a_run_is_marked_and_reads_back_typed(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.create(config())
    assert run.is_run and run.config().name == "x"
    run.set_task("categorical", ["neu", "ang"])
    predictions = Predictions("categorical", ("neu", "ang"), ("u1", "u2"), np.array([[0.9, 0.1], [0.3, 0.7]]),
                              truth=np.array([0, 0]), split=("dev", "test"))
    fold = run.fold("a", 0, "f1")
    fold.write_predictions(predictions)
    back = fold.predictions()
    assert back.ids == predictions.ids and back.split == predictions.split
    np.testing.assert_array_equal(back.truth, predictions.truth)
    np.testing.assert_allclose(back.scores, predictions.scores)
    fold.write_metrics({"test": back.select("test").evaluate()})
    fold.mark_done()
    assert [f.key for f in run.finished()] == [{"system": "a", "seed": 0, "fold": "f1"}]
    with pytest.raises(RunDirectoryError, match="predicts categorical"):
        run.set_task("categorical", ["neu", "hap"])


def test_a_changed_config_needs_restart(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.create(config(epochs=5))
    run.set_task("categorical", ["neu", "ang"])
    run.fold("a", 0, "f1").mark_done()
    with pytest.raises(RunDirectoryError, match="different config"):
        run.create(config(epochs=6))
    run.create(config(epochs=6), restart=True)
    assert not list(run.finished()) and run.config().systems["a"].training.max_epochs == 6


def test_a_system_nothing_was_trained_for_can_be_added_or_changed(tmp_path):
    def two(b_epochs, c_members=None):
        systems = {"a": {"inputs": ["text"], "model": "mlp", "training": {"max_epochs": 5}},
                   "b": {"inputs": ["text"], "model": "mlp", "training": {"max_epochs": b_epochs}}}
        if c_members:
            systems["c"] = {"members": c_members, "fusion": "late"}
        return load_experiment({"name": "x", "data": {"manifest": "m.csv"}, "systems": systems})

    run = RunDirectory(tmp_path / "run")
    run.create(config())
    run.set_task("categorical", ["neu", "ang"])
    run.fold("a", 0, "f1").mark_done()
    run.create(two(3))  # b added
    run.create(two(4))  # b changed before it ran
    assert run.config().systems["b"].training.max_epochs == 4 and [f.system for f in run.finished()] == ["a"]
    run.fold("b", 0, "f1").checkpoints.mkdir(parents=True)  # b interrupted: now it is part of the run
    with pytest.raises(RunDirectoryError, match="different config"):
        run.create(two(5))
    run.delete()
    run.create(two(4, c_members=["a", "b"]))
    run.set_task("categorical", ["neu", "ang"])
    run.fold("c", 0, "f1").mark_done()  # a fusion trained: its members may not change either
    with pytest.raises(RunDirectoryError, match="different config"):
        run.create(two(5, c_members=["a", "b"]))


def test_seeds_can_be_added_to_a_finished_run(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.create(config(seeds=[0]))
    run.set_task("categorical", ["neu", "ang"])
    run.fold("a", 0, "f1").mark_done()
    run.create(config(seeds=[0, 1, 2]))  # the same experiment with more seeds: seed 0 is kept
    assert [f.key for f in run.finished()] == [{"system": "a", "seed": 0, "fold": "f1"}]
    assert run.config().seeds == (0, 1, 2)


def test_a_run_written_before_a_config_key_existed_resumes_after_an_upgrade(tmp_path):
    import yaml

    run = RunDirectory(tmp_path / "run")
    run.create(config())
    run.set_task("categorical", ["neu", "ang"])
    run.fold("a", 0, "f1").mark_done()
    stored = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())
    del stored["systems"]["a"]["training"]["mixup"]  # as an emofuse without that key wrote it
    (tmp_path / "run" / "config.yaml").write_text(yaml.safe_dump(stored))
    run.create(config())  # the same experiment: resumes, keeps the finished fold
    assert [f.fold for f in run.finished()] == ["f1"]
    stored["systems"]["a"]["training"]["max_epochs"] = 3  # but a real change is still refused
    (tmp_path / "run" / "config.yaml").write_text(yaml.safe_dump(stored))
    with pytest.raises(RunDirectoryError, match="different config"):
        run.create(config())


def test_a_directory_that_is_not_a_run_is_never_written_or_deleted(tmp_path):
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "chapter1.tex").write_text("precious")
    run = RunDirectory(thesis)
    with pytest.raises(RunDirectoryError, match="is not an emofuse run"):
        run.create(config(), restart=True)
    with pytest.raises(RunDirectoryError, match="nothing is deleted"):
        run.delete()
    assert (thesis / "chapter1.tex").read_text() == "precious"


def test_restart_deletes_only_what_emofuse_wrote(tmp_path):
    run = RunDirectory(tmp_path / "run")
    run.create(config())
    run.set_task("categorical", ["neu", "ang"])
    fold = run.fold("a", 0, "f1")
    fold.write_metrics({"test": {}})
    fold.mark_done()
    (fold.path / "notes.txt").write_text("mine")
    (run.path / "analysis.ipynb").write_text("{}")
    outside = tmp_path / "elsewhere.txt"
    outside.write_text("keep")
    (run.path / "link.txt").symlink_to(outside)
    kept = run.delete()
    assert sorted(p.name for p in kept) == ["analysis.ipynb", "link.txt", "notes.txt"]
    assert not (run.path / "emofuse-run.json").exists() and not (fold.path / "metrics.json").exists()
    assert outside.read_text() == "keep" and (fold.path / "notes.txt").exists()


def test_files_get_the_users_permissions_and_do_not_follow_symlinks(tmp_path):
    import os

    from emofuse.files import atomic_write_text

    previous = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "out.json", json.dumps({"a": 1}))
        assert path.stat().st_mode & 0o777 == 0o644
        target = tmp_path / "target.txt"
        target.write_text("original")
        (tmp_path / "link.txt").symlink_to(target)
        atomic_write_text(tmp_path / "link.txt", "new")
        assert target.read_text() == "original" and (tmp_path / "link.txt").read_text() == "new"
        assert not (tmp_path / "link.txt").is_symlink()
    finally:
        os.umask(previous)
