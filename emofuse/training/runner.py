"""Cross-validation orchestration: every system on every fold and seed, resumable, in parallel.

The runner reads the inputs once (:mod:`emofuse.training.inputs`), makes and validates the
folds, then for each (system, seed, fold) builds the :class:`~emofuse.systems.base.System`,
fits it on the fold's training part (choosing what it chooses on dev), predicts dev, test and
any ``evaluate_on`` corpora, and saves the fitted system, its predictions and its metrics into
the run directory (:mod:`emofuse.rundir`). Systems run members first; independent folds can
run in worker processes (``jobs``); multi-GPU / multi-node training goes through Lightning's
DDP (``training.strategy: ddp``), with only the primary process writing.

A finished fold writes ``done.json`` last; a re-run skips finished folds and resumes an
interrupted one from its last checkpoint.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pathlib
import signal
import threading
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any

from tqdm.auto import tqdm

from emofuse.config import config_hash
from emofuse.config import to_dict
from emofuse.data.protocols import Fold
from emofuse.data.protocols import make_folds
from emofuse.data.validation import validate_folds
from emofuse.evaluation.summary import RunResult
from emofuse.evaluation.summary import summarize_run
from emofuse.experiment import ExperimentConfig
from emofuse.predictions import Predictions
from emofuse.rundir import MAIN
from emofuse.rundir import FoldDirectory
from emofuse.rundir import RunDirectory
from emofuse.rundir import RunDirectoryError
from emofuse.systems.base import InvalidSystemError
from emofuse.systems.base import System
from emofuse.systems.base import SystemData
from emofuse.systems.base import SystemSpec
from emofuse.systems.base import build_system
from emofuse.tasks import Task
from emofuse.tasks import build_task
from emofuse.training.inputs import Corpus
from emofuse.training.inputs import InputError
from emofuse.training.inputs import load_inputs
from emofuse.training.inputs import load_manifest
from emofuse.training.inputs import speaker_standardize
from emofuse.training.seeding import seed_everything

log = logging.getLogger(__name__)


class RunError(RuntimeError):
    """An experiment that cannot run as configured."""


class RunInterrupted(RunError):
    """A run stopped by SIGINT (Ctrl-C) or SIGTERM (a job scheduler); ``exit_code`` is the
    conventional 128 + the signal's number. Finished folds are kept and an interrupted fold
    resumes from its last epoch's checkpoint on the next run."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        name = signal.Signals(signum).name
        super().__init__(f"interrupted by {name}; re-run the same command to resume (finished folds are kept, "
                         "an interrupted fold continues from its last completed epoch)")


class _Stop(BaseException):
    """Raised by the signal handler: not an ``Exception``, so that library code with a broad
    ``except Exception`` (``inspect`` turned one into "TypeError: unsupported callable" when the
    signal came during Lightning's signature check) cannot swallow or rename it; it becomes a
    :class:`RunInterrupted` where the run's ``with stop_on_signals()`` ends."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Turn SIGINT and SIGTERM into :class:`RunInterrupted` while a run is in progress (in the
    main thread only; the previous handlers come back afterwards). Checkpoints and results are
    written atomically, so stopping anywhere leaves a resumable run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        for each in (signal.SIGINT, signal.SIGTERM):  # a second signal does not interrupt the clean-up
            signal.signal(each, signal.SIG_IGN)
        raise _Stop(signum)

    previous = {each: signal.getsignal(each) for each in (signal.SIGINT, signal.SIGTERM)}
    for each in previous:
        signal.signal(each, stop)
    try:
        yield
    except _Stop as stopped:
        raise RunInterrupted(stopped.signum) from None
    finally:
        for each, handler in previous.items():
            signal.signal(each, handler)


def is_primary_process() -> bool:
    """False in the secondary processes that Lightning's DDP launcher starts."""
    return int(os.environ.get("LOCAL_RANK", 0)) == 0 and int(os.environ.get("NODE_RANK", 0)) == 0


def fold_seed(seed: int, index: int) -> int:
    """The random seed of one (seed, fold index) job: distinct for every fold of every seed."""
    return seed * 7919 + index


