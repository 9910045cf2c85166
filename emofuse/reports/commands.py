"""The ``emofuse report`` command (added to the CLI when this module is imported)."""

from __future__ import annotations

import dataclasses
import pathlib
from typing import Annotated

import typer

from emofuse.cli import _fail
from emofuse.cli import app


@app.command()
def report(
    runs: Annotated[list[pathlib.Path], typer.Argument(help="Run directories written by 'emofuse run'.")],
    output: Annotated[pathlib.Path, typer.Option("--output", "-o", help="Report directory (report.md or report.html, figures/, tables/).")],
    format: Annotated[str, typer.Option("--format", help="md (Markdown + PNG files) or html (one self-contained file).")] = "md",
    dialogue_acts: Annotated[pathlib.Path | None, typer.Option("--dialogue-acts", help="EMOTyDA-format CSV (TURN,UTTERANCE,DA,EMOTION) of dialogue acts per utterance id.")] = None,
    baseline: Annotated[list[str] | None, typer.Option("--baseline", help="A system the others are tested against, in marker order (*, †, ...); repeatable. Default: the unimodal systems.")] = None,
    stratify: Annotated[str, typer.Option("--stratify", help="Manifest column for the stratified analysis.")] = "scripted",
    alpha: Annotated[float, typer.Option("--alpha", help="Significance level of the tests.")] = 0.05,
    test: Annotated[str, typer.Option("--test", help="How systems are compared: paired_t (default), wilcoxon or independent_t.")] = "paired_t",
    title: Annotated[str | None, typer.Option("--title", help="Report title.")] = None,
    draw: Annotated[bool, typer.Option("--figures/--no-figures", help="Draw the figures (off: tables only, faster).")] = True,
) -> None:
    """Tables and figures of one or more runs: scores with t-tests, confusion matrices, per-emotion
    F1, scripted vs improvised, dialogue-act bias, residuals, data-size curves, cross-corpus results."""
    from emofuse.data.corpora import CorpusError
    from emofuse.data.corpora.iemocap import read_dialogue_acts
    from emofuse.reports import ReportOptions
    from emofuse.reports import RunDirectoryError
    from emofuse.reports import build_report

    try:
        acts = read_dialogue_acts(dialogue_acts) if dialogue_acts else None
        from emofuse.config import parse

        options = parse(ReportOptions, {"baselines": list(baseline) if baseline else None, "stratify": stratify,
                                        "alpha": alpha, "title": title, "figures": draw, "test": test})
        options = dataclasses.replace(options, dialogue_acts=acts)
        path = build_report(runs, output, format=format, options=options)
    except (ValueError, OSError, KeyError, RunDirectoryError, CorpusError) as error:
        _fail(error)
    typer.echo(f"wrote {path}")
