"""Issue 2's benchmarks: the spine's models through `emofuse run`.

- EmoDB, 7 and 4 classes, leave-one-speaker-out (10 folds) x 3 seeds: the log-Mel statistics MLP.
- IEMOCAP_mini, 4 classes, leave-one-session-out x 3 seeds: audio, text (frozen MiniLM) and late fusion.

    python benchmarks/spine.py [--cache DIR] [--runs DIR]

Writes benchmarks/results/spine.json and spine.md.
"""

from __future__ import annotations

import argparse
import logging
import pathlib

from _common import ROOT
from _common import markdown_table
from _common import peak_memory_mb
from _common import shared
from _common import timer
from _common import write_results

import emofuse
from emofuse.evaluation.aggregate import format_score

RUNS = {
    "emodb_7": ("recipes/baseline_emodb.yaml", []),
    "emodb_4": ("recipes/baseline_emodb.yaml", ["data.label_map=emodb_four_class"]),
    "iemocap_mini": ("recipes/baseline_iemocap_mini.yaml", []),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cache", default="/tmp/emofuse-benchmark-cache")
    parser.add_argument("--runs", default="/tmp/emofuse-benchmark-runs/spine")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    shared("data", "emodb")
    shared("fixtures", "IEMOCAP_mini")
    results, rows = {}, []
    for name, (recipe, overrides) in RUNS.items():
        config = emofuse.load_experiment(ROOT / recipe, overrides=[*overrides, f"extraction.cache_dir={arguments.cache}",
                                                                    "extraction.num_workers=2"])
        with timer() as elapsed:
            result = emofuse.run_experiment(config, pathlib.Path(arguments.runs) / name, progress=False, restart=True)
        systems = {}
        for row in result.summary.to_dict(orient="records"):
            systems[row["system"]] = {k: row[k] for k in ("UA_mean", "UA_std", "WA_mean", "WA_std", "macro_F1_mean", "macro_F1_std", "runs")}
            rows.append([name, row["system"], format_score(row["UA_mean"], row["UA_std"], percent=True),
                         format_score(row["WA_mean"], row["WA_std"], percent=True), row["runs"]])
        results[name] = {"recipe": recipe, "overrides": overrides, "seconds": round(elapsed["seconds"], 1), "systems": systems}
    table = markdown_table(["run", "system", "UA %", "WA %", "folds x seeds"], rows)
    note = ("\nUA/WA: mean ± std over folds × seeds. EmoDB: leave-one-speaker-out (10 folds), 3 seeds; "
            "IEMOCAP_mini: leave-one-session-out (5 folds), 3 seeds. Peak memory "
            f"{peak_memory_mb():.0f} MiB.\n")
    write_results("spine", {"runs": results, "peak_memory_mb": peak_memory_mb()}, table + note)
    print(table + note)


if __name__ == "__main__":
    main()
