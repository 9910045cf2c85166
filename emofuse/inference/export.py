"""Export a trained system of an ``emofuse run`` directory as a recogniser directory.

Any system a run trained can be exported: neural models (the fold's ``model.safetensors``
state dict with its standardisers), classic linear models (their arrays: logistic regression,
ridge, linear SVR), and late-fusion systems together with their members and the weights or
statistics fitted on the fold's dev outputs.

Which of the run's models: a cross-validated run trains one model per (seed, fold) and none on
all the data. Defaults:

- ``system``: the last system of the experiment in member-before-fusion order (in the recipes,
  the fused system);
- ``seed``: the first seed of the experiment;
- ``fold``: ``best_dev``: the fold whose model scored best on *its dev set* (UA, or mean CCC),
  never on test; ties go to the earlier fold. Folds without dev scores count as worst; with a
  single fold (official splits) that fold. Give ``fold=NAME`` for a specific one.

A fusion system is exported with its members from the same seed and fold, because its weights
were fitted on exactly those members' dev outputs. The recogniser records where it came from:
the run, config hash, system, seed and fold, the fold's dev and test scores, and the run's mean
± std over all folds and seeds (the honest estimate of the protocol).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import pathlib
from typing import Any

import yaml

from emofuse.config import Component
from emofuse.config import ConfigError
from emofuse.config import component_dict_field
from emofuse.config import config_hash
from emofuse.config import parse
from emofuse.experiment import ExperimentConfig
from emofuse.experiment import load_experiment
from emofuse.features import FEATURES
from emofuse.inference.recognizer import Recognizer
from emofuse.inference.recognizer import RecognizerConfig
from emofuse.inference.recognizer import RecognizerError
from emofuse.inference.recognizer import SystemSpec
from emofuse.inference.recognizer import display_names
from emofuse.inference.recognizer import library_versions
from emofuse.inference.transcribe import ASRConfig
from emofuse.models.base import InputSpec

log = logging.getLogger(__name__)

SELECTION_METRIC = {"categorical": "UA", "dimensional": "CCC_mean"}


@dataclasses.dataclass(frozen=True)
class _Features:
    features: dict[str, Component] = component_dict_field(FEATURES)


@dataclasses.dataclass(frozen=True)
class ExportChoice:
    """The (system, seed, fold) exported and why."""

    system: str
    seed: int
    fold: str
    rule: str
    dev: dict[str, float]
    test: dict[str, float]


def load_run_config(run_dir: pathlib.Path) -> ExperimentConfig:
    path = run_dir / "config.yaml"
    if not path.is_file():
        raise RecognizerError(f"{run_dir} is not an emofuse run directory (no config.yaml)")
    try:
        return load_experiment(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (ConfigError, yaml.YAMLError) as error:
        raise RecognizerError(f"{path}: {error}") from None


def finished_folds(run_dir: pathlib.Path, system: str, seed: int) -> list[str]:
    """Fold names with a finished model of ``system`` for ``seed``, in protocol order."""
    base = run_dir / "systems" / system / f"seed_{seed}"
    done = {p.parent.name for p in base.glob("*/done.json")}
    order = []
    folds_file = run_dir / "folds.json"
    if folds_file.is_file():
        order = [f["name"] for f in json.loads(folds_file.read_text())["folds"]]
    return [f for f in order if f in done] + sorted(done - set(order))


def choose(run_dir: pathlib.Path, config: ExperimentConfig, *, system: str | None = None, seed: int | None = None,
           fold: str | None = None) -> ExportChoice:
    """Which (system, seed, fold) to export (see the module docstring for the defaults)."""
    order = config.system_order()
    if system is None:
        finished = [s for s in order if any((run_dir / "systems" / s).glob("seed_*/*/done.json"))]
        if not finished:
            raise RecognizerError(f"{run_dir} has no finished system yet (run it first)")
        system = finished[-1]
    elif system not in config.systems:
        raise RecognizerError(f"unknown system {system!r}; the run has {', '.join(order)}")
    if seed is None:
        seeds = [s for s in config.seeds if finished_folds(run_dir, system, s)]
        if not seeds:
            raise RecognizerError(f"system {system!r} has no finished fold in {run_dir}")
        seed = seeds[0]
    folds = finished_folds(run_dir, system, seed)
    if not folds:
        raise RecognizerError(f"system {system!r} has no finished fold for seed {seed} in {run_dir}")
    metric = SELECTION_METRIC[config.task.type]
    records = {f: json.loads((run_dir / "systems" / system / f"seed_{seed}" / f / "metrics.json").read_text()) for f in folds}
    if fold is None or fold == "best_dev":
        rule = f"best dev {metric} of seed {seed}'s {len(folds)} folds"

        def dev_score(name: str) -> float:
            value = records[name].get("dev", {}).get(metric)
            return float("-inf") if value is None else float(value)

        fold = max(folds, key=lambda f: (dev_score(f), -folds.index(f)))
    elif fold not in folds:
        raise RecognizerError(f"system {system!r}, seed {seed}: no finished fold {fold!r}; finished: {', '.join(folds)}")
    else:
        rule = "given"
    return ExportChoice(system, seed, fold, rule, records[fold].get("dev", {}), records[fold].get("test", {}))


def export_run(
    run_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    system: str | None = None,
    seed: int | None = None,
    fold: str | None = None,
    asr: str | None = None,
    name: str | None = None,
    description: str = "",
) -> pathlib.Path:
    """Export ``system`` of the run in ``run_dir`` (one seed and fold) to ``out_dir``.

    ``asr`` is the recogniser's default ASR for text systems when no transcript is given
    (default ``pocketsphinx`` when it reads text; ``none`` switches it off). Returns ``out_dir``.
    """
    recognizer = build_from_run(run_dir, system=system, seed=seed, fold=fold, asr=asr, name=name, description=description)
    path = recognizer.save_pretrained(out_dir)
    log.info("exported %s (seed %s, %s) to %s", recognizer.config.provenance["system"],
             recognizer.config.provenance["seed"], recognizer.config.provenance["fold"], path)
    return path


def build_from_run(
    run_dir: str | os.PathLike[str],
    *,
    system: str | None = None,
    seed: int | None = None,
    fold: str | None = None,
    asr: str | None = None,
    name: str | None = None,
    description: str = "",
) -> Recognizer:
    """The :class:`Recognizer` of a run's system (see :func:`export_run`), without saving it."""
    run_dir = pathlib.Path(run_dir).resolve()
    config = load_run_config(run_dir)
    choice = choose(run_dir, config, system=system, seed=seed, fold=fold)
    systems: dict[str, SystemSpec] = {}
    features: dict[str, Component] = {}
    state: dict[str, Any] = {}
    transcripts: set[str] = set()

    def add(system_name: str) -> None:
        if system_name in systems:
            return
        directory = run_dir / "systems" / system_name / f"seed_{choice.seed}" / choice.fold
        if not (directory / "done.json").exists():
            raise RecognizerError(f"system {system_name!r} has no finished model for seed {choice.seed}, {choice.fold}")
        spec = config.systems[system_name]
        if spec.fusion is not None:
            for member in spec.members:
                add(member)
            fitted = json.loads((directory / "fusion.json").read_text())
            fitted.pop("members", None)
            systems[system_name] = SystemSpec(kind="fusion", task=systems[spec.members[0]].task,
                                              outputs=systems[spec.members[0]].outputs, members=tuple(spec.members),
                                              fusion=spec.fusion, fitted=fitted)
            return
        description_file = json.loads((directory / "model.json").read_text())
        if description_file["normalization"] == "speaker":
            raise RecognizerError(
                f"system {system_name!r} standardises each speaker with that speaker's own statistics, which a "
                "recogniser of single utterances does not have; retrain it with normalization: global to export it")
        classic = "selected" in description_file
        weights = directory / "model.safetensors"
        if not weights.exists():
            raise RecognizerError(
                f"system {system_name!r} ({description_file['model']['name']}) stored no weights"
                + (" (calibrated or kernel SVMs are not stored as arrays; use logistic_regression or a linear SVR "
                   "to export a classic model)" if classic else ""))
        from safetensors.torch import load_file

        state[system_name] = load_file(str(weights))
        transcripts.add(description_file.get("transcript", "reference"))
        try:
            systems[system_name] = parse(SystemSpec, spec_data(description_file, classic=classic))
        except ConfigError as error:
            raise RecognizerError(f"{directory / 'model.json'}: {error}") from None

    def spec_data(description_file: dict[str, Any], *, classic: bool) -> dict[str, Any]:
        """A :class:`SystemSpec` as data from a fold's ``model.json`` (members recursively)."""
        features.update(parse(_Features, {"features": description_file.get("features", {})}).features)
        return {
            "kind": "classic" if classic else "neural",
            "task": description_file["task"]["type"],
            "outputs": description_file["outputs"],
            "inputs": description_file["inputs"],
            "model": description_file["model"],
            "normalization": description_file["normalization"],
            "member_models": [spec_data(m, classic=False) for m in description_file.get("members") or []],
        }

    add(choice.system)
    head = systems[choice.system]
    reads_text = any(_reads_text(i, features) for s in systems.values() for i in s.inputs)
    asr_name = asr if asr is not None else ("pocketsphinx" if reads_text else "none")
    summary = _summary(run_dir, choice.system)
    recognizer_config = RecognizerConfig(
        name=name or f"{config.name}-{choice.system}",
        heads={head.task: choice.system},
        systems=systems,
        features=features,
        asr=ASRConfig(asr_name),
        transcript=transcripts.pop() if len(transcripts) == 1 else "reference",
        label_names=display_names(head.outputs) if head.task == "categorical" else {},
        description=description or config.description,
        versions=library_versions(),
        provenance={
            "run": str(run_dir),
            "experiment": config.name,
            "config_hash": config_hash(config),
            "data": _data_summary(config),
            "protocol": config.protocol.name,
            "system": choice.system,
            "seed": choice.seed,
            "fold": choice.fold,
            "selection": choice.rule,
        },
        metrics={"fold_dev": choice.dev, "fold_test": choice.test, "protocol_summary": summary},
    )
    return Recognizer(recognizer_config, state)


