"""Export a fitted system of an ``emofuse run`` directory as a recogniser directory.

A run saves every fitted system with the System contract, so exporting only picks a seed and a
fold and copies those files (with the members a fusion needs, from the same seed and fold).

Which of the run's models: a cross-validated run fits one model per (seed, fold) and none on
all the data. Defaults:

- ``system``: the last finished system of the experiment in member-before-fusion order (in
  the recipes, the fused system);
- ``seed``: the first seed of the experiment that has the system;
- ``fold``: ``best_dev``: the fold whose model scored best on *its dev set* (the task's selection metric, or mean CCC),
  never on test; ties go to the earlier fold. Folds without dev scores count as worst. Give
  ``fold=NAME`` for a specific one.

The recogniser records where it came from (run, config hash, system, seed, fold, and that it
holds one fold's model trained on that fold's training part), the fold's dev and test scores,
and the run's mean ± std over all folds and seeds (the honest estimate of the protocol).

``refit=True`` exports instead the system retrained on all labelled data with the
hyper-parameters chosen in cross-validation (:mod:`emofuse.training.refit`); its provenance
says ``model: refit``, what was chosen and why, and it carries only the protocol's scores
(nothing is left to test it on).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pathlib
from typing import Any
from typing import Literal

from emofuse.components import FEATURES
from emofuse.config import config_hash
from emofuse.experiment import ExperimentConfig
from emofuse.inference.directory import RecognizerConfig
from emofuse.inference.directory import display_names
from emofuse.inference.recognizer import Recognizer
from emofuse.inference.recognizer import RecognizerError
from emofuse.rundir import RunDirectory
from emofuse.rundir import RunDirectoryError
from emofuse.systems.base import System

log = logging.getLogger(__name__)

@dataclasses.dataclass(frozen=True)
class ExportChoice:
    """The (system, seed, fold) exported and why."""

    system: str
    seed: int
    fold: str
    rule: str
    dev: dict[str, float]
    test: dict[str, float]


def choose(run: RunDirectory, config: ExperimentConfig, *, system: str | None = None, seed: int | None = None,
           fold: str | None = None) -> ExportChoice:
    """Which (system, seed, fold) to export (see the module docstring for the defaults)."""
    order = config.system_order()
    finished = list(run.finished())
    if system is None:
        done = [s for s in order if any(f.system == s for f in finished)]
        if not done:
            raise RecognizerError(f"{run.path} has no finished system yet (run it first)")
        system = done[-1]
    elif system not in config.systems:
        raise RecognizerError(f"unknown system {system!r}; the run has {', '.join(order)}")
    if seed is None:
        seeds = [s for s in config.seeds if any(f.system == system and f.seed == s for f in finished)]
        if not seeds:
            raise RecognizerError(f"system {system!r} has no finished fold in {run.path}")
        seed = seeds[0]
    folds = [f for f in finished if f.system == system and f.seed == seed]
    if not folds:
        raise RecognizerError(f"system {system!r} has no finished fold for seed {seed} in {run.path}")
    metric = config.task.selection_metric if config.task.type == "categorical" else "CCC_mean"
    records = {f.fold: f.metrics() for f in folds}
    names = [f.fold for f in folds]
    if fold is None or fold == "best_dev":
        rule = f"best dev {metric} of seed {seed}'s {len(folds)} folds"

        def dev_score(name: str) -> float:
            value = records[name].get("dev", {}).get(metric)
            return float("-inf") if value is None else float(value)

        fold = max(names, key=lambda f: (dev_score(f), -names.index(f)))
    elif fold not in records:
        raise RecognizerError(f"system {system!r}, seed {seed}: no finished fold {fold!r}; finished: {', '.join(names)}")
    else:
        rule = "given"
    return ExportChoice(system, seed, fold, rule, records[fold].get("dev", {}), records[fold].get("test", {}))


def build_from_run(run_dir: str | os.PathLike[str], *, system: str | None = None, seed: int | None = None,
                   fold: str | None = None, asr: str | None = None, name: str | None = None,
                   description: str = "", refit: bool = False, progress: bool = False) -> Recognizer:
    """The :class:`Recognizer` of a run's system (see :func:`export_run`), without saving it."""
    run = RunDirectory(pathlib.Path(run_dir).resolve())
    try:
        config = run.config()
        choice = choose(run, config, system=system, seed=seed, fold=fold)
        if refit:
            systems, chosen, trained_on = _refit(run, choice, progress=progress)
        else:
            systems = _fold_systems(run, choice)
    except RunDirectoryError as error:
        raise RecognizerError(str(error)) from None
    for system_name, loaded in systems.items():
        if loaded.spec.normalization == "speaker":
            raise RecognizerError(
                f"system {system_name!r} standardises each speaker with that speaker's own statistics, which a "
                "recogniser of single utterances does not have; retrain it with normalization: global to export it")
    head = systems[choice.system]
    reads_text = any(i.name == "text" or (i.name in s.spec.features and
                                         FEATURES.get(s.spec.features[i.name].name).builder.modality == "text")
                     for s in systems.values() for i in s.spec.inputs)
    provenance: dict[str, Any] = {
        "run": run.path.name,
        "experiment": config.name,
        "config_hash": config_hash(config),
        "data": _data_summary(config),
        "protocol": config.protocol.name,
        "system": choice.system,
        "seed": choice.seed,
    }
    if refit:
        provenance.update({
            "model": "refit",
            "trained_on": f"all {trained_on} labelled utterances of the run, with the hyper-parameters chosen in "
                          "cross-validation (no held-out data: quote the protocol's scores)",
            "chosen": {n: c.rule for n, c in chosen.items()},
        })
        metrics = {"protocol_summary": _summary(run, choice.system)}
    else:
        provenance.update({
            "model": "fold",
            "fold": choice.fold,
            "selection": choice.rule,
            "trained_on": f"the training part of fold {choice.fold} only (cross-validation fold model)",
        })
        metrics = {"fold_dev": choice.dev, "fold_test": choice.test, "protocol_summary": _summary(run, choice.system)}
    recognizer_config = RecognizerConfig(
        name=name or f"{config.name}-{choice.system}",
        heads={head.spec.task_type: choice.system},
        systems=tuple(systems),
        asr=asr if asr is not None else ("pocketsphinx" if reads_text else "none"),
        label_names=display_names(head.outputs) if head.spec.task_type == "categorical" else {},
        description=description or config.description,
        provenance=provenance,
        metrics=metrics,
    )
    return Recognizer(recognizer_config, systems)


