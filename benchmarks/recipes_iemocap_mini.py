"""Issue 4's recipe tables: every published-system recipe's ``offline`` variant on IEMOCAP_mini.

Each recipe runs with the small offline encoders that stand in for hub models (MiniLM for
BERT / XLNet, log-Mel frames for wav2vec) on the 167-utterance IEMOCAP replica, reduced to fit a
2-core CPU (``REDUCED`` below: seeds, epochs, CNN widths, and 5 instead of 10 random folds for
IEmoNet; every other protocol is the recipe's own). The
table gives each recipe's speech, text and fused systems; the papers' numbers are on the full
IEMOCAP with the real encoders and are shown for orientation only.

    python benchmarks/recipes_iemocap_mini.py                      # all five (resumes finished folds)
    python benchmarks/recipes_iemocap_mini.py --recipes padi,boigne
    python benchmarks/recipes_iemocap_mini.py --report-only        # tables and report, nothing run

Writes benchmarks/results/recipes_iemocap_mini.{json,md} and the report of the runs in
benchmarks/results/recipes_iemocap_mini_report/. Recipes not run by this invocation keep their
figures from the previous results file, with the date they were measured.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks._common import RESULTS  # noqa: E402
from benchmarks._common import ROOT  # noqa: E402
from benchmarks._common import markdown_table  # noqa: E402
from benchmarks._common import measured_date  # noqa: E402
from benchmarks._common import peak_memory_mb  # noqa: E402
from benchmarks._common import shared  # noqa: E402
from benchmarks._common import write_results  # noqa: E402

RECIPES = ("iemonet", "atmaja", "boigne", "triantafyllopoulos", "padi")
#: Reductions on top of the offline variant, so that the five recipes run in under an hour on 2 CPU cores:
#: the scores show that every recipe runs end to end, not what the papers' systems reach.
REDUCED = {
    "iemonet": ["seeds=[0]", "protocol.folds=5", "systems.ser.training.max_epochs=3", "systems.ter.training.max_epochs=2",
                "systems.iemonet.training.max_epochs=3", "systems.iemonet_unfrozen.training.max_epochs=3",
                "systems.iemonet_unfrozen.model.unfreeze_after=2"],
    "atmaja": ["seeds=[0, 1, 2]", "systems.hsf.training.max_epochs=30", "systems.hsf_we.training.max_epochs=30"],
    "boigne": ["seeds=[0]"] + [f"systems.{s}.training.max_epochs=5" for s in (
        "lld_mean", "lld_mean_max", "lld_attention", "lld_mlp_mean", "wav2vec_mean", "wav2vec_mean_max",
        "wav2vec_attention", "wav2vec_mlp_mean", "bimodal")],
    "triantafyllopoulos": ["seeds=[0]", "evaluate_on={}", "systems.bert.training.max_epochs=1"]
    + [f"systems.{s}.training.max_epochs=3" for s in ("cnn14", "sfcnn14", "mfcnn14")]
    + [f"systems.{s}.{p}channels=[8, 16, 32, 32, 64, 64]"
       for s, p in (("cnn14", "model."), ("sfcnn14", "model.acoustic."), ("mfcnn14", "model.acoustic."))],
    "padi": ["seeds=[0]", "systems.speech.model.channels=8", "systems.speech.model.embedding_size=64",
             "systems.speech.training.max_epochs=3", "systems.speech.training.step_start=2",
             "systems.speech.training.repeat=1", "systems.text.training.max_epochs=1"],
}


def modality(config, name: str) -> str:  # noqa: ANN001 (ExperimentConfig)
    """speech, text or fused, from what a system reads."""
    spec = config.systems[name]
    if spec.members:
        return "fused"
    kinds = set()
    for source in spec.inputs:
        if source == "text":
            kinds.add("text")
        elif source in {"waveform"}:
            kinds.add("speech")
        else:
            from emofuse.features import build_extractor

            kinds.add("speech" if build_extractor(config.features[source]).modality == "audio" else "text")
    return kinds.pop() if len(kinds) == 1 else "fused"


def merged(records: dict[str, dict], previous: dict) -> dict[str, dict]:
    """This invocation's ``records`` with the recipes of ``previous`` results that it did not run,
    each keeping the date it was measured ("by" the file's date for records written before they
    carried one), in the order of :data:`RECIPES`."""
    kept = {name: {**record, "date": measured_date(record, previous)}
            for name, record in (previous.get("recipes") or {}).items() if name not in records}
    every = {**kept, **records}
    return {name: every[name] for name in sorted(every, key=lambda n: RECIPES.index(n) if n in RECIPES else len(RECIPES))}


def table_rows(records: dict[str, dict]) -> list[list]:
    rows = []
    for recipe, record in records.items():
        for name, system in record["systems"].items():
            dimensional = system["metric"] != "UA"
            mean, std = system["mean"], system["std"]
            shown = f"{mean:.3f} ± {std:.3f}" if dimensional else f"{100 * mean:.1f} ± {100 * std:.1f}"
            rows.append([recipe, name, system["modality"], system["metric"] if dimensional else "UA %", shown,
                         system["runs"], "" if system["paper"] is None else system["paper"], record["date"]])
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--runs", type=pathlib.Path, default=ROOT / "runs" / "recipes_iemocap_mini")
    parser.add_argument("--cache", type=pathlib.Path, default=pathlib.Path("/tmp/emofuse-benchmark-cache"))
    parser.add_argument("--report-only", action="store_true",
                        help="run nothing: the table from the previous results file, the report from the runs present")
    arguments = parser.parse_args()
    unknown = sorted(set(arguments.recipes.split(",")) - set(RECIPES))
    if unknown:
        parser.error(f"unknown recipe {', '.join(unknown)}; choose from {', '.join(RECIPES)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    shared("fixtures", "IEMOCAP_mini")

    import os

    import emofuse
    from emofuse.config import load_yaml

    os.chdir(ROOT)  # the recipes name ../shared relative to the repository
    records = {}
    for recipe in [] if arguments.report_only else arguments.recipes.split(","):
        path = ROOT / "recipes" / f"{recipe}.yaml"
        full = load_yaml(path)
        config = emofuse.load_experiment(path, variant="offline,paper", overrides=[
            *REDUCED[recipe], f"extraction.cache_dir={arguments.cache}", "extraction.num_workers=2"])
        start = time.perf_counter()
        result = emofuse.run_experiment(config, arguments.runs / recipe, progress=False)
        seconds = time.perf_counter() - start
        dimensional = config.task.type == "dimensional"
        metric = "CCC_mean" if dimensional else "UA"
        paper = full.get("references") or {}
        records[recipe] = {"overrides": REDUCED[recipe], "seconds": round(seconds, 1),
                           "date": datetime.date.today().isoformat(), "systems": {}}
        for row in result.summary.to_dict(orient="records"):
            name = row["system"]
            mean = row.get(f"{metric}_mean_mean", row.get(f"{metric}_mean"))
            std = row.get(f"{metric}_mean_std", row.get(f"{metric}_std"))
            reference = (paper.get(name) or {}).get(metric)
            records[recipe]["systems"][name] = {"modality": modality(config, name), "metric": metric,
                                                "mean": mean, "std": std, "runs": row["runs"], "paper": reference}
        logging.info("%s: %.0f s", recipe, seconds)
    previous = RESULTS / "recipes_iemocap_mini.json"
    records = merged(records, json.loads(previous.read_text()) if previous.is_file() else {})
    reported = [recipe for recipe in records if (arguments.runs / recipe).is_dir()]
    text = [
        "IEMOCAP_mini (167 utterances, 4 classes; Atmaja: V/A/D), each recipe's own protocol, its `offline` and `paper` "
        "variant (MiniLM-L6 for BERT/XLNet, log-Mel frames for wav2vec 2.0, a trainable embedding for GloVe), "
        "reduced for 2 CPU cores as listed in `REDUCED` of the script. Mean ± std over folds × seeds. "
        "Paper: the published figure on the full IEMOCAP with the real encoders (orientation only, not comparable).",
        "",
        markdown_table(["recipe", "system", "modality", "metric", "score", "folds×seeds", "paper", "date"],
                       table_rows(records)),
        "Wall time of each recipe's run (a recipe resumed from a finished run takes about 0 s; recipes not run by "
        "this command keep the time and date of their own run): "
        + ", ".join(f"{k} {v['seconds']:.0f} s ({v['date']})" for k, v in records.items())
        + f"; peak memory of this command {peak_memory_mb():.0f} MiB.",
    ]
    markdown = "\n".join(text) + "\n"
    from emofuse.reports import ReportOptions
    from emofuse.reports import build_report

    if reported:  # the report needs the runs themselves (the results file holds their summaries only)
        build_report([arguments.runs / recipe for recipe in reported], RESULTS / "recipes_iemocap_mini_report",
                     options=ReportOptions(title="Recipes on IEMOCAP_mini (offline variants)"))
        markdown += ("\nReport with t-tests, confusion matrices and protocol facts (the runs of " + ", ".join(reported)
                     + "): `benchmarks/results/recipes_iemocap_mini_report/report.md`.\n")
    write_results("recipes_iemocap_mini", {"recipes": records, "peak_memory_mb": peak_memory_mb()}, markdown)
    print(markdown)  # noqa: T201 (the table)


if __name__ == "__main__":
    main()
