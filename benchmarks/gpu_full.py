"""The papers' full settings on one GPU (issue 12), or a CPU check that every model builds at full size.

On a GPU machine (``bash benchmarks/gpu_full.sh``): the five recipes' offline variants on the
IEMOCAP replica with their papers' full settings (full widths and epochs, 5 seeds, the
``paper`` variant where a recipe has one), then the deep EmoDB benchmark at full widths, each
system with ``accelerator: gpu`` and bf16 mixed precision; prints each part's time and scores
and writes ``benchmarks/results/gpu_full.json`` / ``.md``.

On CPU (``bash benchmarks/gpu_full.sh --dry-run``): reads the same corpora and configs, builds
every neural system of the plan at full size on real inputs and trains each for one epoch on a few
utterances through the same Lightning training, with its settings and the GPU run's bf16 mixed
precision (no GPU needed), so that a GPU session never fails on a config, a shape or the precision.
A system that fails is reported with its error (and the systems over it as failed with it), the
others still train, and the dry run then exits non-zero naming every failure.

    bash benchmarks/gpu_full.sh                 # GPU: everything (goal: under 8 minutes on one large GPU)
    bash benchmarks/gpu_full.sh --dry-run       # CPU: one short epoch per model at full size, bf16 mixed
    bash benchmarks/gpu_full.sh --parts recipes --recipes padi
    # the pseudo-bimodal fusions and the 7-class CNN14 at full width, seed 0, 15 folds at once, 8.5 min in all
    bash benchmarks/gpu_full.sh --parts deep --deep deep_pseudo_bimodal4,deep_emodb7 \\
        --systems cnn14,sfcnn14,mfcnn14 --seeds 0 --jobs 15 --minutes 8.5

Runs going when ``--minutes`` are up are stopped and reported with the folds they finished;
``--seeds`` and ``--systems`` narrow the full settings, and every row says what it ran.
"""

from __future__ import annotations

import argparse
import functools
import logging
import math
import pathlib
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from collections.abc import Sequence

if __package__ in {None, ""}:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks._common import ROOT
from benchmarks._common import cpu_features
from benchmarks._common import markdown_table
from benchmarks._common import shared
from benchmarks._common import write_results

log = logging.getLogger("gpu_full")

RECIPES = ("iemonet", "atmaja", "boigne", "triantafyllopoulos", "padi")
SEEDS = "seeds=[0, 1, 2, 3, 4]"
#: Full settings of the deep EmoDB benchmark: the papers' widths (CNN14 64-2048 channels with 5 s
#: crops, ResNet34 32 channels) and more epochs, 5 seeds.
DEEP_FULL = [SEEDS,
             "systems.cnn14.model.channels=[64, 128, 256, 512, 1024, 2048]", "systems.cnn14.model.crop_seconds=5.0",
             "systems.cnn14.training.max_epochs=60", "systems.resnet34.model.channels=32",
             "systems.resnet34.training.max_epochs=60"]
DEEP_BIMODAL_FULL = [SEEDS, *[f"systems.{s}.{p}channels=[64, 128, 256, 512, 1024, 2048]"
                              for s, p in (("cnn14", "model."), ("sfcnn14", "model.acoustic."), ("mfcnn14", "model.acoustic."))],
                     *[f"systems.{s}.training.max_epochs=60" for s in ("cnn14", "sfcnn14", "mfcnn14")]]


def _neural(config) -> list[str]:  # noqa: ANN001 (ExperimentConfig)
    return [n for n, s in config.systems.items() if s.model is not None and s.model.name not in {"svm", "logistic_regression"}]


def device_overrides(config, *, accelerator: str, precision: str) -> list[str]:  # noqa: ANN001
    """Every neural system on ``accelerator`` with ``precision``, its batches collated in its own process
    (the features are in memory; the folds trained at once are the parallel work)."""
    return [o for n in _neural(config) for o in (f"systems.{n}.training.accelerator={accelerator}",
                                                  f"systems.{n}.training.precision={precision}",
                                                  f"systems.{n}.training.num_workers=0")]


