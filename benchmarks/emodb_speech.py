"""EmoDB speech benchmark (issue 7): the acoustic front-ends and speech models, speaker-independent.

Leave-one-speaker-out over EmoDB's 10 speakers (the next speaker is the dev set for C / epoch
selection), 7 classes and the 4-class subset, UAR mean ± std over folds × seeds. Every part is an
experiment YAML in ``benchmarks/configs/speech_<part>.yaml``, run through the real runner
(``emofuse.load_experiment(dict)`` + ``emofuse.run_experiment``); this script only sets the label
map, the corpus path, the cache directory and (optionally) seeds / epochs, then tabulates.

Per-speaker standardisation (``normalization: speaker``) uses the test speaker's unlabelled
features and is always reported in its own rows.

    python benchmarks/emodb_speech.py                          # every part, then the table
    python benchmarks/emodb_speech.py --parts functionals,resemblyzer
    python benchmarks/emodb_speech.py --report-only            # the table from finished runs

Runs are resumable: a finished fold is never recomputed, so parts can be run one at a time.
"""

from __future__ import annotations

import argparse
import json
import logging
import pathlib
import sys
import time

import pandas as pd
import yaml

if __package__ in {None, ""}:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks._common import markdown_table
from benchmarks._common import peak_memory_mb
from benchmarks._common import shared
from benchmarks._common import write_results
from emofuse.evaluation.aggregate import pooled_summary

log = logging.getLogger("emodb_speech")

CONFIGS = pathlib.Path(__file__).resolve().parent / "configs"
PARTS = ("functionals", "fixed_c", "ensemble", "fusion", "hsf_mlp", "resemblyzer", "pooling", "cnn14", "resnet34")
LABEL_MAPS = {7: "emodb_seven_class", 4: "emodb_four_class"}
#: Reference points on exactly this protocol (UAR, %).
REFERENCES = [
    ("published ComParE_2016 functionals + SVM", 77.1, None),
    ("linear SVM, ComParE_2016, training-statistics standardisation", 78.6, 85.6),
    ("linear SVM, ComParE_2016, per-speaker standardisation", 85.6, 89.0),
    ("published wav2vec 2.0 large embedding + SVM (not offline here)", 93.4, None),
]


def part_config(part: str, classes: int, arguments: argparse.Namespace):  # noqa: ANN201 (ExperimentConfig)
    import emofuse

    data = yaml.safe_load((CONFIGS / f"speech_{part}.yaml").read_text())
    data["data"]["corpus"]["path"] = str(shared("data", "emodb"))
    data["data"]["label_map"] = LABEL_MAPS[classes]
    data["extraction"] = {**data.get("extraction", {}), "cache_dir": arguments.cache}
    if arguments.seeds is not None:
        data["seeds"] = arguments.seeds
    if arguments.epochs is not None:
        for system in data["systems"].values():
            if "training" in system:
                system["training"] = {**system["training"], "max_epochs": arguments.epochs}
    return emofuse.load_experiment(data)


def run_part(part: str, classes: int, arguments: argparse.Namespace) -> None:
    import emofuse

    config = part_config(part, classes, arguments)
    directory = pathlib.Path(arguments.runs) / f"{part}_{classes}"
    log.info("running %s (%d classes) into %s", part, classes, directory)
    start = time.perf_counter()
    emofuse.run_experiment(config, directory, progress=arguments.progress, jobs=arguments.jobs)
    seconds = time.perf_counter() - start
    timing = directory / "timing.json"
    previous = json.loads(timing.read_text()) if timing.exists() else {"seconds": 0.0, "invocations": 0}
    timing.write_text(json.dumps({"seconds": previous["seconds"] + seconds, "invocations": previous["invocations"] + 1,
                                  "peak_memory_mb": max(previous.get("peak_memory_mb", 0.0), peak_memory_mb())}))


def normalization(systems: dict, name: str) -> str:
    """A system's input standardisation; a fusion is ``speaker`` if any member is."""
    spec = systems[name]
    if spec.get("members"):
        kinds = {normalization(systems, member) for member in spec["members"]}
        return "speaker" if "speaker" in kinds else kinds.pop()
    return spec.get("normalization", "global")


def collect(arguments: argparse.Namespace) -> tuple[list[dict], dict]:
    """One row per system (7- and 4-class scores side by side) from the finished runs."""
    rows: dict[tuple[str, str], dict] = {}
    timings = {}
    for part in PARTS:
        for classes in LABEL_MAPS:
            directory = pathlib.Path(arguments.runs) / f"{part}_{classes}"
            summary_file = directory / "results" / "summary.json"
            if not summary_file.exists():
                continue
            summary = json.loads(summary_file.read_text())
            predictions = pd.read_csv(directory / "results" / "predictions.csv", dtype={"id": str, "truth": str, "prediction": str})
            pooled = pooled_summary(predictions, task_type="categorical", labels=sorted(set(predictions["truth"])))
            pooled = pooled.set_index("system")
            config = yaml.safe_load((directory / "config.yaml").read_text())
            if (directory / "timing.json").exists():
                timings[f"{part}_{classes}"] = json.loads((directory / "timing.json").read_text())
            for record in summary["systems"]:
                system = record["system"]
                spec = config["systems"][system]
                row = rows.setdefault((part, system), {
                    "part": part,
                    "system": system,
                    "inputs": ", ".join(spec.get("inputs") or spec.get("members") or []),
                    "model": (spec.get("model") or spec.get("fusion") or {}).get("name"),
                    "normalization": normalization(config["systems"], system),
                    "epochs": (spec.get("training") or {}).get("max_epochs") if spec.get("model") and spec["model"]["name"] not in {"svm", "logistic_regression"} else None,
                })
                row[f"UA{classes}"] = record["UA_mean"]
                row[f"UA{classes}_std"] = record["UA_std"]
                row[f"runs{classes}"] = f"{record['folds']}×{record['seeds']}"
                row[f"UA{classes}_pooled"] = float(pooled.loc[system, "UA_pooled_mean"])
                row[f"UA{classes}_pooled_std"] = float(pooled.loc[system, "UA_pooled_std"])
    return list(rows.values()), timings


