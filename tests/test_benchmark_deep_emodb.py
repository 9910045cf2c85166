"""benchmarks/deep_emodb.py keeps the rows its runs do not hold, with the date each was measured."""

from benchmarks.deep_emodb import kept_rows


def row(task, system, uar, date=None):
    return {"task": task, "system": system, "uar_mean": uar, **({"date": date} if date else {})}


def test_rows_not_in_these_runs_are_kept_with_their_date_in_table_order():
    previous = {"date": "2026-11-30T10:00:00", "rows": [
        row("emodb7", "cnn14", 0.52), row("emodb7", "resnet34", 0.62), row("emodb4", "cnn14", 0.75, "2026-12-01")]}
    new = [row("emodb4", "attention_bilstm", 0.74, "2026-12-02"), row("emodb7", "cnn14", 0.55, "2026-12-02")]
    rows = kept_rows(new, previous)
    assert [(r["task"], r["system"], r["uar_mean"], r["date"]) for r in rows] == [
        ("emodb7", "cnn14", 0.55, "2026-12-02"),  # measured again: the new row replaces the old
        ("emodb7", "resnet34", 0.62, "by 2026-11-30"),  # kept: measured by the date of its file
        ("emodb4", "attention_bilstm", 0.74, "2026-12-02"),
        ("emodb4", "cnn14", 0.75, "2026-12-01"),  # kept with its own date
    ]
    assert kept_rows(new, {}) == sorted(new, key=lambda r: r["task"] != "emodb7")


def test_every_profile_override_parses_for_every_task_it_runs():
    """A profile's overrides must name real keys of each task's config (a typo would otherwise
    create a new key, or fail hours into the benchmark), and every system of a task gets them in
    the same config (one run directory holds one config)."""
    from benchmarks.deep_emodb import CONFIGS
    from benchmarks.deep_emodb import HELPERS
    from benchmarks.deep_emodb import PROFILES
    from benchmarks.deep_emodb import TASKS
    from benchmarks.deep_emodb import profile_overrides
    from emofuse.experiment import load_experiment

    for name, profile in PROFILES.items():
        systems_of = {task: {*TASKS[task][2], *HELPERS["classification_block"]} for task in profile["tasks"]}
        per_task = {key for key in profile if "/" in key}
        assert set(profile) - {"description", "tasks", "*"} - per_task <= set.union(*systems_of.values())
        assert all(key.split("/")[1] in systems_of.get(key.split("/")[0], ()) for key in per_task), per_task
        for task in profile["tasks"]:
            config, overrides, systems = TASKS[task]
            values = profile_overrides(name, task)
            assert values[: len(profile["*"])] == profile["*"]
            experiment = load_experiment(CONFIGS / config, overrides=[*overrides, *values])
            assert set(experiment.systems) == set(load_experiment(CONFIGS / config, overrides=overrides).systems)
            for system in systems:
                assert all(f"systems.{system}.{value}" in values for value in profile.get(system, []))
                assert all(f"systems.{system}.{value}" in values for value in profile.get(f"{task}/{system}", []))
            others = [key for key in per_task if not key.startswith(f"{task}/")]  # another task's settings
            assert not {f"systems.{key.split('/')[1]}.{value}" for key in others for value in profile[key]
                        if value not in profile.get(key.split("/")[1], [])
                        and value not in profile.get(f"{task}/{key.split('/')[1]}", [])} & set(values), others