def plan() -> list[tuple[str, pathlib.Path, str | None, list[str]]]:
    """``(name, config, variants, overrides)`` of every run at full settings."""
    from emofuse.config import load_yaml

    runs = []
    for recipe in RECIPES:
        path = ROOT / "recipes" / f"{recipe}.yaml"
        variants = load_yaml(path).get("variants") or {}
        chosen = ",".join(v for v in ("offline", "paper") if v in variants)
        runs.append((recipe, path, chosen, [SEEDS]))
    runs.append(("deep_emodb7", ROOT / "benchmarks" / "configs" / "deep_emodb.yaml", None, DEEP_FULL))
    runs.append(("deep_emodb4", ROOT / "benchmarks" / "configs" / "deep_emodb.yaml", None,
                 [*DEEP_FULL, "data.label_map=emodb_four_class"]))
    runs.append(("deep_pseudo_bimodal4", ROOT / "benchmarks" / "configs" / "deep_pseudo_bimodal.yaml", None, DEEP_BIMODAL_FULL))
    return runs


def selected(arguments: argparse.Namespace, name: str) -> bool:
    deep = name.startswith("deep")
    if (arguments.parts == "recipes" and deep) or (arguments.parts == "deep" and not deep):
        return False
    if deep:
        return not getattr(arguments, "deep", None) or name in arguments.deep.split(",")
    return not arguments.recipes or name in arguments.recipes.split(",")


#: The GPU run's mixed precision, which the dry run trains with too (``torch.autocast`` in bfloat16
#: works on any CPU): a model or setting that fails under it fails here first.
PRECISION = "bf16-mixed"


def _few(task, corpus, ids, per_class: int) -> list[str]:  # noqa: ANN001 (Task, Corpus)
    """The first ``per_class`` utterances of each class among ``ids`` (every class present, as the
    class weights need), or the first ``4 * per_class`` for dimensional tasks."""
    if task.type != "categorical":
        return list(ids[:4 * per_class])
    truth = task.truth([corpus.manifest[i] for i in ids])
    return [i for k in range(len(task.outputs)) for i in [u for u, t in zip(ids, truth, strict=True) if t == k][:per_class]]


def one_epoch(runner, name: str, main, task, fold, built: dict, scratch: pathlib.Path) -> dict:  # noqa: ANN001
    """Build system ``name`` at full size and train it for one epoch on a few of the fold's training
    utterances (two per class; one per class to choose the epoch on) on CPU, through the same
    Lightning training as a real run, with its training settings and the GPU run's precision."""
    import dataclasses

    import pandas as pd

    from emofuse.systems.base import build_system

    config = runner.config.systems[name]
    failed = [m for m in config.members if m not in built]
    if failed:
        raise RuntimeError(f"its members {failed} failed above")
    members = [built[m] for m in config.members]
    spec = runner.spec(name, task, main, [m.spec for m in members])
    start = time.perf_counter()
    system = build_system(spec, members=members or None)
    if not hasattr(system, "module"):
        built[name] = system
        return {"system": name, "parameters": 0, "seconds": round(time.perf_counter() - start, 2), "note": "classic"}
    training = dataclasses.replace(config.training, max_epochs=1, precision=PRECISION, accelerator="cpu", devices=1,
                                   num_nodes=1, strategy="auto", num_workers=0)
    train = runner.data(name, task, main, _few(task, main, fold.train, 2))
    dev = runner.data(name, task, main, _few(task, main, fold.dev, 1)) if fold.dev else None
    directory = scratch / "fits" / name
    system.fit(train, dev, task=task, training=training, seed=0, directory=directory, progress=False)
    built[name] = system  # trained: the systems over it may use it
    logged = pd.concat([pd.read_csv(p) for p in sorted(directory.glob("logs/version_*/metrics.csv"))])
    loss = float(logged["train_loss"].dropna().iloc[-1]) if "train_loss" in logged else float("nan")
    if not math.isfinite(loss):
        raise RuntimeError(f"{name}: no finite training loss in the dry-run epoch")
    return {"system": name, "parameters": sum(p.numel() for p in system.module.parameters()),
            "seconds": round(time.perf_counter() - start, 2), "loss": round(loss, 4)}


def train_each(run: str, systems: Sequence[str], train: Callable[[str], dict]) -> list[dict]:
    """The rows of ``train(system)`` for each of ``systems`` in order. A system that fails becomes a
    row with its error (logged with the run and system) and the others still train."""
    rows = []
    for system in systems:
        try:
            record = train(system)
        except Exception as error:  # noqa: BLE001 (each failure is reported; the other systems still run)
            record = {"system": system, "parameters": 0, "seconds": 0.0, "error": f"{type(error).__name__}: {error}"}
            log.error("%s %s: failed: %s", run, system, record["error"])
        else:
            log.info("%s %s: %s parameters, %.1f s", run, system, f"{record['parameters']:,}", record["seconds"])
        rows.append({**record, "run": run})
    return rows