def markdown(rows: list[dict], timings: dict) -> str:
    def score(row: dict, classes: int) -> str:
        if f"UA{classes}" not in row:
            return "not run"
        return f"{100 * row[f'UA{classes}']:.1f} ± {100 * row[f'UA{classes}_std']:.1f} ({row[f'runs{classes}']})"

    def pooled(row: dict, classes: int) -> str:
        if f"UA{classes}_pooled" not in row:
            return ""
        std = f" ± {100 * row[f'UA{classes}_pooled_std']:.1f}" if row[f"runs{classes}"].split("×")[1] != "1" else ""
        return f"{100 * row[f'UA{classes}_pooled']:.1f}{std}"

    header = ["part", "system", "inputs", "model", "normalisation", "7-class UAR %", "7-class pooled", "4-class UAR %",
              "4-class pooled", "epochs"]
    default = [r for r in rows if r["normalization"] != "speaker"]
    speaker = [r for r in rows if r["normalization"] == "speaker"]
    text = ["Leave-one-speaker-out on EmoDB (10 folds; dev = the next speaker, except the `fusion` part: a stratified "
            "20 % of the nine non-test speakers' utterances), UAR mean ± std over folds × seeds (folds×seeds in brackets). "
            "`pooled`: the UAR of all ten folds' test predictions pooled (one score per seed; mean ± std over seeds), "
            "the way the reference points below were computed. "
            "Deep models ran with reduced width / epochs and one seed on two shared CPU cores (see `epochs` and "
            "`benchmarks/configs/speech_<part>.yaml`).", "", "## Default: standardisation with training statistics (or none)", ""]
    table = lambda part: [[r["part"], r["system"], r["inputs"], r["model"], r["normalization"], score(r, 7), pooled(r, 7),  # noqa: E731
                           score(r, 4), pooled(r, 4), r["epochs"] or ""] for r in part]
    text.append(markdown_table(header, table(default)))
    text += ["## Per-speaker standardisation (uses the test speaker's unlabelled audio; report separately)", ""]
    text.append(markdown_table(header, table(speaker)))
    text += ["## Reference points (same protocol)", "",
             "These UARs are of the test predictions pooled over the ten folds (emofuse's C = 1 ComParE SVM reproduces "
             "the 78.6 / 85.6 / 85.6 / 89.0 points as 78.8 / 86.2 / 86.1 / 89.0 pooled, against 75.5 / 84.6 / 83.8 / 88.8 "
             "as fold means): compare them with the `pooled` columns.", ""]
    text.append(markdown_table(["reference", "7-class UAR %", "4-class UAR %"],
                               [[name, seven, four if four is not None else ""] for name, seven, four in REFERENCES]))
    best = {kind: max((r for r in group if "UA7" in r), key=lambda r: r["UA7"], default=None)
            for kind, group in (("default", default), ("speaker", speaker))}
    text += ["## Best 7-class pipelines", "",
             "The best row of each table by the fold mean. Picking the best of many rows after seeing their test scores "
             "flatters it. Each part's design is in its config, fixed before it ran; `fusion` and `ensemble` were designed after "
             "earlier parts' results (their configs say so).", ""]
    for kind, row in best.items():
        if row is not None:
            text.append(f"- {kind}: `{row['system']}` ({row['part']}): {score(row, 7)}, pooled {pooled(row, 7)}; goal ≥ 88 %: "
                        f"{'met' if row['UA7'] >= 0.88 else 'not met'} by the fold mean, "
                        f"{'met' if row['UA7_pooled'] >= 0.88 else 'not met'} pooled")
    text += ["", "## Wall time per run (shared, loaded 2-core CPU)", ""]
    text.append(markdown_table(["run", "seconds", "peak memory MiB"],
                               [[k, f"{v['seconds']:.0f}", f"{v.get('peak_memory_mb', 0):.0f}"] for k, v in sorted(timings.items())]))
    return "\n".join(text) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated parts of {', '.join(PARTS)}")
    parser.add_argument("--classes", default="7,4", help="7, 4 or 7,4")
    parser.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=None,
                        help="override the seeds of the configs (e.g. 0,1,2)")
    parser.add_argument("--epochs", type=int, default=None, help="override max_epochs of trained systems")
    parser.add_argument("--runs", default="/tmp/emofuse_bench/emodb_speech")
    parser.add_argument("--cache", default="/tmp/emofuse_bench/cache")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's own)")
    parser.add_argument("--jobs", type=int, default=1, help="folds trained at a time (worker processes)")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--progress", action="store_true")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if arguments.threads:
        import torch

        torch.set_num_threads(arguments.threads)
    shared("data", "emodb")
    if not arguments.report_only:
        parts = [p for p in arguments.parts.split(",") if p]
        unknown = sorted(set(parts) - set(PARTS))
        if unknown:
            parser.error(f"unknown parts {unknown}; choose from {', '.join(PARTS)}")
        for part in parts:
            for classes in (int(c) for c in arguments.classes.split(",")):
                run_part(part, classes, arguments)
    rows, timings = collect(arguments)
    text = markdown(rows, timings)
    path = write_results("emodb_speech", {"rows": rows, "timings": timings, "runs": arguments.runs,
                                          "references": REFERENCES}, text)
    print(text)  # noqa: T201 (the final table)
    log.info("wrote %s", path)


if __name__ == "__main__":
    main()