def _fold_systems(run: RunDirectory, choice: ExportChoice) -> dict[str, System]:
    """The chosen fold's system and its members (members first)."""
    systems: dict[str, System] = {}

    def add(system_name: str) -> None:
        if system_name in systems:
            return
        loaded = run.fold(system_name, choice.seed, choice.fold).load_system()
        for member in loaded.spec.members:
            add(member)
        systems[system_name] = loaded

    add(choice.system)
    return systems


def _refit(run: RunDirectory, choice: ExportChoice, *, progress: bool) -> tuple[dict[str, System], dict[str, Any], int]:
    from emofuse.training.refit import RefitError
    from emofuse.training.refit import refit_systems
    from emofuse.training.runner import RunError

    try:
        return refit_systems(run.path, choice.system, choice.seed, progress=progress)
    except (RefitError, RunError) as error:
        raise RecognizerError(str(error)) from None


def export_run(run_dir: str | os.PathLike[str], out_dir: str | os.PathLike[str], *, system: str | None = None,
               seed: int | None = None, fold: str | None = None, asr: str | None = None, name: str | None = None,
               description: str = "", refit: bool = False, progress: bool = False,
               format: Literal["pytorch", "onnx"] = "pytorch") -> pathlib.Path:
    """Export ``system`` of the run in ``run_dir`` (one seed and fold, or with ``refit`` the
    system retrained on all labelled data) to ``out_dir``.

    ``asr`` is the recogniser's default ASR for text systems when no transcript is given
    (default ``pocketsphinx`` when it reads text; ``none`` switches it off). ``format: onnx``
    writes ONNX graphs instead of PyTorch weights (:mod:`emofuse.inference.onnx_export`);
    ``run_dir`` may then also be a recogniser (a directory, or ``default``) to convert.
    Returns ``out_dir``.
    """
    if format not in {"pytorch", "onnx"}:
        raise RecognizerError(f"format must be pytorch or onnx, got {format!r}")
    if refit and fold is not None:
        raise RecognizerError("refit trains on all the data: give a fold or refit, not both")
    if RunDirectory(pathlib.Path(run_dir)).is_run:
        recognizer = build_from_run(run_dir, system=system, seed=seed, fold=fold, asr=asr, name=name,
                                    description=description, refit=refit, progress=progress)
    elif format == "onnx" and system is None and seed is None and fold is None and not refit:
        recognizer = Recognizer.from_pretrained(run_dir, asr=asr)
    else:
        raise RecognizerError(f"{run_dir} is not an emofuse run directory (no emofuse-run.json)"
                              + ("; a recogniser is converted with format onnx, without --system, --seed, --fold "
                                 "or --refit" if format == "onnx" else ""))
    if format == "onnx":
        from emofuse.inference.onnx_export import export_onnx

        path = export_onnx(recognizer, out_dir)
    else:
        path = recognizer.save_pretrained(out_dir)
    provenance = recognizer.config.provenance
    log.info("exported %s (%s) to %s", provenance.get("system", recognizer.config.name), format, path)
    return path