def dry_run(arguments: argparse.Namespace) -> None:
    import emofuse
    from emofuse.training.runner import Runner

    features = cpu_features()
    if features["bfloat16_native"] is False:
        log.warning("this CPU (%s) has no native bfloat16: PyTorch emulates it, and the full-size models train in "
                    "%s several times as slowly as on a CPU with AVX-512 BF16 or AMX", features["cpu_capability"],
                    PRECISION)
    rows = []
    for name, path, variants, overrides in plan():
        if not selected(arguments, name):
            continue
        config = emofuse.load_experiment(path, variant=variants, overrides=[
            *overrides, f"extraction.cache_dir={arguments.cache}", "evaluate_on={}"])
        with tempfile.TemporaryDirectory(prefix="emofuse-dry-") as scratch:
            runner = Runner(config, pathlib.Path(scratch) / name, progress=False)
            main, _, task, folds = runner.prepare()
            built: dict = {}
            systems = [s for s in config.system_order() if config.systems[s].fusion is None]
            rows += train_each(name, systems, functools.partial(one_epoch, runner, main=main, task=task, fold=folds[0],
                                                                built=built, scratch=pathlib.Path(scratch)))
    markdown = ("Dry run on CPU: every neural system of the GPU plan built at full size on real inputs and "
                f"trained for one epoch with its training settings in the GPU run's precision ({PRECISION}) through "
                "Lightning, as a real run trains it (first fold, two training utterances per class, one per "
                "class to choose the epoch on); systems over members train on members trained the same way.\n\n"
                + markdown_table(["run", "system", "parameters", "training loss", "seconds"],
                                 [[r["run"], r["system"], f"{r['parameters']:,}", r.get("loss", r.get("note", r.get("error", ""))),
                                   r["seconds"]] for r in rows]))
    write_results("gpu_full_dry_run", {"rows": rows}, markdown)
    print(markdown)
    failed = [r for r in rows if "error" in r]
    if failed:
        raise SystemExit(f"dry run: {len(failed)} of {len(rows)} systems failed: "
                         + "; ".join(f"{r['run']} {r['system']}: {r['error']}" for r in failed))


def finished_folds(output: pathlib.Path) -> dict[str, dict]:
    """``{system: {"folds": n, "seeds": [...], "UA_mean": ..., "UA_std": ...}}`` over the test UA of
    every finished fold of a run directory (also of a run stopped before its summary)."""
    import numpy as np

    from emofuse.rundir import RunDirectory

    systems: dict[str, dict] = {}
    for fold in RunDirectory(output).finished():
        test = fold.metrics().get("test", {})
        if "UA" in test:
            entry = systems.setdefault(fold.system, {"ua": [], "seeds": set()})
            entry["ua"].append(float(test["UA"]))
            entry["seeds"].add(fold.seed)
    return {s: {"folds": len(e["ua"]), "seeds": sorted(e["seeds"]), "UA_mean": float(np.mean(e["ua"])),
                "UA_std": float(np.std(e["ua"]))} for s, e in systems.items()}


def timed(command: list[str], seconds: float | None) -> tuple[int | None, float]:
    """Run ``command`` (its own process group) for at most ``seconds``: its exit status (``None``
    when it was stopped at the limit, with every worker process it started) and its wall time."""
    import os
    import signal

    start = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, start_new_session=True)
    try:
        code = child.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGTERM)
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        code = None
    return code, time.perf_counter() - start


def _scores(systems: dict[str, dict]) -> str:
    return "; ".join(f"{s} {100 * r['UA_mean']:.1f} ± {100 * r['UA_std']:.1f} ({r['folds']} folds, seeds "
                     f"{','.join(map(str, r['seeds']))})" for s, r in systems.items())