class Runner:
    """Runs ``config`` into ``directory`` (see :mod:`emofuse.rundir` for the layout)."""

    def __init__(self, config: ExperimentConfig, directory: str | os.PathLike[str], *, progress: bool = True,
                 restart: bool = False, systems: Sequence[str] | None = None, folds: Sequence[str] | None = None,
                 jobs: int = 1) -> None:
        self.config = config
        self.run_dir = RunDirectory(directory)
        self.progress = progress
        self.restart = restart
        self.jobs = jobs
        self.primary = is_primary_process()
        if systems:
            unknown = [s for s in systems if s not in config.systems]
            if unknown:
                raise RunError(f"unknown systems {unknown}; defined: {list(config.systems)}")
        if jobs < 1:
            raise RunError(f"jobs must be at least 1, got {jobs}")
        self.systems = config.closure(systems) if systems else config.system_order()
        self.fold_names = list(folds) if folds else None
        self._state: tuple[Corpus, dict[str, Corpus], Task, list[Fold]] | None = None
        self._standardized: dict[tuple[str, str], Mapping[str, Any]] = {}

    @property
    def directory(self) -> pathlib.Path:
        return self.run_dir.path

    # Preparation ---------------------------------------------------------------------------
    def _needed_inputs(self) -> list[str]:
        return sorted({i for name in self.systems for i in self.config.system_inputs(name)})

    def _corpus(self, name: str, data: Any, classes: Sequence[str] | None = None) -> tuple[Corpus, list[str] | None]:
        extraction = self.config.extraction
        manifest, found = load_manifest(data, self.config.task, cache_dir=extraction.cache_dir, progress=self.progress)
        if classes is not None:  # an evaluate_on corpus must use the main task's classes
            unknown = sorted(set(manifest.labels()) - set(classes))
            if unknown:
                raise RunError(f"evaluate_on {name!r}: classes {unknown} are not in the task's classes {list(classes)}; "
                               "use a label map onto the same classes")
        corpus = load_inputs(name, manifest, self._needed_inputs(), self.config.features, extraction,
                             transcript=data.text_field, progress=self.progress)
        if corpus.failures and self.primary:
            path = self.run_dir.write_skipped(corpus.failures, name)
            log.warning("%s: %d utterances left out, listed in %s", name, len(corpus.failures), path.name)
        return corpus, found

    def prepare(self) -> tuple[Corpus, dict[str, Corpus], Task, list[Fold]]:
        """Read the corpora, extract features and make the folds (once per process)."""
        if self._state is None:
            if self.primary:
                try:
                    self.run_dir.create(self.config, restart=self.restart)
                except RunDirectoryError as error:
                    raise RunError(str(error)) from None
            try:
                main, classes = self._corpus(MAIN, self.config.data)
                task = build_task(self.config.task, classes)
                extras = {name: self._corpus(name, data, task.outputs if task.type == "categorical" else None)[0]
                          for name, data in self.config.evaluate_on.items()}
            except InputError as error:
                raise RunError(str(error)) from None
            folds = make_folds(self.config.protocol, main.manifest)
            report = validate_folds(main.manifest, folds)
            if self.primary:
                self.run_dir.set_task(task.type, task.outputs)
                self.run_dir.write_manifest(main.manifest)
                for name, corpus in extras.items():
                    self.run_dir.write_manifest(corpus.manifest, name)
                self.run_dir.write_folds(to_dict(self.config.protocol), folds)
                self.run_dir.write_validation(report.to_dict())
            report.enforce(allow_speaker_overlap=self.config.allow_speaker_overlap)
            log.info("protocol %s: %d folds, %s, up to %.1f %% of a fold's test texts also in its training set%s",
                     self.config.protocol.name, len(folds), report.verdict(), 100 * report.max_text_overlap,
                     " (a corpus of read or scripted sentences: text models can recognise the sentence, not the "
                     "emotion)" if report.max_text_overlap >= 0.5 else "")
            self._state = (main, extras, task, folds)
        return self._state

    # Running -------------------------------------------------------------------------------
    def run(self) -> RunResult:
        with stop_on_signals():
            return self._run()

    def _run(self) -> RunResult:
        _, _, task, folds = self.prepare()
        indices = range(len(folds))
        if self.fold_names is not None:
            names = [f.name for f in folds]
            unknown = [f for f in self.fold_names if f not in names]
            if unknown:
                raise RunError(f"unknown folds {unknown}; the protocol makes {', '.join(names)}")
            indices = [names.index(f) for f in self.fold_names]
        jobs = [(s, seed, k) for s in self.systems for seed in self.config.seeds for k in indices]
        pending = [job for job in jobs if not self.run_dir.fold(job[0], job[1], folds[job[2]].name).done]
        bar = tqdm(total=len(jobs), initial=len(jobs) - len(pending), desc="folds", unit="fold", disable=not self.progress)
        if self.jobs > 1:
            for level in self._levels():
                self._run_parallel([job for job in pending if job[0] in level], bar)
        else:
            for system, seed, index in pending:
                bar.set_postfix_str(f"{system} seed {seed} {folds[index].name}")
                self.run_job(system, seed, index)
                bar.update()
        bar.close()
        if not self.primary:
            return RunResult(self.directory, None, None)
        return summarize_run(self.run_dir, self.config, systems=self.systems)

    def _levels(self) -> list[set[str]]:
        """Systems grouped so that every member is in an earlier group than its fusion."""
        depth: dict[str, int] = {}
        for name in self.systems:  # already in dependency order
            depth[name] = 1 + max((depth[m] for m in self.config.systems[name].members), default=-1)
        return [{n for n in self.systems if depth[n] == d} for d in range(max(depth.values()) + 1)]

    def _run_parallel(self, batch: list[tuple[str, int, int]], bar: tqdm) -> None:
        if not batch:
            return
        from joblib import Parallel
        from joblib import delayed

        threads = max(1, (os.cpu_count() or 1) // self.jobs)
        calls = (delayed(_run_job_in_worker)(self.config, str(self.directory), job, threads, tuple(self.systems))
                 for job in batch)
        for _ in Parallel(n_jobs=self.jobs, return_as="generator_unordered")(calls):
            bar.update()

    def run_job(self, system: str, seed: int, index: int) -> None:
        """Fit (and save) one system on one fold with one seed."""
        main, extras, task, folds = self.prepare()
        fold = folds[index]
        directory = self.run_dir.fold(system, seed, fold.name)
        if directory.done:
            return
        config = self.config.systems[system]
        if config.loss_weights is not None:
            if task.type != "dimensional":
                raise RunError(f"system {system!r}: loss_weights apply to dimensional tasks")
            task = build_task(self.config.task, loss_weights=config.loss_weights)
        members = [self.run_dir.fold(m, seed, fold.name) for m in config.members]
        for member in members:
            if not member.done:
                raise RunError(f"system {system!r}: member {member.system!r} has not finished seed {seed}, {fold.name}")
        try:
            if config.fusion is not None:
                self._fit_score_fusion(system, task, main, extras, fold, members, directory, seed)
            else:
                self._fit_model(system, task, main, extras, fold, index, members, directory, seed)
        except (InvalidSystemError, ValueError) as error:
            raise RunError(f"system {system!r}, seed {seed}, {fold.name}: {error}") from None

    def spec(self, name: str, task: Task, corpus: Corpus, member_specs: Sequence[SystemSpec] = ()) -> SystemSpec:
        """The :class:`SystemSpec` of system ``name`` of the experiment on ``corpus``'s inputs."""
        config = self.config.systems[name]
        inputs = self.config.system_inputs(name)
        features = {i: self.config.features[i] for i in inputs if i in self.config.features}
        if config.fusion is not None:
            return SystemSpec(task.type, task.outputs, members=config.members, fusion=config.fusion)
        return SystemSpec(
            task.type, task.outputs, inputs=tuple(corpus.spec(i) for i in inputs), model=config.model,
            normalization="none" if config.members else config.normalization, member_specs=tuple(member_specs),
            features=features, transcript=self.config.data.text_field,
        )

    def data(self, name: str, task: Task, corpus: Corpus, ids: Sequence[str], *, split: Sequence[str] | None = None,
             members: Mapping[str, Predictions] | None = None) -> SystemData:
        """What system ``name`` reads for ``ids`` of ``corpus`` (speaker-standardised inputs
        with ``normalization: speaker``)."""
        config = self.config.systems[name]
        inputs: dict[str, Mapping[str, Any]] = {}
        for input_name in self.config.system_inputs(name):
            values = corpus.inputs[input_name]
            if config.normalization == "speaker" and not config.members:
                key = (corpus.name, input_name)
                if key not in self._standardized:
                    self._standardized[key] = speaker_standardize(values, {u.id: u.speaker for u in corpus.manifest})
                values = self._standardized[key]
            inputs[input_name] = values
        truth = task.truth([corpus.manifest[i] for i in ids])
        return SystemData(tuple(ids), inputs=inputs, members=members or {}, truth=truth,
                          split=None if split is None else tuple(split))

    @staticmethod
    def _evaluation_ids(corpus: Corpus, main: Corpus, fold: Fold) -> list[str]:
        """An ``evaluate_on`` corpus is tested as a whole, except that utterances it shares with
        the main corpus (the same corpus with other transcripts, say) count only in the fold
        that tests them."""
        test = set(fold.test)
        ids = [i for i in corpus.manifest.ids if i not in main.manifest or i in test]
        if not ids:
            raise RunError(f"evaluate_on {corpus.name!r} has no utterances to test in fold {fold.name}")
        return ids

    def _fit_model(self, name: str, task: Task, main: Corpus, extras: Mapping[str, Corpus], fold: Fold, index: int,
                   members: Sequence[FoldDirectory], directory: FoldDirectory, seed: int) -> None:
        seed_everything(fold_seed(seed, index))  # before the model is built: its initial weights too
        trained_members = [member.load_system() for member in members]
        system = build_system(self.spec(name, task, main, [m.spec for m in trained_members]),
                              members=trained_members or None)
        training = self.config.systems[name].training
        train = self.data(name, task, main, fold.train)
        dev = self.data(name, task, main, fold.dev) if fold.dev else None
        fitted = system.fit(train, dev, task=task, training=training, seed=None, directory=directory.path, progress=False)
        if not self.primary:
            return
        predictions = {MAIN: system.predict(self._main_data(name, task, main, fold))}
        for corpus in extras.values():
            ids = self._evaluation_ids(corpus, main, fold)
            predictions[corpus.name] = system.predict(self.data(name, task, corpus, ids, split=["test"] * len(ids)))
        directory.save_system(system, fitted=fitted)
        self._finish(directory, predictions, fitted)
        from emofuse.training.history import write_history

        write_history(directory)

    def _main_data(self, name: str, task: Task, main: Corpus, fold: Fold,
                   members: Mapping[str, Predictions] | None = None) -> SystemData:
        ids = [*fold.dev, *fold.test]
        return self.data(name, task, main, ids, split=["dev"] * len(fold.dev) + ["test"] * len(fold.test), members=members)

    def _fit_score_fusion(self, name: str, task: Task, main: Corpus, extras: Mapping[str, Corpus], fold: Fold,
                          members: Sequence[FoldDirectory], directory: FoldDirectory, seed: int) -> None:
        if not self.primary:
            return
        system: System = build_system(self.spec(name, task, main))

        def member_predictions(corpus: str) -> dict[str, Predictions]:
            found = {}
            for member in members:
                try:
                    found[member.system] = member.predictions(corpus)
                except RunDirectoryError as error:
                    raise RunError(f"fusion {name!r}: {error}") from None
            first = next(iter(found.values()))
            for member, predictions in found.items():
                if not predictions.aligned(first):
                    raise RunError(f"fusion {name!r}: member {member!r} predicted other utterances than {members[0].system!r}")
            return found

        main_members = member_predictions(MAIN)
        dev_members = {m: p.select("dev") for m, p in main_members.items()}
        dev = self.data(name, task, main, fold.dev, members=dev_members) if fold.dev else None
        fitted = system.fit(self.data(name, task, main, []), dev, task=task,
                            training=self.config.systems[name].training, seed=seed)
        predictions = {MAIN: system.predict(self._main_data(name, task, main, fold, members=main_members))}
        for corpus in extras.values():
            found = member_predictions(corpus.name)
            ids = list(next(iter(found.values())).ids)
            predictions[corpus.name] = system.predict(self.data(name, task, corpus, ids, split=["test"] * len(ids),
                                                                members=found))
        directory.save_system(system, fitted=fitted)
        self._finish(directory, predictions, fitted)

    def _finish(self, directory: FoldDirectory, predictions: Mapping[str, Predictions], fitted: Mapping[str, Any]) -> None:
        main = predictions[MAIN]
        record: dict[str, Any] = {"n_test": int(sum(s == "test" for s in main.split or ()))}
        for split in ("test", "dev"):
            part = main.select(split)
            if len(part):
                record[split] = part.evaluate()
        cross = {}
        for corpus, part in predictions.items():
            directory.write_predictions(part, corpus)
            if corpus != MAIN:
                cross[corpus] = part.evaluate()
        if cross:
            record["cross"] = cross
        record["fitted"] = dict(fitted)
        directory.write_metrics(record)
        directory.mark_done()
        directory.remove_checkpoints()


_WORKER_RUNNERS: dict[tuple[str, str, tuple[str, ...]], Runner] = {}


def _run_job_in_worker(config: ExperimentConfig, directory: str, job: tuple[str, int, int], threads: int,
                       systems: tuple[str, ...]) -> None:
    """One (system, seed, fold) job in a worker process; the prepared corpora are reused per process.
    ``systems`` are the run's (with their members): the worker reads only the inputs they take."""
    import torch

    torch.set_num_threads(threads)
    key = (directory, config_hash(config), systems)
    runner = _WORKER_RUNNERS.get(key)
    if runner is None:
        logging.getLogger("emofuse").setLevel(logging.WARNING)
        runner = _WORKER_RUNNERS[key] = Runner(config, directory, progress=False, systems=systems)
    runner.run_job(*job)


def run_experiment(config: ExperimentConfig, directory: str | os.PathLike[str], *, progress: bool = True,
                   restart: bool = False, systems: Sequence[str] | None = None, folds: Sequence[str] | None = None,
                   jobs: int = 1) -> RunResult:
    """Run (or resume) an experiment into ``directory``; ``jobs`` folds at a time.

    ``systems`` and ``folds`` (fold names) run only those (with the members they need); the
    summary covers every finished fold, so separate calls (or machines sharing the directory)
    can each take some folds.
    """
    return Runner(config, directory, progress=progress, restart=restart, systems=systems, folds=folds, jobs=jobs).run()

