"""The report of run directories, written into ``benchmarks/results/<name>/``.

    python benchmarks/report_iemocap_mini.py                       # run the IEMOCAP_mini set, then report it
    python benchmarks/report_iemocap_mini.py RUN [RUN ...] --name report_emodb_bimodal   # report given runs

Without run directories the script runs (or resumes) the IEMOCAP_mini set into ``--runs-dir``
(default ``runs/report_iemocap_mini``): ``recipes/baseline_iemocap_mini.yaml`` as it is
(categorical) and as a dimensional task with the dialogue acts of ``../shared``, both with every
fold model also tested on MSP_mini (``evaluate_on``, for the cross-corpus table), and as
few-shot runs with 4, 8 and 16 training utterances per class for the data-size curve. Then it writes
``results/<name>/report.md`` (figures and CSV tables beside it) and ``results/<name>.json`` /
``results/<name>.md`` with the command, the machine and the headline table.
"""

from __future__ import annotations

import argparse
import logging
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks._common import RESULTS  # noqa: E402
from benchmarks._common import ROOT  # noqa: E402
from benchmarks._common import shared  # noqa: E402
from benchmarks._common import timer  # noqa: E402
from benchmarks._common import write_results  # noqa: E402

RECIPE = ROOT / "recipes" / "baseline_iemocap_mini.yaml"
FEW_SHOT = (4, 8, 16)


def iemocap_mini_runs(directory: pathlib.Path) -> list[pathlib.Path]:
    """Run (or resume) the IEMOCAP_mini set; returns the run directories."""
    from emofuse.experiment import load_experiment
    from emofuse.training import run_experiment

    corpus = shared("fixtures", "IEMOCAP_mini")
    acts = shared("fixtures", "dialogue_acts.csv")
    msp = f"evaluate_on={{msp_mini: {{corpus: {{name: msp_podcast, path: {shared('fixtures', 'MSP_mini')}}}}}}}"
    common = [f"data.corpus.path={corpus}", f"extraction.cache_dir={directory / 'cache'}"]
    variants = {
        "categorical": [msp],
        "dimensional": ["task.type=dimensional", f"data.corpus.dialogue_acts={acts}", "name=baseline_iemocap_mini_dimensional", msp],
    }
    for n in FEW_SHOT:
        variants[f"few_shot_{n}"] = [
            f"protocol={{name: few_shot, n_per_class: {n}, base: {{name: leave_one_session_out, dev_fraction: 0.2}}}}",
            f"name=baseline_iemocap_mini_few_shot_{n}",
        ]
    paths = []
    for name, overrides in variants.items():
        path = directory / name
        logging.info("run %s -> %s", name, path)
        run_experiment(load_experiment(RECIPE, overrides=common + overrides), path, progress=False)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="*", type=pathlib.Path, help="run directories (default: run the IEMOCAP_mini set)")
    parser.add_argument("--name", default="report_iemocap_mini", help="result name under benchmarks/results/")
    parser.add_argument("--runs-dir", type=pathlib.Path, default=ROOT / "runs" / "report_iemocap_mini",
                        help="where the IEMOCAP_mini set is run when no run directories are given")
    parser.add_argument("--dialogue-acts", type=pathlib.Path, help="EMOTyDA-format file of dialogue acts")
    parser.add_argument("--format", choices=("md", "html"), default="md")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    from emofuse.data.corpora.iemocap import read_dialogue_acts
    from emofuse.evaluation.aggregate import summarize
    from emofuse.evaluation.aggregate import summary_caption
    from emofuse.evaluation.aggregate import summary_table
    from emofuse.reports import ReportOptions
    from emofuse.reports import build_report
    from emofuse.reports import load_run
    from emofuse.reports.render import Heading
    from emofuse.reports.render import Paragraph
    from emofuse.reports.render import Table
    from emofuse.reports.render import render_markdown

    with timer() as elapsed:
        runs = args.runs or iemocap_mini_runs(args.runs_dir)
    acts = read_dialogue_acts(args.dialogue_acts) if args.dialogue_acts else None
    output = RESULTS / args.name
    with timer() as drawing:
        report = build_report(runs, output, format=args.format, options=ReportOptions(dialogue_acts=acts))
    tables, headline = [], {}
    for path in runs:
        run = load_run(path)
        summary = summarize(run.metrics, systems=run.systems)
        headline[str(path)] = summary.to_dict(orient="records")
        tables.append(render_markdown([
            Heading(f"{run.name} ({run.task_type})", 2),
            Paragraph(summary_caption(task_type=run.task_type, protocol=str(run.protocol.get("name")),
                                      verdict=str(run.validation.get("verdict", "?")), seeds=run.seeds, pooled=False)),
            Table(summary_table(summary, task_type=run.task_type, references=run.references), "")]))
    markdown = f"Full report: [{report.relative_to(RESULTS)}]({report.relative_to(RESULTS)})\n\n" + "\n".join(tables)
    written = write_results(args.name, {"runs": [str(p) for p in runs], "report": str(report.relative_to(ROOT) if report.is_relative_to(ROOT) else report),
                                        "seconds_running": elapsed["seconds"], "seconds_reporting": drawing["seconds"],
                                        "systems": headline}, markdown)
    print(f"wrote {report} and {written}")


if __name__ == "__main__":
    main()
