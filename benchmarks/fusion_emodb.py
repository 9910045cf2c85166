"""Issue 4's fusion benchmark: pseudo-bimodal EmoDB (speech + same-label GoEmotions texts).

Runs ``benchmarks/configs/pseudo_bimodal_emodb.yaml`` (leave-one-speaker-out) one system at a time,
each in its own ``emofuse run --system NAME`` process, so that every system's wall time and peak
memory are its own; feature extraction is done (and timed) first. Two runs: ``main`` (3 seeds) for
the models on utterance vectors and the fusions over them, and ``deep`` for the joint models over
frame sequences (attention alignment, CNN14 and its text-conditioned SFCNN14 / MFCNN14), which on
2 CPU cores get one seed and the reductions in ``DEEP_REDUCED`` (with audio and text alone again,
so that each run compares fusions with single modalities at equal seeds). Then tabulates UA
of audio alone, text alone and every fusion strategy against the best single modality, with the
epoch time and peak memory of each trained model, and writes a report (t-tests, confusion
matrices) of the run.

    python benchmarks/fusion_emodb.py                         # everything (resumes finished systems)
    python benchmarks/fusion_emodb.py --runs-only main
    python benchmarks/fusion_emodb.py --report-only

Writes benchmarks/results/fusion_emodb.{json,md} and the reports of both runs in
benchmarks/results/fusion_emodb_report/ and fusion_emodb_deep_report/.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pathlib
import shutil
import subprocess
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks._common import RESULTS  # noqa: E402
from benchmarks._common import ROOT  # noqa: E402
from benchmarks._common import markdown_table  # noqa: E402
from benchmarks._common import shared  # noqa: E402
from benchmarks._common import write_results  # noqa: E402

CONFIG = ROOT / "benchmarks" / "configs" / "pseudo_bimodal_emodb.yaml"
SINGLE = {"audio": "audio", "text": "text", "cnn14": "audio"}
#: The two runs: systems, and overrides on top of the config.
DEEP_REDUCED = [
    "seeds=[0]",
    "features.logmel_coarse={name: logmel, n_mels: 64, window_ms: 50, hop_ms: 40, max_duration: 5.0}",
    "systems.attention_alignment.inputs=[logmel_coarse, minilm_tokens]",
    "systems.attention_alignment.training.max_epochs=10",
    "systems.cnn14.training.max_epochs=10",
    "systems.sfcnn14.training.max_epochs=10",
    "systems.mfcnn14.training.max_epochs=10",
]
RUNS = {
    "main": (["audio", "text", "late_average", "late_weighted", "late_znorm", "classification_block", "concat"], []),
    "deep": (["audio", "text", "attention_alignment", "cnn14", "sfcnn14", "mfcnn14"], DEEP_REDUCED),
}
log = logging.getLogger("fusion_emodb")


def overrides(arguments: argparse.Namespace, run: str) -> list[str]:
    return [f"extraction.cache_dir={arguments.cache}", *RUNS[run][1]]


def extract(config, arguments: argparse.Namespace) -> dict[str, float]:  # noqa: ANN001 (ExperimentConfig)
    """Extract (or find cached) every feature of the config; seconds per feature."""
    from emofuse.components import CORPORA
    from emofuse.features import build_extractor
    from emofuse.features import extract_features

    manifest = CORPORA.build(config.data.corpus.name, config.data.corpus.config)
    seconds = {}
    for name, component in config.features.items():
        start = time.perf_counter()
        extract_features(build_extractor(component), manifest, cache_dir=arguments.cache,
                         num_workers=config.extraction.num_workers, progress=arguments.progress)
        seconds[name] = round(time.perf_counter() - start, 1)
        log.info("feature %s: %.1f s", name, seconds[name])
    return seconds


def run_system(name: str, run: str, arguments: argparse.Namespace) -> dict[str, float]:
    """``emofuse run --system NAME`` in a child process: wall seconds and peak resident MiB."""
    executable = shutil.which("emofuse", path=str(pathlib.Path(sys.executable).parent)) or "emofuse"
    command = [executable, "run", str(CONFIG), "-o", str(directory(arguments, run)), "--system", name, "--no-progress"]
    for value in overrides(arguments, run):
        command += ["--set", value]
    log.info("%s", " ".join(command))
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"system {name} failed (exit {os.waitstatus_to_exitcode(status)})")
    return {"seconds": round(seconds, 1), "peak_memory_mb": round(usage.ru_maxrss / 1024.0)}


def directory(arguments: argparse.Namespace, run: str) -> pathlib.Path:
    return arguments.runs if run == "main" else arguments.runs.with_name(arguments.runs.name + "_" + run)


def epochs_trained(run: pathlib.Path, system: str) -> list[int]:
    """Epochs each (seed, fold) model of ``system`` trained, from its training log."""
    import pandas as pd

    counts = []
    for fold in sorted((run / "systems" / system).glob("seed_*/*/logs")):
        last = -1  # a resumed fold logs into a new version directory
        for log_file in fold.glob("version_*/metrics.csv"):
            epochs = pd.read_csv(log_file).get("epoch")
            if epochs is not None and epochs.notna().any():
                last = max(last, int(epochs.max()))
        if last >= 0:
            counts.append(last + 1)
    return counts


def table(config, run: str, run_dir: pathlib.Path, timing: dict) -> tuple[list[list], dict]:  # noqa: ANN001
    """Rows of one run's systems, and their records (with the gain over the best single modality)."""
    summary = {row["system"]: row for row in json.loads((run_dir / "results" / "summary.json").read_text())["systems"]}
    best_single = max((s for s in summary if s in SINGLE), key=lambda s: summary[s]["UA_mean"])
    rows, records = [], {}
    for name in RUNS[run][0]:
        if name not in summary:
            continue
        spec, record = config.systems[name], summary[name]
        kind = ("single (" + SINGLE[name] + ")" if name in SINGLE
                else f"late ({spec.fusion.config.method})" if spec.fusion is not None
                else f"trained on members ({spec.model.name})" if spec.members
                else f"joint model ({spec.model.name})")
        epochs = epochs_trained(run_dir, name) if spec.model is not None else []
        spent = timing.get(name, {})
        mean_epochs = sum(epochs) / len(epochs) if epochs else None
        per_epoch = (spent["seconds"] / sum(epochs)) if epochs and spent.get("seconds") else None
        delta = record["UA_mean"] - summary[best_single]["UA_mean"]
        records[name] = {**record, "kind": kind, "epochs_mean": mean_epochs, "seconds_per_epoch": per_epoch,
                         "best_single": best_single, "delta_vs_best_single": delta, **spent}
        rows.append([
            name, kind,
            f"{100 * record['UA_mean']:.1f} ± {100 * record['UA_std']:.1f}",
            f"{100 * record['WA_mean']:.1f} ± {100 * record['WA_std']:.1f}",
            "" if name in SINGLE else f"{100 * delta:+.1f}",
            record["runs"],
            "" if mean_epochs is None else f"{mean_epochs:.1f}",
            "" if per_epoch is None else f"{per_epoch:.2f}",
            spent.get("seconds", ""),
            spent.get("peak_memory_mb", ""),
        ])
    return rows, records


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs-only", default=",".join(RUNS), help="main, deep or main,deep")
    parser.add_argument("--runs", type=pathlib.Path, default=ROOT / "runs" / "fusion_emodb")
    parser.add_argument("--cache", type=pathlib.Path, default=pathlib.Path("/tmp/emofuse-benchmark-cache"))
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--progress", action="store_true")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    shared("data", "emodb")
    shared("data", "text", "goemotions")

    import emofuse
    from emofuse.reports import build_report

    os.chdir(ROOT)  # the config names ../shared relative to the repository
    text = [
        "EmoDB 4-class subset (anger, happiness, neutral, sadness) with each utterance paired to a distinct "
        "GoEmotions-Ekman text of the same class (single-label subset, train split); leave-one-speaker-out "
        "(10 folds, dev = next speaker), mean ± std over folds × seeds. Δ: UA minus the best single modality "
        "of the same run. Seconds and peak memory: the system's own `emofuse run --system` process on the "
        "2-core CPU (members already trained; features cached); s/epoch = seconds / epochs trained over all "
        "folds and seeds (includes data loading and evaluation).",
        "",
    ]
    header = ["system", "kind", "UA %", "WA %", "Δ UA vs best single", "folds×seeds", "epochs (mean)",
              "s / epoch", "seconds", "peak MiB"]
    results = {}
    for run in (r for r in RUNS if r in arguments.runs_only.split(",")):
        run_dir = directory(arguments, run)
        config = emofuse.load_experiment(CONFIG, overrides=overrides(arguments, run))
        timing_file = run_dir / "benchmark_timing.json"
        timing = json.loads(timing_file.read_text()) if timing_file.exists() else {"systems": {}, "features": {}}
        if not arguments.report_only:
            timing["features"] = extract(config, arguments) | timing["features"]  # the first (uncached) times
            expected = len(config.seeds) * 10  # leave-one-speaker-out over EmoDB's 10 speakers
            for name in RUNS[run][0]:
                if len(list((run_dir / "systems" / name).glob("seed_*/*/done.json"))) >= expected:
                    continue  # finished: resuming would only time the start-up
                timing["systems"][name] = run_system(name, run, arguments)
                run_dir.mkdir(parents=True, exist_ok=True)
                timing_file.write_text(json.dumps(timing, indent=2))
        # the summary of every system of the run (each --system process summarised only its own)
        emofuse.run_experiment(config, run_dir, progress=False, systems=RUNS[run][0])
        rows, records = table(config, run, run_dir, timing["systems"])
        fused = [n for n in records if n not in SINGLE]
        beats = [n for n in fused if records[n]["delta_vs_best_single"] > 0]
        title = ("Main run: 3 seeds" if run == "main" else
                 "Deep run: joint models over frame sequences, 1 seed, reduced (`DEEP_REDUCED`: "
                 + "; ".join(f"`{o}`" for o in DEEP_REDUCED[1:]) + ")")
        text += [f"## {title}", "", markdown_table(header, rows),
                 f"Fusions that beat the best single modality: {len(beats)} of {len(fused)} "
                 f"({', '.join(beats) or 'none'}). Feature extraction (s, cached afterwards): "
                 + ", ".join(f"{k} {v}" for k, v in timing["features"].items()) + ".",
                 f"Report (t-tests, confusion matrices): `benchmarks/results/fusion_emodb{'' if run == 'main' else '_' + run}"
                 "_report/report.md`.", ""]
        build_report([run_dir], RESULTS / f"fusion_emodb{'' if run == 'main' else '_' + run}_report")
        results[run] = {"overrides": RUNS[run][1], "systems": records, "feature_seconds": timing["features"]}
    markdown = "\n".join(text)
    write_results("fusion_emodb", {"config": str(CONFIG.relative_to(ROOT)), "runs": results}, markdown)
    print(markdown)  # noqa: T201 (the table)


if __name__ == "__main__":
    main()