def _data_summary(config: ExperimentConfig) -> dict[str, Any]:
    data = config.data
    corpus = data.corpus
    return {
        "corpus": corpus.name if corpus is not None else None,
        "manifest": pathlib.Path(data.manifest).name if data.manifest else None,
        "label_map": data.label_map or (getattr(corpus.config, "label_map", None) if corpus is not None else None),
        "transcript": data.transcript,
    }


def _summary(run: RunDirectory, system: str) -> dict[str, Any]:
    from emofuse.rundir import SUMMARY_JSON

    path = run.results / SUMMARY_JSON
    if not path.is_file():
        return {}
    for row in json.loads(path.read_text()).get("systems", []):
        if row.get("system") == system:
            return {k: v for k, v in row.items() if k == "runs" or k.endswith("_mean") or k.endswith("_std")}
    return {}


def fuse_recognizers(members: dict[str, Recognizer], fusion: Any, state: dict[str, Any], *, name: str,
                     system: str = "fused", asr: str | None = None, description: str = "",
                     provenance: dict[str, Any] | None = None, metrics: dict[str, Any] | None = None) -> Recognizer:
    """One recogniser that score-fuses separately trained categorical recognisers.

    For a speech model from one corpus and a text model from another: ``members`` maps a member
    name to its recogniser (same classes, in the same order), ``fusion`` is the score-fusion
    component (for example ``late`` with ``method: weighted``) and ``state`` what it fitted on
    held-out outputs of the members (its ``state()``, one entry per member in ``members``
    order). A member with a single system keeps it under the member's name; deeper members get
    ``<member>.<system>`` names.
    """
    import numpy as np

    from emofuse.systems.base import SystemSpec
    from emofuse.systems.base import build_system

    if len(members) < 2:
        raise RecognizerError("fusing needs at least two recognisers")
    systems: dict[str, System] = {}
    heads = []
    classes = None
    for member, recognizer in members.items():
        head = recognizer.config.heads.get("categorical")
        if head is None:
            raise RecognizerError(f"{member}: only categorical recognisers can be fused here")
        if classes is None:
            classes = recognizer.classes
        elif recognizer.classes != classes:
            raise RecognizerError(f"{member} predicts {recognizer.classes}, the first member {classes}")
        order = [s for s in recognizer.config.systems if s in recognizer._order]
        rename = {s: member if len(order) == 1 else f"{member}.{s}" for s in order}
        for inner in order:
            original = recognizer.systems[inner]
            if original.spec.members:
                original.spec = dataclasses.replace(original.spec, members=tuple(rename[m] for m in original.spec.members))
            systems[rename[inner]] = original
        heads.append(rename[head])
    assert classes is not None
    if system in systems:
        raise RecognizerError(f"the fusion system name {system!r} is taken by a member's system")
    fused = build_system(SystemSpec("categorical", classes, members=tuple(heads), fusion=fusion))
    fused.load_state_dict({k: np.asarray(v, dtype=np.float64) for k, v in state.items()})
    systems[system] = fused
    reads_text = any(r.reads_text for r in members.values())
    config = RecognizerConfig(
        name=name, heads={"categorical": system}, systems=tuple(systems),
        asr=asr if asr is not None else ("pocketsphinx" if reads_text else "none"),
        label_names=display_names(classes), description=description,
        provenance=provenance or {m: r.config.provenance for m, r in members.items()}, metrics=metrics or {},
    )
    return Recognizer(config, systems)
