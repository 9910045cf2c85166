"""The report on synthetic run directories laid out as ``emofuse run`` writes them."""

from __future__ import annotations

import math
import pathlib
import re

import numpy as np
import pandas as pd
import pytest
from conftest import shared_path

from emofuse.data.manifest import Manifest
from emofuse.data.protocols import Fold
from emofuse.evaluation import stats
from emofuse.evaluation.metrics import categorical_scores
from emofuse.evaluation.summary import summarize_run
from emofuse.experiment import load_experiment
from emofuse.predictions import Predictions
from emofuse.reports import ReportOptions
from emofuse.reports import RunDirectoryError
from emofuse.reports import build_report
from emofuse.reports import load_run
from emofuse.rundir import RunDirectory

CLASSES = ["neu", "hap", "sad", "ang"]
TARGETS = ["valence", "arousal", "dominance"]
ACTS = ["q", "s", "o"]
#: Accuracy of each synthetic system (categorical), or the shrink factor of its predictions.
QUALITY = {"audio": 0.55, "text": 0.7, "late_fusion": 0.85}


def write_run(
    root: pathlib.Path,
    *,
    kind: str = "categorical",
    name: str = "synthetic",
    seeds: tuple[int, ...] = (0, 1),
    folds: int = 3,
    per_speaker: int = 6,
    protocol: dict | None = None,
    train_fraction: float = 1.0,
    evaluate_on: str | None = None,
    corpus: str = "synth",
    test_corpus: str | None = None,
    references: dict | None = None,
    ids: list[str] | None = None,
    with_results: bool = True,
    last_fold_only: bool = False,
) -> pathlib.Path:
    """A run directory: 2 speakers per session, one fold per session, systems audio, text and
    their late fusion, predictions drawn with a fixed seed (better systems are more accurate)."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    rows = []
    for session in range(1, folds + 1):
        for speaker in ("F", "M"):
            for k in range(per_speaker):
                index = len(rows)
                identifier = ids[index] if ids else f"S{session}{speaker}_{k:02d}"
                label = CLASSES[index % 4]
                vad = {"neu": (0.0, -0.25, 0.0), "hap": (0.75, 0.5, 0.25), "sad": (-0.5, -0.5, -0.5), "ang": (-0.5, 0.75, 0.5)}[label]
                rows.append({"id": identifier, "speaker": f"S{session}{speaker}", "session": str(session),
                             "corpus": test_corpus if test_corpus and session == folds else corpus,
                             "text": f"words {index % 5}", "emotion": label, "label": label,
                             "valence": vad[0], "arousal": vad[1], "dominance": vad[2],
                             "scripted": index % 3 == 0, "dialogue_act": ACTS[index % 3]})
    manifest = pd.DataFrame(rows)
    import hashlib

    # runs of the same data share one manifest file (as runs of one corpus do), so they group in the report
    manifest_path = root.parent / f"manifest_{hashlib.sha1(manifest.to_csv().encode()).hexdigest()[:8]}.csv"
    manifest.to_csv(manifest_path, index=False)
    fold_list = []
    for session in range(1, folds + 1):
        test = manifest.loc[manifest["session"] == str(session), "id"].tolist()
        pool = manifest.loc[manifest["session"] != str(session), "id"].tolist()
        train = pool[: max(4, int(len(pool) * train_fraction))]
        fold_list.append(Fold(f"session_{session}", tuple(train), (), tuple(test)))
    if last_fold_only:
        fold_list = fold_list[-1:]
    config = load_experiment({
        "name": name,
        "description": "Synthetic predictions.",
        "data": {"manifest": str(manifest_path)},
        "task": {"type": kind, "targets": TARGETS},
        "protocol": protocol or {"name": "leave_one_session_out"},
        "seeds": list(seeds),
        "features": {"logmel": {"name": "logmel_stats"}, "minilm": {"name": "text_embedding"}},
        "systems": {
            "audio": {"inputs": ["logmel"], "model": {"name": "mlp"}},
            "text": {"inputs": ["minilm"], "model": {"name": "mlp"}},
            "late_fusion": {"members": ["audio", "text"], "fusion": {"name": "late", "method": "average"}},
        },
        "references": references or {},
        "evaluate_on": {evaluate_on: {"manifest": str(manifest_path)}} if evaluate_on else {},
    })
    run = RunDirectory(root)
    run.create(config)
    run.set_task(kind, CLASSES if kind == "categorical" else TARGETS)
    run.write_manifest(Manifest.from_frame(manifest))
    if evaluate_on:
        run.write_manifest(Manifest.from_frame(manifest.assign(corpus="other")), evaluate_on)
    run.write_folds({"name": (protocol or {}).get("name", "leave_one_session_out")}, fold_list)
    run.write_validation({
        "verdict": "speaker-independent", "speaker_independent": True, "ids_disjoint": True, "max_text_overlap": 0.25,
        "folds": [{"fold": f.name, "speakers_shared_train_test": [], "speakers_shared_dev_test": [], "text_overlap": 0.25}
                  for f in fold_list]})
    by_id = manifest.set_index("id")
    for system, quality in QUALITY.items():
        for seed in seeds:
            for fold in fold_list:
                directory = run.fold(system, seed, fold.name)
                predictions = _predict(by_id.loc[list(fold.test)], kind, quality, rng)
                directory.write_predictions(predictions)
                if evaluate_on:
                    directory.write_predictions(_predict(by_id, kind, quality - 0.2, rng), evaluate_on)
                directory.write_metrics({"n_test": len(predictions), "test": predictions.evaluate(),
                                         "dev": {"UA" if kind == "categorical" else "CCC_mean": quality + 0.01 * seed}})
                directory.mark_done()
    if with_results:
        summarize_run(run, config)
    return root


def _predict(utterances: pd.DataFrame, kind: str, quality: float, rng: np.random.Generator) -> Predictions:
    ids = utterances.index.tolist()
    if kind == "categorical":
        truth = utterances["label"].tolist()
        prediction = [t if rng.random() < quality else CLASSES[(CLASSES.index(t) + rng.integers(1, 4)) % 4] for t in truth]
        scores = np.array([[0.7 if p == c else 0.1 for c in CLASSES] for p in prediction])
        return Predictions("categorical", CLASSES, ids, scores, truth=[CLASSES.index(t) for t in truth],
                           split=["test"] * len(ids))
    truth = utterances[TARGETS].to_numpy(dtype=float)
    scores = quality * truth + rng.normal(0, 0.1, truth.shape)
    return Predictions("dimensional", TARGETS, ids, scores, truth=truth, split=["test"] * len(ids))


def _table(text: str, number: int) -> pd.DataFrame:
    """Table ``number`` of a Markdown report as strings."""
    block = text.split(f"**Table {number}.**", 1)[1].split("\n\n", 2)[1]
    lines = [[cell.strip() for cell in line.strip().strip("|").split(" | ")] for line in block.splitlines() if not line.startswith("|---")]
    return pd.DataFrame(lines[1:], columns=lines[0])


def _find_table(text: str, caption_start: str) -> pd.DataFrame:
    match = re.search(r"\*\*Table (\d+)\.\*\* " + re.escape(caption_start), text)
    assert match, f"no table whose caption starts with {caption_start!r}"
    return _table(text, int(match.group(1)))


# Tests -----------------------------------------------------------------------------------


def test_load_run_reads_results_or_per_fold_files(tmp_path):
    finished = load_run(write_run(tmp_path / "a"))
    partial = load_run(write_run(tmp_path / "b", with_results=False))
    assert finished.task_type == "categorical" and finished.labels == CLASSES
    assert finished.systems == ["audio", "text", "late_fusion"]
    assert finished.seeds == [0, 1]
    assert len(partial.metrics) == len(finished.metrics) == 18
    assert sorted(partial.predictions.columns) == sorted(finished.predictions.columns)
    assert not finished.dev_metrics.empty
    with pytest.raises(RunDirectoryError):
        load_run(tmp_path / "missing")


def test_categorical_report_tables_match_the_analyses(tmp_path):
    run = write_run(tmp_path / "run", seeds=(0, 1, 2), per_speaker=8, references={"late_fusion": {"UA": 76.07}, "text": {"UA": 0.703}})
    path = build_report([run], tmp_path / "out")
    text = path.read_text()
    for section in ("### Protocol", "### Results", "### Per-emotion F1 and confusion matrices", "### Scripted vs improvised",
                    "### Dialogue acts"):
        assert section in text
    metrics = pd.read_csv(run / "results" / "metrics.csv")
    results = _find_table(text, "Test scores").set_index("system")
    audio = metrics.loc[metrics["system"] == "audio", "UA"]
    assert results.loc["audio", "UA (%)"] == f"{100 * audio.mean():.1f} ± {100 * audio.std(ddof=1):.1f}"
    assert results.loc["late_fusion", "UA (%) paper"] == "76.07"
    assert results.loc["text", "UA (%) paper"] == "70.3"
    assert results.loc["audio", "UA (%) paper"] == ""
    # the marks follow paired t-tests of the per-seed means (paired by seed), recomputed here
    seed_means = metrics.groupby(["system", "seed"])["UA"].mean().unstack("seed")
    expected = "".join(symbol for symbol, baseline in (("*", "audio"), ("†", "text"))
                       if stats.paired_ttest(seed_means.loc["late_fusion"], seed_means.loc[baseline]).p_value < 0.05)
    assert expected.startswith("*")  # the fusion (85 % accurate) is far from audio (55 %) in every seed
    assert results.loc["late_fusion", "UA (%)"].split(" ± ")[1].lstrip("0123456789.") == expected
    assert not results.loc["audio", "UA (%)"].endswith(("*", "†"))
    assert "* against `audio`, † against `text`" in text
    settings = _find_table(text, "Settings each system ran with").set_index("system")
    assert list(settings.index) == ["audio", "text", "late_fusion"]
    assert settings.loc["late_fusion", "settings"].startswith("late") and "members audio, text" in settings.loc["late_fusion", "settings"]
    folds = _find_table(text, "Folds").set_index("fold")
    assert folds.loc["session_1", "test speakers"] == "S1F, S1M"
    assert folds.loc["session_1", "test"] == "16"
    assert "**speaker-independent**" in text
    # scripted / improvised UA, recomputed here from the predictions
    predictions = pd.read_csv(run / "results" / "predictions.csv")
    manifest = pd.read_csv(run / "manifest.csv")
    scripted_ids = set(manifest.loc[manifest["scripted"], "id"])
    values = []
    for seed in (0, 1, 2):
        part = predictions[(predictions["system"] == "text") & (predictions["seed"] == seed) & predictions["id"].isin(scripted_ids)]
        values.append(categorical_scores(part["truth"].tolist(), part["prediction"].tolist(), labels=CLASSES)["UA"])
    strata = _find_table(text, "UA (%) per stratum").set_index("system")
    assert strata.loc["text", "UA (%)"].replace("**", "").split(" / ")[0] == f"{100 * np.mean(values):.1f}"
    counts = _find_table(text, "Test utterances per class and stratum").set_index("class")
    assert list(counts.columns) == ["scripted", "improvised", "total"]
    assert counts.loc["total", "total"] == str(len(manifest))
    assert "UA (%) per dialogue act" in text
    figures = sorted(p.name for p in (tmp_path / "out" / "figures").glob("*.png"))
    assert figures == ["synthetic_confusion_audio.png", "synthetic_confusion_late_fusion.png", "synthetic_confusion_text.png",
                       "synthetic_f1.png", "synthetic_strata_f1.png"]
    for figure in figures:
        assert (tmp_path / "out" / "figures" / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"(figures/{figure})" in text
    confusion = pd.read_csv(tmp_path / "out" / "tables" / "synthetic_confusion_audio_counts.csv")
    assert confusion.iloc[:, 1:].to_numpy(dtype=float).sum() == pytest.approx(len(manifest), abs=0.5)  # mean over seeds


def test_dimensional_report_residual_analyses(tmp_path):
    run = write_run(tmp_path / "run", kind="dimensional", name="dims")
    text = build_report([run], tmp_path / "out").read_text()
    results = _find_table(text, "Test scores").set_index("system")
    assert list(results.columns) == ["mean CCC", "CCC valence", "CCC arousal", "CCC dominance", "runs"]
    assert "PCC valence" in text and "MSE dominance" in text
    # residuals of the best seed by dev score: the synthetic dev score grows with the seed -> seed 1
    assert "`audio` seed 1" in text
    bias = pd.read_csv(tmp_path / "out" / "tables" / "dims_act_bias.csv")
    predictions = pd.read_csv(run / "results" / "predictions.csv")
    manifest = pd.read_csv(run / "manifest.csv")
    questions = set(manifest.loc[manifest["dialogue_act"] == "q", "id"])
    part = predictions[(predictions["system"] == "audio") & (predictions["seed"] == 1) & predictions["id"].isin(questions)]
    residual = part["truth_valence"] - part["pred_valence"]
    row = bias[(bias["system"] == "audio") & (bias["target"] == "valence") & (bias["group"] == "q")].iloc[0]
    t = residual.mean() / (residual.std(ddof=1) / math.sqrt(len(residual)))
    assert row["mean"] == pytest.approx(residual.mean())
    assert row["statistic"] == pytest.approx(t)
    pvalues = _find_table(text, "p-values of the two-sided one-sample t-tests").set_index("act")
    assert "valence audio" in pvalues.columns and "q (question)" in pvalues.index
    # predictions are 0.55 * truth + noise for audio: residual slope about 0.45 (regression to the mean)
    lines = pd.read_csv(tmp_path / "out" / "tables" / "dims_residual_lines.csv")  # the analysis, unrounded
    audio = lines[(lines["system"] == "audio") & (lines["target"] == "arousal")].iloc[0]
    assert audio["slope"] == pytest.approx(0.45, abs=0.08)
    assert (tmp_path / "out" / "figures" / "dims_act_residuals.png").is_file()
    assert (tmp_path / "out" / "figures" / "dims_residual_lines.png").is_file()


def test_html_report_is_self_contained(tmp_path):
    run = write_run(tmp_path / "run", seeds=(0,))
    few = write_run(tmp_path / "few", seeds=(0,), train_fraction=0.5,
                    protocol={"name": "few_shot", "n_per_class": 3, "base": {"name": "leave_one_session_out"}})
    path = build_report([run, few], tmp_path / "out", format="html")
    html = path.read_text()
    assert path.name == "report.html"
    assert html.count('<img src="data:image/png;base64,') == 6  # F1, 3 confusion matrices, strata, data-size curve
    assert (tmp_path / "out" / "figures" / "scaling_1.png").is_file()
    assert "figures/" not in html.split("<body>", 1)[1].split("<img", 1)[0]
    assert "<table>" in html and "<strong>" in html
    folds = pd.read_csv(run / "results" / "metrics.csv")["fold"].nunique()
    assert f"samples: {folds} folds of the one seed" in html
    with pytest.raises(ValueError):
        build_report([run], tmp_path / "other", format="pdf")


def test_scaling_curve_from_few_shot_runs(tmp_path):
    base = {"name": "leave_one_session_out"}
    runs = [write_run(tmp_path / f"fs{n}", name=f"fs{n}", train_fraction=f, protocol={"name": "few_shot", "n_per_class": n, "base": base})
            for n, f in ((2, 0.25), (4, 0.5))]
    runs.append(write_run(tmp_path / "full", name="full", protocol=base))
    text = build_report(runs, tmp_path / "out", options=ReportOptions(figures=False)).read_text()
    assert "## Data-size scaling" in text
    assert "## Run `fs2`" not in text  # few-shot runs appear only in the curve
    table = _find_table(text, "UA (%) against training-set size").set_index("system")
    assert list(table.columns) == ["n=6", "n=12", "n=24", "per doubling"]
    metrics = pd.read_csv(runs[0] / "results" / "metrics.csv")
    seeds = metrics[metrics["system"] == "text"].groupby("seed")["UA"].mean()
    assert table.loc["text", "n=6"] == f"{100 * seeds.mean():.1f} ± {100 * seeds.std(ddof=1):.1f}"


def test_cross_corpus_from_evaluate_on_and_from_cross_corpus_runs(tmp_path):
    evaluated = write_run(tmp_path / "a", name="a", evaluate_on="other")
    crossed = write_run(tmp_path / "b", name="b", corpus="synth", test_corpus="elsewhere", folds=2,
                        protocol={"name": "official_splits"}, last_fold_only=True)
    assert load_run(evaluated).cross[0].corpus == "other"
    run = load_run(crossed)  # one fold: train on synth (session 1), test on elsewhere (session 2)
    assert run.corpora("train") == ["synth"] and run.corpora("test") == ["elsewhere"] and run.cross_corpus
    assert not load_run(evaluated).cross_corpus
    text = build_report([evaluated, crossed], tmp_path / "out", options=ReportOptions(figures=False)).read_text()
    assert "## Cross-corpus results" in text
    table = _find_table(text, "UA (%) in- and cross-corpus").set_index("system")
    assert {"synth → other", "synth → synth", "synth → elsewhere"} <= set(table.columns)
    metrics = pd.read_csv(crossed / "results" / "metrics.csv")
    fused = metrics.loc[metrics["system"] == "late_fusion", "UA"]
    assert table.loc["late_fusion", "synth → elsewhere"].rstrip("*†") == f"{100 * fused.mean():.1f} ± {100 * fused.std(ddof=1):.1f}"
    # the cross column: per seed the mean over fold models of UA on the whole other corpus
    frames = [pd.read_csv(p) for p in sorted(evaluated.glob("systems/audio/seed_*/*/predictions_other.csv"))]
    per_model = [categorical_scores(f["truth"].tolist(), f["prediction"].tolist(), labels=CLASSES)["UA"] for f in frames]
    per_seed = np.asarray(per_model).reshape(2, 3).mean(axis=1)  # seeds x folds, sorted by path
    assert table.loc["audio", "synth → other"].rstrip("*†") == f"{100 * per_seed.mean():.1f} ± {100 * per_seed.std(ddof=1):.1f}"


def test_cross_corpus_dimensional_uses_pcc(tmp_path):
    run = write_run(tmp_path / "a", name="a", kind="dimensional", evaluate_on="other", seeds=(0, 1))
    text = build_report([run], tmp_path / "out", options=ReportOptions(figures=False)).read_text()
    assert "PCC valence in- and cross-corpus" in text
    assert "PCC, as the corpora rate dimensions on different scales" in text


def test_baselines_option_and_missing_metadata(tmp_path):
    run = write_run(tmp_path / "run")
    manifest = pd.read_csv(run / "manifest.csv").drop(columns=["scripted", "dialogue_act"])
    manifest.to_csv(run / "manifest.csv", index=False)
    text = build_report([run], tmp_path / "out", options=ReportOptions(baselines=("text",), figures=False)).read_text()
    assert "![" not in text and not list((tmp_path / "out" / "figures").glob("*.png"))
    assert "† against" not in text and "* against `text`" in text
    assert "Not available: the manifest has no `scripted` metadata" in text
    assert "Not available: no dialogue acts" in text


def test_cli_report(tmp_path):
    from typer.testing import CliRunner

    from emofuse.cli import app

    run = write_run(tmp_path / "run", seeds=(0, 1))
    result = CliRunner().invoke(app, ["report", str(run), "-o", str(tmp_path / "out"), "--format", "html", "--alpha", "0.01",
                                      "--no-figures"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "report.html").is_file()
    result = CliRunner().invoke(app, ["report", str(tmp_path / "nothing"), "-o", str(tmp_path / "out2")])
    assert result.exit_code == 2
    assert "not an emofuse run directory" in result.output


@pytest.mark.shared
def test_dialogue_acts_from_emotyda_file(tmp_path):
    acts_file = shared_path("fixtures", "dialogue_acts.csv")
    turns = pd.read_csv(acts_file)["TURN"].astype(str).tolist()[:36]
    run = write_run(tmp_path / "run", kind="dimensional", name="acts", ids=turns)
    manifest = pd.read_csv(run / "manifest.csv").drop(columns="dialogue_act")
    manifest.to_csv(run / "manifest.csv", index=False)
    from emofuse.data.corpora.iemocap import read_dialogue_acts

    acts = read_dialogue_acts(acts_file)
    text = build_report([run], tmp_path / "out", options=ReportOptions(dialogue_acts=acts, figures=False)).read_text()
    assert "Dialogue acts cover 36 of 36 test utterances" in text
    bias = pd.read_csv(tmp_path / "out" / "tables" / "acts_act_bias.csv")
    assert set(bias["group"]) <= set(acts.values())


def test_renderers_escape_cells_and_inline_markup(tmp_path):
    from emofuse.reports.report import Heading
    from emofuse.reports.report import Paragraph
    from emofuse.reports.report import Table
    from emofuse.reports.report import render_html
    from emofuse.reports.report import render_markdown

    blocks = [Heading("Run `x`", 2), Paragraph("p < 0.05 in **bold**"),
              Table(pd.DataFrame({"a|b": ["**.01**"], "c": ["80.6 ± 6.8*†"]}), "caption <b>", 1)]
    markdown = render_markdown(blocks)
    assert "## Run `x`" in markdown and "| a\\|b | c |" in markdown and "| **.01** | 80.6 ± 6.8*† |" in markdown
    html = render_html(blocks, title="t", base=tmp_path)
    assert "<h2>Run <code>x</code></h2>" in html and "p &lt; 0.05 in <strong>bold</strong>" in html
    assert "caption &lt;b&gt;" in html and "<td><strong>.01</strong></td>" in html and "<td>80.6 ± 6.8*†</td>" in html


def test_default_baselines_prefer_fused_members_and_fit_the_symbols():
    from emofuse.evaluation.stats import SIGNIFICANCE_SYMBOLS
    from emofuse.experiment import load_experiment
    from emofuse.reports.run import baseline_systems

    systems = {f"head_{i}": {"inputs": ["lld"], "model": {"name": "pooling"}} for i in range(8)}
    systems["fused"] = {"members": ["head_6", "head_7"], "fusion": {"name": "late"}}
    config = load_experiment({"name": "x", "data": {"manifest": "m.csv"}, "features": {"lld": {"name": "logmel"}},
                              "systems": systems})

    class Stub:  # a run with eight unimodal heads (as Boigne's recipe) and one fusion of two of them
        def system_config(self, name):
            return config.systems[name]

    chosen = baseline_systems(Stub(), list(systems))
    assert chosen[:2] == ["head_6", "head_7"]
    assert len(chosen) == len(SIGNIFICANCE_SYMBOLS) < 8
    assert "fused" not in chosen


def test_a_short_learning_curve_marks_whole_epochs_only(tmp_path, monkeypatch):
    from emofuse.reports import figures

    drawn = []
    monkeypatch.setattr(figures, "_save", lambda figure, path: drawn.append(figure) or pathlib.Path(path))
    history = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [1.2, 0.9, 0.7], "dev_loss": [1.1, 1.0, 0.95],
                            "dev_score": [0.4, 0.5, 0.55]})
    figures.learning_curve_figure(history, tmp_path / "curve.png", title="x")
    for axis in drawn[0].axes:
        ticks = [t for t in axis.get_xticks() if axis.get_xlim()[0] <= t <= axis.get_xlim()[1]]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks


def test_the_settings_line_names_loss_weights_and_only_what_differs_from_the_defaults():
    from emofuse.evaluation.summary import system_settings
    from emofuse.evaluation.summary import task_settings

    config = load_experiment({
        "name": "x", "data": {"manifest": "m.csv"}, "features": {"f": {"name": "logmel_stats"}},
        "task": {"type": "dimensional", "loss_weights": [0.7, 0.2, 0.1]},
        "systems": {"a": {"inputs": ["f"], "model": {"name": "mlp", "hidden_sizes": [8]}, "loss_weights": [0.1, 0.4, 0.5],
                          "training": {"selection": "last", "max_epochs": 1}},
                    "b": {"inputs": ["f"], "model": {"name": "svm"}}}})
    line = system_settings(config, "a")
    assert line == ("mlp: hidden_sizes [8]; inputs f; loss_weights [0.1, 0.4, 0.5]; adamw, learning rate 0.001, cosine, "
                    "max 1 epoch, batch 32; selection last")
    assert system_settings(config, "b") == "svm; inputs f"  # no optimiser or epochs for a classic model
    assert "target weights [0.7, 0.2, 0.1]" in task_settings(config)
