"""benchmarks/gpu_full.py --dry-run reports every system that fails and still trains the others."""

from benchmarks.gpu_full import train_each


def test_a_failing_system_is_reported_and_the_others_still_train():
    trained = []

    def train(system):
        if system == "broken":
            raise ValueError("bad shape")
        trained.append(system)
        return {"system": system, "parameters": 10, "seconds": 0.5, "loss": 1.1}

    rows = train_each("iemonet", ["ser", "broken", "ter"], train)
    assert trained == ["ser", "ter"]
    assert [r["system"] for r in rows] == ["ser", "broken", "ter"]
    assert all(r["run"] == "iemonet" for r in rows)
    assert rows[1]["error"] == "ValueError: bad shape" and "error" not in rows[0] and "error" not in rows[2]


def test_a_stopped_run_reports_the_folds_it_finished(tmp_path):
    from benchmarks.gpu_full import finished_folds
    from emofuse.rundir import RunDirectory

    run = RunDirectory(tmp_path)
    for system, seed, fold, ua in [("cnn14", 0, "speaker_03", 0.5), ("cnn14", 0, "speaker_08", 0.7),
                                   ("cnn14", 1, "speaker_03", 0.6), ("sfcnn14", 0, "speaker_03", 0.9)]:
        directory = run.fold(system, seed, fold)
        directory.path.mkdir(parents=True)
        directory.write_metrics({"test": {"UA": ua}, "dev": {"UA": 0.1}})
        directory.mark_done()
    run.fold("mfcnn14", 0, "speaker_03").path.mkdir(parents=True)  # started, not finished
    found = finished_folds(tmp_path)
    assert set(found) == {"cnn14", "sfcnn14"}
    assert found["cnn14"]["folds"] == 3 and found["cnn14"]["seeds"] == [0, 1]
    assert abs(found["cnn14"]["UA_mean"] - 0.6) < 1e-9 and found["sfcnn14"]["UA_mean"] == 0.9


def test_a_run_past_its_time_is_stopped_with_the_processes_it_started(tmp_path):
    import time

    from benchmarks.gpu_full import timed

    marker = tmp_path / "late"
    start = time.perf_counter()
    code, seconds = timed(["sh", "-c", f"(sleep 3; touch {marker}) & sleep 30"], 1.0)
    assert code is None and seconds < 10 and time.perf_counter() - start < 10
    time.sleep(3.5)
    assert not marker.exists()  # the background child went with it
    assert timed(["true"], 5.0)[0] == 0


def test_unknown_deep_runs_and_systems_are_refused_by_name(monkeypatch):
    import argparse

    import pytest

    from benchmarks import gpu_full

    def arguments(**changes):
        base = {"parts": "deep", "recipes": None, "deep": None, "systems": None, "seeds": None, "jobs": 1,
                "minutes": None, "accelerator": "cpu", "cache": None, "runs": None}
        return argparse.Namespace(**{**base, **changes})

    monkeypatch.setattr(gpu_full, "timed", lambda *a, **k: pytest.fail("nothing may run"))
    with pytest.raises(SystemExit, match=r"--deep: unknown runs \['deep_emodb9'\]"):
        gpu_full.full(arguments(deep="deep_emodb7,deep_emodb9"))
    with pytest.raises(SystemExit, match=r"--systems: \['cnn41'\] are in none"):
        gpu_full.full(arguments(deep="deep_emodb7", systems="cnn14,cnn41"))
