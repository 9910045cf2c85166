"""``emofuse evaluate``: score the fitted systems of a run on any other labelled data.

Every finished (seed, fold) model of the chosen systems predicts every utterance of the new
data (front-ends computed with the run's own settings, transcripts as the run read them), and
the results are written like a run's, into ``RUN/evaluations/<name>/`` (or another directory):
predictions and metrics per (system, seed, fold) and the summary tables, mean ± std over the
fold models. Nothing here trains or imports Lightning.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
from collections.abc import Sequence

from tqdm.auto import tqdm

from emofuse.evaluation.summary import RunResult
from emofuse.evaluation.summary import summarize_run
from emofuse.experiment import DataConfig
from emofuse.predictions import Predictions
from emofuse.rundir import MAIN
from emofuse.rundir import RunDirectory
from emofuse.rundir import RunDirectoryError
from emofuse.systems.base import SystemData
from emofuse.training.inputs import InputError
from emofuse.training.inputs import load_inputs
from emofuse.training.inputs import load_manifest
from emofuse.training.inputs import speaker_standardize

log = logging.getLogger(__name__)


class EvaluationError(ValueError):
    """An evaluation that cannot run as asked."""


def evaluate_run(
    run: str | os.PathLike[str],
    data: DataConfig | str | os.PathLike[str],
    *,
    systems: Sequence[str] | None = None,
    name: str | None = None,
    output: str | os.PathLike[str] | None = None,
    label_map: str | None = None,
    transcript: str | None = None,
    progress: bool = True,
) -> RunResult:
    """Evaluate ``systems`` (default: all finished ones) of ``run`` on ``data`` (a manifest file
    or a data config); returns the results written to ``output``.

    ``label_map`` maps the new data's emotion codes onto the run's classes; ``transcript``
    (``reference`` or ``asr``) overrides which text the text systems read.
    """
    source = RunDirectory(run)
    try:
        config = source.config()
        task_type, outputs = source.task()
    except RunDirectoryError as error:
        raise EvaluationError(str(error)) from None
    if not isinstance(data, DataConfig):
        path = pathlib.Path(data).expanduser().resolve()
        if not path.is_file():
            raise EvaluationError(f"{path}: no such manifest file")
        data = DataConfig(manifest=str(path), label_map=label_map,
                          transcript=transcript or ("asr" if config.data.transcript == "asr" else "reference"))
        name = name or path.stem
    name = name or "evaluation"
    finished = {fold.system for fold in source.finished()}
    order = config.closure(list(systems)) if systems else [s for s in config.system_order() if s in finished]
    missing = [s for s in order if s not in finished]
    if missing:
        raise EvaluationError(f"systems {missing} have no finished fold in {source.path}")
    if not order:
        raise EvaluationError(f"{source.path} has no finished system to evaluate")
    try:
        manifest, _ = load_manifest(data, dataclasses.replace(config.task), cache_dir=config.extraction.cache_dir,
                                    progress=progress)
    except InputError as error:
        raise EvaluationError(str(error)) from None
    if task_type == "categorical":
        unknown = sorted({u.label for u in manifest} - set(outputs))
        if unknown:
            raise EvaluationError(f"labels {unknown} are not among the run's classes {list(outputs)}; "
                                  "give a label map onto them (--label-map)")
    needed = sorted({i for s in order for i in config.system_inputs(s)})
    corpus = load_inputs(name, manifest, needed, config.features, dataclasses.replace(config.extraction, on_error="skip"),
                         transcript=data.text_field, progress=progress)
    target = RunDirectory(output) if output is not None else source.evaluation(name)
    target.create(dataclasses.replace(config, name=f"{config.name} on {name}", evaluate_on={}), restart=True)
    target.set_task(task_type, outputs)
    target.write_manifest(corpus.manifest)
    if corpus.failures:
        target.write_skipped(corpus.failures)
    target.write_validation({"verdict": f"fold models evaluated on {name}, a data set they were not trained on"})
    ids = list(corpus.manifest.ids)
    index = {c: k for k, c in enumerate(outputs)}
    truth = ([index[corpus.manifest[i].label] for i in ids] if task_type == "categorical"
             else [[getattr(corpus.manifest[i], t) for t in outputs] for i in ids])
    speakers = {u.id: u.speaker for u in corpus.manifest}
    standardized: dict[str, object] = {}
    folds = [f for s in order for f in source.finished(s)]
    computed: dict[tuple[str, int, str], Predictions] = {}
    for fold in tqdm(folds, desc="evaluate", unit="fold", disable=not progress):
        system = fold.load_system()
        spec = system.spec
        inputs = {}
        for input_spec in spec.inputs:
            values = corpus.inputs[input_spec.name]
            if spec.normalization == "speaker":
                values = standardized.setdefault(input_spec.name, speaker_standardize(values, speakers))  # type: ignore[assignment]
            inputs[input_spec.name] = values
        members = {m: computed[(m, fold.seed, fold.fold)] for m in spec.members}
        predictions = system.predict(SystemData(tuple(ids), inputs=inputs, members=members, truth=truth,
                                                split=("test",) * len(ids)))
        computed[(fold.system, fold.seed, fold.fold)] = predictions
        out = target.fold(fold.system, fold.seed, fold.fold)
        out.write_predictions(predictions, MAIN)
        out.write_metrics({"n_test": len(ids), "test": predictions.evaluate()})
        out.mark_done()
    return summarize_run(target, config, systems=order, title=f"{config.name}: fold models on {name}")