def test_the_cpu90_profile_reduces_what_dominates_the_time():
    from benchmarks.deep_emodb import CONFIGS
    from benchmarks.deep_emodb import profile_overrides
    from emofuse.experiment import load_experiment

    assert profile_overrides(None, "emodb7") == []
    full = load_experiment(CONFIGS / "deep_pseudo_bimodal.yaml")
    reduced = load_experiment(CONFIGS / "deep_pseudo_bimodal.yaml", overrides=profile_overrides("cpu90", "pseudo_bimodal4"))
    before, after = full.systems["mfcnn14"], reduced.systems["mfcnn14"]
    assert after.model.config.acoustic.channels == before.model.config.acoustic.channels  # full width: chosen on dev
    assert after.model.config.acoustic.crop_seconds == 2.0 and before.model.config.acoustic.crop_seconds is None
    assert after.training.max_epochs < before.training.max_epochs
    assert reduced.seeds == full.seeds == (0, 1, 2)  # three seeds in every row
    assert load_experiment(CONFIGS / "deep_emodb.yaml", overrides=profile_overrides("cpu90", "emodb4")).seeds == (0, 1, 2)
    assert after.model.config.text_dropout == before.model.config.text_dropout  # chosen on dev: kept
    seven = load_experiment(CONFIGS / "deep_emodb.yaml", overrides=profile_overrides("cpu90", "emodb7")).systems["cnn14"]
    four = load_experiment(CONFIGS / "deep_emodb.yaml", overrides=profile_overrides("cpu90", "emodb4")).systems["cnn14"]
    full_cnn14 = load_experiment(CONFIGS / "deep_emodb.yaml").systems["cnn14"]
    assert seven.model.config.channels == full_cnn14.model.config.channels  # a task's own setting wins
    assert four.model.config.channels == tuple(c // 2 for c in full_cnn14.model.config.channels)
    assert four.training.max_epochs < seven.training.max_epochs == full_cnn14.training.max_epochs  # 7 classes: as configured
    assert seven.training.early_stopping_patience == full_cnn14.training.early_stopping_patience
    lstm = [load_experiment(CONFIGS / "deep_emodb.yaml", overrides=o).systems["acoustic_lstm"].training.max_epochs
            for o in ([], profile_overrides("cpu90", "emodb7"), profile_overrides("cpu90", "emodb4"))]
    assert lstm[0] == lstm[1] > lstm[2]  # the 7-class acoustic LSTM at its config's epochs, the 4-class one fewer
    alone = load_experiment(CONFIGS / "deep_pseudo_bimodal.yaml", overrides=profile_overrides("cpu90", "pseudo_bimodal4"))
    assert alone.systems["cnn14"].model.config.channels == after.model.config.acoustic.channels  # as wide as its fusions
    assert alone.systems["cnn14"].training.max_epochs == after.training.max_epochs


def test_the_whole_benchmark_verdict_needs_every_row_and_adds_their_minutes():
    from benchmarks.deep_emodb import TASKS
    from benchmarks.deep_emodb import verdicts

    rows = [{"task": t, "system": s, "uar_mean": 0.8, "minutes": 4.0, "seeds": [0, 1, 2]}
            for t in ("emodb7", "emodb4", "pseudo_bimodal4") for s in TASKS[t][2]]
    line = [v for v in verdicts(rows) if "whole benchmark" in v]
    assert line == [f"- the whole benchmark (7 and 4 classes, pseudo-bimodal) under 90 minutes: "
                    f"{'met' if 4.0 * len(rows) < 90 else 'not met'} ({4.0 * len(rows):.1f} min)"]
    assert f"- 3 seeds in every row of it: met ({len(rows)} of {len(rows)} rows)" in verdicts(rows)
    rows[3]["seeds"] = [0]
    assert f"- 3 seeds in every row of it: not met ({len(rows) - 1} of {len(rows)} rows)" in verdicts(rows)
    assert not [v for v in verdicts(rows[1:]) if "whole benchmark" in v]  # a row missing: no verdict
    rows[0]["minutes"] = None
    assert not [v for v in verdicts(rows) if "whole benchmark" in v]


def test_fusions_are_compared_with_cnn14_on_the_folds_both_ran():
    """The pseudo-bimodal verdicts give each fusion's mean paired difference and a paired t-test
    over the (seed, fold) runs both rows hold; a row kept without per-fold scores is left out."""
    from benchmarks.deep_emodb import paired_differences

    cnn14 = {"0/a": 0.60, "0/b": 0.70, "0/c": 0.80, "0/d": 0.50}
    rows = [
        {"system": "cnn14", "fold_uar": cnn14},
        # +10 points on every shared fold but one (+9); fold "e" is not CNN14's and must not count
        {"system": "sfcnn14", "fold_uar": {"0/a": 0.70, "0/b": 0.80, "0/c": 0.90, "0/d": 0.59, "0/e": 0.10}},
        {"system": "mfcnn14", "fold_uar": {"0/a": 0.60, "0/b": 0.75, "0/c": 0.75, "0/d": 0.50}},
        {"system": "concat"},  # a kept row without per-fold scores
    ]
    lines = paired_differences(rows)
    assert lines[0].startswith("- paired over folds and seeds")
    by_pair = {line.split(":")[0].strip(" -"): line for line in lines[1:]}
    assert set(by_pair) == {"mfcnn14 - sfcnn14", "sfcnn14 - cnn14", "mfcnn14 - cnn14"}
    assert "+9.8 points over the 4 folds" in by_pair["sfcnn14 - cnn14"]
    assert "p < .001" in by_pair["sfcnn14 - cnn14"]  # a steady gain is significant
    assert "+0.0 points" in by_pair["mfcnn14 - cnn14"] and "p = 1.000" in by_pair["mfcnn14 - cnn14"]
    assert paired_differences([{"system": "cnn14", "fold_uar": cnn14}]) == []


def test_a_running_system_records_its_time_so_an_interrupted_run_keeps_it(tmp_path):
    """The time of a killed invocation is kept up to its last record and a resumed run adds to it;
    before this, only invocations that finished were timed, so an interrupted row showed the
    minutes of its last piece alone."""
    import json
    import sys

    from benchmarks.deep_emodb import timed_child
    from benchmarks.deep_emodb import timing_recorder

    path = tmp_path / "timing.json"
    path.write_text(json.dumps({"emodb4/cnn14": {"seconds": 5.0, "peak_memory_mb": 900}}))
    records = []
    record = timing_recorder(path, "emodb7/cnn14", {"seconds": 100.0, "peak_memory_mb": 700})

    def spy(seconds, peak):
        record(seconds, peak)
        records.append(json.loads(path.read_text())["emodb7/cnn14"])

    spent = timed_child([sys.executable, "-c", "import time; time.sleep(1.6)"], spy, every=0.4)
    assert spent["exit_code"] == 0 and spent["seconds"] >= 1.6
    running, final = records[:-1], records[-1]
    assert len(running) >= 2  # recorded while it ran, each time adding to the earlier invocations' time
    assert all(100.0 < r["seconds"] <= 100.0 + spent["seconds"] for r in running)
    assert all(r["peak_memory_mb"] == 700 for r in running)  # the child's peak is known only at its end
    assert [r["seconds"] for r in running] == sorted(r["seconds"] for r in running)
    assert final == {"seconds": round(100.0 + spent["seconds"], 1), "peak_memory_mb": max(700, spent["peak_memory_mb"])}
    assert json.loads(path.read_text())["emodb4/cnn14"] == {"seconds": 5.0, "peak_memory_mb": 900}  # others kept
    assert timed_child([sys.executable, "-c", "raise SystemExit(3)"], lambda *_: None)["exit_code"] == 3


def test_a_rows_settings_name_the_front_ends_its_system_was_trained_on():
    """Two rows of one model on different features (attention alignment on log-Mel frames or on
    low-level descriptors) must not read the same."""
    from benchmarks.deep_emodb import CONFIGS
    from benchmarks.deep_emodb import row_settings
    from emofuse.experiment import load_experiment

    config = load_experiment(CONFIGS / "deep_pseudo_bimodal.yaml")
    assert row_settings(config, "attention_alignment").startswith("attention_alignment; inputs lld, minilm_tokens;")
    other = load_experiment(CONFIGS / "deep_pseudo_bimodal.yaml",
                            overrides=["systems.attention_alignment.inputs=[logmel,minilm_tokens]"])
    assert row_settings(other, "attention_alignment").startswith("attention_alignment; inputs logmel, minilm_tokens;")
    assert "inputs" not in row_settings(config, "classification_block")  # a model over members' outputs
    # MFCNN14's low-rank text bottleneck is part of its row's settings; the paper's full rank names none
    assert "text_rank 16" in row_settings(config, "mfcnn14")
    paper = load_experiment(CONFIGS / "deep_pseudo_bimodal.yaml", overrides=["systems.mfcnn14.model.text_rank=null"])
    assert "text_rank" not in row_settings(paper, "mfcnn14")