def _reads_text(spec: InputSpec, features: dict[str, Component]) -> bool:
    if spec.name == "text":
        return True
    return spec.name in features and FEATURES.get(features[spec.name].name).builder.modality == "text"  # type: ignore[attr-defined]


def _data_summary(config: ExperimentConfig) -> dict[str, Any]:
    data = config.data
    corpus = data.corpus
    return {
        "corpus": corpus.name if corpus is not None else None,
        "manifest": data.manifest,
        "label_map": data.label_map or (getattr(corpus.config, "label_map", None) if corpus is not None else None),
        "transcript": data.transcript,
    }


def _summary(run_dir: pathlib.Path, system: str) -> dict[str, Any]:
    path = run_dir / "results" / "summary.json"
    if not path.is_file():
        return {}
    for row in json.loads(path.read_text()).get("systems", []):
        if row.get("system") == system:
            return {k: v for k, v in row.items() if k == "runs" or k.endswith("_mean") or k.endswith("_std")}
    return {}



def fuse_recognizers(
    members: dict[str, Recognizer],
    fusion: Component,
    fitted: dict[str, Any],
    *,
    name: str,
    system: str = "fused",
    asr: str | None = None,
    description: str = "",
    provenance: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
) -> Recognizer:
    """One recogniser that score-fuses separately trained categorical recognisers.

    For a speech model from one corpus and a text model from another: ``members`` maps a
    member name to its recogniser (same classes, in the same order), ``fusion`` is the score
    fusion component (for example ``late`` with ``method: weighted``) and ``fitted`` what it
    learned on held-out outputs of the members (its ``describe()``: weights or statistics, one
    entry per member in ``members`` order); ``system`` names the fusion system. A member with a single system keeps it under the
    member's name; deeper members get ``<member>.<system>`` names.
    """
    if len(members) < 2:
        raise RecognizerError("fusing needs at least two recognisers")
    systems: dict[str, SystemSpec] = {}
    features: dict[str, Component] = {}
    state: dict[str, Any] = {}
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
        order = recognizer.config.system_order()
        rename = {s: member if len(order) == 1 else f"{member}.{s}" for s in order}
        for inner in order:
            spec = recognizer.config.systems[inner]
            if spec.members:
                spec = dataclasses.replace(spec, members=tuple(rename[m] for m in spec.members))
            systems[rename[inner]] = spec
            if inner in recognizer.weights():
                state[rename[inner]] = recognizer.weights()[inner]
        for feature, component in recognizer.config.features.items():
            if feature in features and features[feature] != component:
                raise RecognizerError(f"front-end {feature!r} differs between members; rename it in one run")
            features[feature] = component
        heads.append(rename[head])
    assert classes is not None
    if system in systems:
        raise RecognizerError(f"the fusion system name {system!r} is taken by a member's system")
    systems[system] = SystemSpec(kind="fusion", task="categorical", outputs=classes, members=tuple(heads), fusion=fusion,
                                 fitted=fitted)
    reads_text = any(r.reads_text for r in members.values())
    config = RecognizerConfig(
        name=name,
        heads={"categorical": system},
        systems=systems,
        features=features,
        asr=ASRConfig(asr if asr is not None else ("pocketsphinx" if reads_text else "none")),
        label_names=display_names(classes),
        description=description,
        versions=library_versions(),
        provenance=provenance or {m: r.config.provenance for m, r in members.items()},
        metrics=metrics or {},
    )
    return Recognizer(config, state)