def full(arguments: argparse.Namespace) -> None:
    """Each run of the plan as ``python -m emofuse run`` on the GPU, ``--jobs`` folds at once (the deep
    runs in ``--deep``'s order); the run going when ``--minutes`` are up is stopped and reported with
    the folds it finished. Results are written after each run."""
    import emofuse

    records: list[dict] = []
    markdown = "nothing selected"
    runs = [r for r in plan() if selected(arguments, r[0])]
    if arguments.deep:  # in the order given
        order = arguments.deep.split(",")
        deep = [r[0] for r in plan() if r[0].startswith("deep")]
        unknown = sorted(set(order) - set(deep))
        if unknown:
            raise SystemExit(f"--deep: unknown runs {unknown}; the deep runs are {deep}")
        runs.sort(key=lambda r: order.index(r[0]) if r[0] in order else -1)
    if arguments.systems:
        known = {s for name, path, _, _ in runs if name.startswith("deep") for s in emofuse.load_experiment(path).systems}
        unknown = sorted(set(arguments.systems.split(",")) - known)
        if unknown:
            raise SystemExit(f"--systems: {unknown} are in none of the deep runs chosen; they have {sorted(known)}")
    started = time.perf_counter()
    for name, path, variants, overrides in runs:
        if arguments.seeds is not None:
            overrides = [o for o in overrides if o != SEEDS] + [f"seeds=[{arguments.seeds}]"]
        left = None if arguments.minutes is None else 60 * arguments.minutes - (time.perf_counter() - started)
        if left is not None and left < 30:
            log.warning("%s: not started, %.0f s of the %.1f min left", name, max(left, 0), arguments.minutes)
            records.append({"run": name, "seconds": 0.0, "exit": "not started (time up)", "settings": " ".join(overrides),
                            "systems": {}})
            markdown = _write(records, arguments.jobs)
            continue
        config = emofuse.load_experiment(path, variant=variants, overrides=overrides)
        extra = [*overrides, *device_overrides(config, accelerator=arguments.accelerator, precision=PRECISION),
                 f"extraction.cache_dir={arguments.cache}", "extraction.num_workers=8"]
        output = arguments.runs / name
        command = [sys.executable, "-m", "emofuse", "run", str(path), "-o", str(output), "--no-progress",
                   "--jobs", str(arguments.jobs)]
        if variants:
            command += ["--variant", variants]
        for system in (arguments.systems.split(",") if arguments.systems and name.startswith("deep") else []):
            if system in config.systems:
                command += ["--system", system]
        for value in extra:
            command += ["--set", value]
        code, seconds = timed(command, left)
        systems = finished_folds(output)
        records.append({"run": name, "seconds": round(seconds, 1), "exit": "stopped at the limit" if code is None else code,
                        "settings": " ".join(overrides), "systems": systems})
        print(f"{name}: {seconds / 60:.1f} min, exit {records[-1]['exit']}: {_scores(systems)}", flush=True)
        markdown = _write(records, arguments.jobs)  # after each run: a session cut short keeps what finished
    print(markdown)


def _write(records: list[dict], jobs: int) -> str:
    """Write ``gpu_full.{json,md}`` of the runs so far; the Markdown."""
    total = sum(r["seconds"] for r in records) / 60
    rows = [[r["run"], f"{r['seconds'] / 60:.1f}", r["exit"], _scores(r["systems"]), r["settings"]] for r in records]
    markdown = (f"Full settings on the GPU, total {total:.1f} min (goal: under 8), {jobs} folds at once; "
                "UA % mean ± std over the folds x seeds each run finished.\n\n"
                + markdown_table(["run", "minutes", "exit", "scores", "settings"], rows))
    write_results("gpu_full", {"runs": records, "total_minutes": round(total, 2)}, markdown)
    return markdown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="CPU: build every model at full size, one short epoch each in bf16 mixed precision")
    parser.add_argument("--parts", choices=("all", "recipes", "deep"), default="all")
    parser.add_argument("--recipes", default=None, help="comma-separated recipes (default: all five)")
    parser.add_argument("--runs", type=pathlib.Path, default=ROOT / "runs" / "gpu_full")
    parser.add_argument("--deep", default=None, help="comma-separated deep runs, run in this order (default: all three), e.g. deep_emodb7")
    parser.add_argument("--systems", default=None, help="comma-separated systems of the deep runs (default: all)")
    parser.add_argument("--seeds", default=None, help="comma-separated seeds instead of the full settings' 0-4")
    parser.add_argument("--jobs", type=int, default=8, help="folds trained at once on the GPU, each in its own process")
    parser.add_argument("--minutes", type=float, default=None, help="stop after this long in all, reporting the folds each run finished")
    parser.add_argument("--accelerator", default="gpu", help="Lightning's accelerator for the full run (cpu: the same path without a GPU)")
    parser.add_argument("--cache", type=pathlib.Path, default=pathlib.Path(tempfile.gettempdir()) / "emofuse-benchmark-cache")
    arguments = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if arguments.parts != "deep":
        shared("fixtures", "IEMOCAP_mini")
    if arguments.parts != "recipes":
        shared("data", "emodb")
    import os

    os.chdir(ROOT)  # recipes name ../shared relative to the repository
    if arguments.dry_run:
        dry_run(arguments)
    else:
        full(arguments)


if __name__ == "__main__":
    main()
