"""The ``emofuse`` command line: parses arguments and calls the public API, nothing more."""

from __future__ import annotations

import json
import logging
import pathlib
import sys
from typing import Annotated

import typer

app = typer.Typer(
    name="emofuse",
    help="Speech emotion recognition fusing acoustics and words, under honest protocols.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: rendering it with rich imports as much again as the CLI itself
)

Overrides = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config key: --set systems.text.training.max_epochs=3 (repeatable)."),
]
Variants = Annotated[
    list[str] | None,
    typer.Option("--variant", help="Named override sets the recipe defines, applied in order: --variant offline,paper "
                                   "or --variant offline --variant paper."),
]


def _names(values: list[str] | None) -> list[str] | None:
    """Repeated and comma-separated option values as one list (``--system a,b --system c``)."""
    if not values:
        return None
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning", "transformers", "urllib3", "numba", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


_STATE = {"verbose": False}


def _fail(error: Exception) -> None:
    """Report an expected error in one line (with --verbose, the traceback too)."""
    if _STATE["verbose"]:
        raise error
    typer.secho(f"error: {error}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


@app.callback()
def main_options(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging and full tracebacks.")] = False) -> None:
    _STATE["verbose"] = verbose
    _setup_logging(verbose)


@app.command()
def prepare(
    corpus: Annotated[str, typer.Argument(help="Corpus reader: iemocap, msp_podcast, emodb, ravdess, cremad, manifest, semeval, goemotions, emobank, meld, paired.")],
    output: Annotated[pathlib.Path, typer.Option("--output", "-o", help="Manifest to write (.csv, .parquet or .jsonl).")],
    path: Annotated[pathlib.Path | None, typer.Argument(help="The corpus root directory (or file for 'manifest'); leave out for 'paired'.")] = None,
    options: Overrides = None,
) -> None:
    """Read a corpus into a manifest (one row per utterance), validating what it reads."""
    from emofuse.components import CORPORA
    from emofuse.config import apply_overrides
    from emofuse.config import parse

    try:
        entry = CORPORA.get(corpus)
        config = parse(entry.config_class, apply_overrides({} if path is None else {"path": str(path)}, options or []))
        manifest = CORPORA.build(corpus, config)
        manifest.save(output)
    except (ValueError, KeyError, OSError) as error:
        _fail(error)
    typer.echo(f"wrote {len(manifest)} utterances to {output}")


@app.command()
def info(
    manifest: Annotated[pathlib.Path, typer.Argument(help="A manifest written by 'emofuse prepare'.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
) -> None:
    """Counts per class, emotion code, session and speaker, and total duration."""
    from emofuse.data.manifest import Manifest

    try:
        summary = Manifest.load(manifest).summary()
    except (ValueError, OSError) as error:
        _fail(error)
    if as_json:
        typer.echo(json.dumps(summary, indent=2))
        return
    typer.echo(f"{manifest}: {summary['utterances']} utterances, {summary['hours']:.3f} h")
    for key in ("label", "emotion", "session", "speaker", "corpus"):
        counts = summary[key]
        if set(counts) == {"<none>"}:
            continue
        typer.echo(f"\n{key}:")
        width = max(len(k) for k in counts)
        for value, count in counts.items():
            typer.echo(f"  {value:<{width}}  {count:>6}")


@app.command()
def run(
    config: Annotated[pathlib.Path, typer.Argument(help="Experiment YAML (see recipes/).")],
    output: Annotated[pathlib.Path | None, typer.Option("--output", "-o", help="Run directory (default: runs/<name>).")] = None,
    options: Overrides = None,
    variant: Variants = None,
    restart: Annotated[bool, typer.Option("--restart", help="Discard an existing run in the output directory.")] = False,
    system: Annotated[list[str] | None, typer.Option("--system", help="Run only these systems (and their members): --system a,b or repeated.")] = None,
    fold: Annotated[list[str] | None, typer.Option("--fold", help="Run only these folds (by name, e.g. session_1): comma-separated or repeated.")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bars.")] = True,
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Folds trained at the same time, in worker processes.")] = 1,
) -> None:
    """Run every system on every fold and seed; write predictions, metrics and summary tables.

    Re-running the same command resumes: finished folds are skipped and an interrupted fold
    continues from its last checkpoint.
    """
    from emofuse.experiment import load_experiment

    try:
        experiment = load_experiment(config, overrides=options, variant=",".join(_names(variant) or []) or None)
    except (ValueError, KeyError, OSError) as error:
        _fail(error)
    from emofuse.text.lm import ModelLoadError
    from emofuse.training import RunError
    from emofuse.training import RunInterrupted
    from emofuse.training import run_experiment

    try:
        directory = output or pathlib.Path("runs") / experiment.name
        result = run_experiment(experiment, directory, progress=progress, restart=restart, systems=_names(system), folds=_names(fold),
                                jobs=jobs)
    except RunInterrupted as interrupted:
        typer.secho(str(interrupted), fg=typer.colors.YELLOW, err=True)
        raise typer.Exit(code=interrupted.exit_code) from None
    except (ValueError, KeyError, OSError, RunError, ModelLoadError) as error:
        _fail(error)
    _print_summary(result.directory)


@app.command()
def extract(
    config: Annotated[pathlib.Path, typer.Argument(help="Experiment YAML: its corpora and the front-ends its systems read.")],
    output: Annotated[pathlib.Path | None, typer.Option("--output", "-o", help="Store directory (default: the config's extraction.store.path).")] = None,
    devices: Annotated[str | None, typer.Option("--devices", help="Processes per machine: GPUs, or CPU processes (default 1; 'auto').")] = None,
    num_nodes: Annotated[int | None, typer.Option("--num-nodes", help="Machines (each runs --devices processes).")] = None,
    accelerator: Annotated[str | None, typer.Option("--accelerator", help="cpu, gpu or auto (Lightning's).")] = None,
    strategy: Annotated[str | None, typer.Option("--strategy", help="Lightning strategy: auto (ddp for several devices), ddp_spawn, ...")] = None,
    shard_size: Annotated[int | None, typer.Option("--shard-size", help="Utterances per shard (default 1000).")] = None,
    dtype: Annotated[str | None, typer.Option("--dtype", help="float32 (default) or float16.")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Utterances per step (default 16).")] = None,
    num_workers: Annotated[int | None, typer.Option("--num-workers", help="Audio-decoding processes per device (default 0).")] = None,
    precision: Annotated[str | None, typer.Option("--precision", help="32-true (default), 16-mixed or bf16-mixed (neural front-ends on GPUs).")] = None,
    feature: Annotated[list[str] | None, typer.Option("--feature", help="Only these front-ends (by input name).")] = None,
    options: Overrides = None,
    variant: Variants = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bars.")] = True,
) -> None:
    """Extract an experiment's features into a sharded store, on one or many devices and machines.

    Lightning's Trainer.predict runs one process per device; each writes whole shards, and a
    re-run writes only the missing ones. `emofuse run CONFIG --set extraction.store.path=STORE`
    then trains from the store.
    """
    from emofuse.config import parse
    from emofuse.config import to_dict
    from emofuse.experiment import StoreConfig
    from emofuse.experiment import load_experiment

    try:
        experiment = load_experiment(config, overrides=options, variant=",".join(_names(variant) or []) or None)
        base = experiment.extraction.store
        if base is None and output is None:
            raise ValueError("give the store directory with -o STORE (the config has no extraction.store)")
        changes = {"path": None if output is None else str(output), "shard_size": shard_size, "dtype": dtype,
                   "batch_size": batch_size, "num_workers": num_workers, "accelerator": accelerator,
                   "num_nodes": num_nodes, "strategy": strategy, "precision": precision,
                   "devices": None if devices is None else int(devices) if devices.isdigit() else devices}
        settings = {**(to_dict(base) if base is not None else {}), **{k: v for k, v in changes.items() if v is not None}}
        store = parse(StoreConfig, settings)
    except (ValueError, KeyError, OSError) as error:
        _fail(error)
    from emofuse.text.lm import ModelLoadError
    from emofuse.training.extraction import extract_experiment
    from emofuse.training.runner import is_primary_process

    try:
        reports = extract_experiment(experiment, store, inputs=feature, progress=progress)
    except (ValueError, KeyError, OSError, ModelLoadError) as error:
        _fail(error)
    if not is_primary_process():
        return
    for report in reports:
        typer.echo(f"{report.input}: {report.utterances} utterances in {report.shards} shards, "
                   f"{report.bytes / 1e6:.1f} MB, in {report.directory}")
        if report.failures:
            first = next(iter(report.failures.items()))
            typer.echo(f"  {len(report.failures)} utterances have no features (first: {first[0]}: {first[1]})")


@app.command()
def evaluate(
    run_dir: Annotated[pathlib.Path, typer.Argument(help="A run directory written by 'emofuse run'.")],
    data: Annotated[pathlib.Path, typer.Argument(help="A labelled manifest (.csv, .parquet or .jsonl), e.g. from 'emofuse prepare'.")],
    system: Annotated[list[str] | None, typer.Option("--system", help="Systems to evaluate (default: every finished one).")] = None,
    output: Annotated[pathlib.Path | None, typer.Option("--output", "-o", help="Results directory (default: RUN/evaluations/<manifest name>).")] = None,
    label_map: Annotated[str | None, typer.Option("--label-map", help="Map the data's emotion codes onto the run's classes.")] = None,
    transcript: Annotated[str | None, typer.Option("--transcript", help="Text the text systems read: reference or asr (default: as the run).")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Progress bars.")] = True,
) -> None:
    """Score a run's fitted fold models on other labelled data (metrics, predictions, summary).

    Every finished (seed, fold) model predicts every utterance; the summary is mean ± std over
    the fold models.
    """
    from emofuse.training import EvaluationError
    from emofuse.training import evaluate_run

    try:
        result = evaluate_run(run_dir, data, systems=system, output=output, label_map=label_map,
                              transcript=transcript, progress=progress)
    except (ValueError, KeyError, OSError, EvaluationError) as error:
        _fail(error)
    _print_summary(result.directory)


def _print_summary(directory: pathlib.Path) -> None:
    from emofuse.rundir import SUMMARY_MARKDOWN
    from emofuse.rundir import RunDirectory

    results = RunDirectory(directory).results
    typer.echo((results / SUMMARY_MARKDOWN).read_text())
    typer.echo(f"results in {results}")


#: Modules that add their own commands to ``app`` when imported (one per area of the toolkit);
#: each imports only typer at the top, and the toolkit inside the commands.
COMMAND_MODULES = (
    "emofuse.asr.commands",
    "emofuse.reports.commands",
    "emofuse.inference.commands",
)


def _load_command_modules() -> None:
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(name)


_load_command_modules()


def main() -> None:
    """Entry point of the ``emofuse`` script."""
    try:
        app()
    except KeyboardInterrupt:
        typer.secho("interrupted; re-run the same command to resume", fg=typer.colors.YELLOW, err=True)
        sys.exit(130)


if __name__ == "__main__":  # python -m emofuse.cli: the commands are registered on the imported module's app
    from emofuse.cli import main as _main

    _main()
