"""Reliability: replays, as a user would, what goes wrong in practice (a wrong output directory,
a killed or interrupted run, a corrupted cache, bad ratings, audio that is not speech, bad files,
symlinks, reports, config typos, a shadowing folder, a stalling HTTP client) and checks that
emofuse does what it promises.

    .venv/bin/python benchmarks/reliability.py [--only SUBSTRING] [--output DIR]

Every case runs on tiny synthetic data (tones, a 48-utterance corpus) in a temporary directory,
through the command line in a subprocess, the Python API or the HTTP server, and compares what
happened with what is expected; subprocesses run under short timeouts, so that a hang is a
failed case. Cases that need ../shared (IEMOCAP_mini) are reported as skipped without it.
``--only`` runs the cases whose name contains SUBSTRING (case-insensitive). Prints the table
``case | expected | got | ok`` and ``N passed, M failed``; writes it to
benchmarks/results/reliability.json and .md (or to ``--output``). Exit code 0 when every case
that ran passed, 1 otherwise. About 5 minutes on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import functools
import http.client
import json
import logging
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

if __package__ in {None, ""}:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import soundfile  # noqa: E402

from benchmarks._common import RESULTS  # noqa: E402
from benchmarks._common import ROOT  # noqa: E402
from benchmarks._common import SHARED  # noqa: E402
from benchmarks._common import machine  # noqa: E402
from benchmarks._common import machine_line  # noqa: E402
from benchmarks._common import markdown_table  # noqa: E402

NAME = "reliability"
IEMOCAP_MINI = SHARED / "fixtures" / "IEMOCAP_mini"
EXAMPLES = ROOT / "emofuse" / "assets" / "examples"
SAMPLING_RATE = 16000
#: The installed ``emofuse`` script beside this Python, else ``python -m emofuse.cli``.
EMOFUSE = ([str(pathlib.Path(sys.executable).parent / "emofuse")]
           if (pathlib.Path(sys.executable).parent / "emofuse").exists() else [sys.executable, "-m", "emofuse.cli"])
#: Seconds a case may take in all (a safety net; every subprocess has its own, shorter limit).
CASE_TIMEOUT = 300.0
RUN_TIMEOUT = 180.0
PREDICT_TIMEOUT = 120.0

#: The temporary directory of this benchmark run (set by ``main``).
WORK = pathlib.Path(tempfile.gettempdir())
BACKGROUND: list[subprocess.Popen] = []


class SetupError(Exception):
    """Something a case needs could not be made (reported as that case's failure)."""


class Skipped(Exception):  # noqa: N818 - a case outcome, not an error
    """The case cannot run here (e.g. no ../shared)."""


# Text of the outputs ---------------------------------------------------------------------
def relative(text: str) -> str:
    """``text`` without this machine's absolute paths (temporary directory, checkout, home)."""
    replacements = [(WORK, "<tmp>"), (ROOT, "."), (SHARED, "../shared"), (pathlib.Path.home(), "~")]
    for path, name in replacements:
        for form in {str(path), str(path.resolve())}:
            if len(form) > 1:
                text = text.replace(form, name)
    return text


def tail(text: str, limit: int = 240) -> str:
    """The last meaningful line(s) of a process's output, shortened."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip() and not line.startswith("import time:")]
    short = " / ".join(lines[-2:])
    return short if len(short) <= limit else "..." + short[-limit:]


def quote(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


# Processes -------------------------------------------------------------------------------
@dataclasses.dataclass
class Completed:
    returncode: int | None  # None: killed at the timeout
    stdout: str
    stderr: str
    seconds: float

    @property
    def timed_out(self) -> bool:
        return self.returncode is None

    def describe(self) -> str:
        return "timed out" if self.timed_out else f"exit {self.returncode}"


def environment(**changes: str | None) -> dict[str, str]:
    """The environment of the user's subprocesses: offline, with a private feature cache."""
    env = {**os.environ, "HF_HUB_OFFLINE": os.environ.get("HF_HUB_OFFLINE", "1"),
           "TRANSFORMERS_OFFLINE": os.environ.get("TRANSFORMERS_OFFLINE", "1"),
           "EMOFUSE_CACHE": str(WORK / "emofuse-cache"), "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _kill(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run(command: list[Any], *, timeout: float = PREDICT_TIMEOUT, cwd: pathlib.Path | None = None,
        umask: int | None = None, env: dict[str, str] | None = None) -> Completed:
    """Run ``command`` to the end (or kill its process group at ``timeout``)."""
    command = [str(c) for c in command]
    if umask is not None:
        command = ["sh", "-c", f'umask {umask:03o} && exec "$@"', "sh", *command]
    start = time.monotonic()
    process = subprocess.Popen(command, cwd=cwd or WORK, env=env or environment(), stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace",
                               start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
        code: int | None = process.returncode
    except subprocess.TimeoutExpired:
        _kill(process)
        stdout, stderr = process.communicate()
        code = None
    return Completed(code, stdout, stderr, time.monotonic() - start)


@dataclasses.dataclass
class Background:
    """A process running on its own, its output going to files."""

    process: subprocess.Popen
    stdout: pathlib.Path
    stderr: pathlib.Path

    def output(self) -> tuple[str, str]:
        return (self.stdout.read_text(errors="replace") if self.stdout.exists() else "",
                self.stderr.read_text(errors="replace") if self.stderr.exists() else "")

    def wait(self, timeout: float) -> int | None:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(self.process)
            self.process.wait()
            return None

    def stop(self) -> None:
        stop(self.process)


def stop(process: subprocess.Popen) -> None:
    """Ctrl-C, then SIGKILL to the process group after 10 s."""
    if process.poll() is None:
        try:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=10)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            pass
    _kill(process)


def start(command: list[Any], *, name: str) -> Background:
    logs = WORK / "logs"
    logs.mkdir(exist_ok=True)
    out, err = logs / f"{name}.out", logs / f"{name}.err"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen([str(c) for c in command], cwd=WORK, env=environment(), stdin=subprocess.DEVNULL,
                                   stdout=stdout, stderr=stderr, start_new_session=True)
    BACKGROUND.append(process)
    return Background(process, out, err)


def wait_for(path: pathlib.Path, job: Background, timeout: float) -> str | None:
    """Wait until ``path`` exists while ``job`` runs; ``None`` when it does, else why not."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if job.process.poll() is not None:
            return f"the run ended (exit {job.process.returncode}) before {path.name} appeared: {tail(job.output()[1])}"
        if time.monotonic() > deadline:
            return f"{path.name} did not appear within {timeout:g} s"
        time.sleep(0.01)
    return None


def with_timeout(function: Callable[[], Any], seconds: float) -> Any:
    """``function()`` in a thread, so that an in-process hang fails the case instead of the run."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = function()
        except BaseException as error:  # noqa: BLE001 - handed to the caller
            result["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise TimeoutError(f"the case did not finish within {seconds:g} s")
    if "error" in result:
        raise result["error"]
    return result["value"]


def once(function: Callable[..., Any]) -> Callable[..., Any]:
    """Call ``function`` once per arguments; later calls return its result or raise its error again."""
    results: dict[tuple, tuple[bool, Any]] = {}

    @functools.wraps(function)
    def wrapper(*args: Any) -> Any:
        if args not in results:
            try:
                results[args] = (True, function(*args))
            except Exception as error:  # noqa: BLE001 - raised again below, and to every later caller
                results[args] = (False, error)
        succeeded, value = results[args]
        if succeeded:
            return value
        raise value

    return wrapper


# Tiny data -------------------------------------------------------------------------------
PITCH = {"neu": 140.0, "hap": 240.0, "sad": 115.0, "ang": 190.0}


def write_tone(path: pathlib.Path, *, frequency: float, amplitude: float, seconds: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLING_RATE)) / SAMPLING_RATE
    signal_ = amplitude * (np.sin(2 * np.pi * frequency * t) + 0.4 * np.sin(4 * np.pi * frequency * t))
    signal_ = np.clip(signal_ + 0.03 * rng.standard_normal(t.size), -0.95, 0.95)
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, signal_.astype(np.float32), SAMPLING_RATE, subtype="PCM_16")


@once
def corpus() -> pathlib.Path:
    """48 tones (6 speakers, 3 sessions, 4 classes) whose pitch and loudness carry the class,
    imperfectly (speakers' pitch ranges overlap); returns the manifest CSV."""
    import pandas as pd

    root = WORK / "corpus"
    rows = []
    speakers, sessions, per_class = 6, 3, 2
    for speaker in range(speakers):
        shift = 1 + 0.1 * (speaker - (speakers - 1) / 2)
        for label, pitch in PITCH.items():
            for k in range(per_class):
                rng = np.random.default_rng(1000 * speaker + 10 * k + len(label))
                identifier = f"s{speaker}_{label}_{k}"
                path = root / "wav" / f"{identifier}.wav"
                write_tone(path, frequency=pitch * shift * (1 + 0.04 * rng.standard_normal()),
                           amplitude=(0.45 if label in {"hap", "ang"} else 0.2) * (1 + 0.3 * rng.standard_normal()),
                           seconds=0.6, seed=int(rng.integers(1 << 30)))
                rows.append({"id": identifier, "audio": str(path), "speaker": f"s{speaker}",
                             "session": str(speaker // 2 % sessions + 1), "corpus": "synthetic",
                             "text": f"{label} words {k}", "emotion": label, "label": label})
    manifest = root / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest


def mlp(epochs: int) -> dict[str, Any]:
    return {"inputs": ["logmel"], "model": {"name": "mlp", "hidden_sizes": [16]},
            "training": {"max_epochs": epochs, "batch_size": 8, "learning_rate": 0.01}}


TINY_SYSTEMS = {
    "audio": mlp(8),
    "logreg": {"inputs": ["logmel"], "model": {"name": "logistic_regression", "c_grid": [0.1]}},
    "fused": {"members": ["audio", "logreg"], "fusion": {"name": "late", "method": "average"}},
}


def write_config(name: str, *, cache: str, systems: dict[str, Any] | None = None) -> pathlib.Path:
    """An experiment YAML on the tiny corpus (leave one session out: 3 folds, one seed)."""
    import yaml

    config = {"name": name, "data": {"manifest": str(corpus())},
              "protocol": {"name": "leave_one_session_out", "dev_fraction": 0.25}, "seeds": [0],
              "features": {"logmel": {"name": "logmel_stats", "n_mels": 16}},
              "extraction": {"cache_dir": str(WORK / cache)}, "systems": systems or TINY_SYSTEMS}
    path = WORK / "configs" / f"{name}.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def emofuse_run(config: pathlib.Path, output: pathlib.Path, *extra: str, timeout: float = RUN_TIMEOUT) -> Completed:
    return run([*EMOFUSE, "run", config, "-o", output, "--no-progress", *extra], timeout=timeout)


@once
def tiny_run() -> pathlib.Path:
    """A finished run of the tiny systems (MLP, logistic regression, their late fusion)."""
    output = WORK / "tiny_run"
    result = emofuse_run(write_config("tiny", cache="cache-tiny"), output)
    if result.returncode != 0:
        raise SetupError(f"the tiny run failed ({result.describe()}): {tail(result.stderr)}")
    return output


def fold_dir(run_dir: pathlib.Path, system: str = "audio", fold: str = "session_1") -> pathlib.Path:
    return run_dir / "systems" / system / "seed_0" / fold


def speech() -> np.ndarray:
    signal_, rate = soundfile.read(EXAMPLES / "happy.wav", dtype="float32")
    assert rate == SAMPLING_RATE
    return signal_


def write_wav(path: pathlib.Path, signal_: np.ndarray, subtype: str = "PCM_16") -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(path, signal_, SAMPLING_RATE, subtype=subtype)
    return path


@once
def recognizer() -> Any:
    from emofuse import Recognizer

    return Recognizer.from_pretrained("default", asr="none", num_threads=1)


def matching(warnings: tuple[str, ...] | list[str], pattern: str) -> list[str]:
    return [w for w in warnings if re.search(pattern, w, re.IGNORECASE)]


# Cases -----------------------------------------------------------------------------------
Outcome = tuple[bool, str]


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    expected: str
    function: Callable[[], Outcome]
    needs_shared: bool = False


CASES: list[Case] = []


def case(name: str, expected: str, *, needs_shared: bool = False) -> Callable[[Callable[[], Outcome]], Callable[[], Outcome]]:
    def register(function: Callable[[], Outcome]) -> Callable[[], Outcome]:
        CASES.append(Case(name, expected, function, needs_shared))
        return function

    return register


@case("01 run --restart into a non-run directory",
      "refused with a message, exit non-zero, thesis.tex still there, nothing written")
def restart_refuses_a_foreign_directory() -> Outcome:
    thesis = WORK / "thesis"
    thesis.mkdir()
    (thesis / "thesis.tex").write_text("\\chapter{Precious}\n")
    before = sorted(p.name for p in thesis.iterdir())
    result = emofuse_run(write_config("foreign", cache="cache-foreign"), thesis, "--restart", timeout=60)
    after = sorted(p.name for p in thesis.iterdir()) if thesis.is_dir() else []
    intact = (thesis / "thesis.tex").is_file() and (thesis / "thesis.tex").read_text() == "\\chapter{Precious}\n"
    message = tail(result.stderr)
    ok = result.returncode not in (0, None) and bool(message) and intact and after == before
    return ok, (f"{result.describe()}; stderr {quote(message)}; thesis.tex {'intact' if intact else 'CHANGED OR GONE'}; "
                f"files {after}")


@case("02 run --restart on a run holding a user's file",
      "exit 0, the run's files deleted and re-created (new run id, folds re-done), the user's files kept")
def restart_keeps_the_users_files() -> Outcome:
    run_dir = WORK / "restarted"
    shutil.copytree(tiny_run(), run_dir, symlinks=True)
    folds = len(list(run_dir.glob("systems/*/seed_0/*/done.json")))
    (run_dir / "my_analysis.ipynb").write_text("{\"mine\": true}")
    (fold_dir(run_dir) / "notes.txt").write_text("my notes")
    old_id = json.loads((run_dir / "emofuse-run.json").read_text())["id"]
    started = time.time()
    result = emofuse_run(run_dir / "config.yaml", run_dir, "--restart")
    kept = ((run_dir / "my_analysis.ipynb").is_file() and (fold_dir(run_dir) / "notes.txt").is_file()
            and (fold_dir(run_dir) / "notes.txt").read_text() == "my notes")
    marker = run_dir / "emofuse-run.json"
    new_id = json.loads(marker.read_text())["id"] if marker.is_file() else None
    done = sorted(run_dir.glob("systems/*/seed_0/*/done.json"))
    redone = [p for p in done if p.stat().st_mtime >= started - 1]
    ok = result.returncode == 0 and kept and new_id not in (None, old_id) and len(done) == folds and len(redone) == folds
    return ok, (f"{result.describe()}; user files {'kept' if kept else 'LOST'}; run id {'new' if new_id not in (None, old_id) else 'unchanged'}; "
                f"{len(redone)} of {len(done)} folds re-done" + ("" if result.returncode == 0 else f"; {tail(result.stderr)}"))


@case("03 SIGKILL mid-training, then re-run",
      "the fold resumes from last.ckpt and its predictions.csv is byte-identical to an uninterrupted run's")
def killed_run_resumes_exactly() -> Outcome:
    config = write_config("resume", cache="cache-resume", systems={"audio": mlp(40)})
    only = ("--system", "audio", "--fold", "session_1")
    reference = emofuse_run(config, WORK / "resume-reference", *only)
    if reference.returncode != 0:
        return False, f"uninterrupted run: {reference.describe()}: {tail(reference.stderr)}"
    killed = WORK / "resume-killed"
    job = start([*EMOFUSE, "run", config, "-o", killed, "--no-progress", *only], name="resume-killed")
    problem = wait_for(fold_dir(killed) / "checkpoints" / "last.ckpt", job, 120)
    if problem:
        job.stop()
        return False, problem
    os.killpg(job.process.pid, signal.SIGKILL)
    code = job.wait(30)
    finished_before = (fold_dir(killed) / "done.json").exists()
    killed_after = completed_epochs(fold_dir(killed) / "checkpoints" / "last.ckpt")
    resumed = emofuse_run(config, killed, *only)
    if resumed.returncode != 0:
        return False, f"killed with {code}; re-run: {resumed.describe()}: {tail(resumed.stderr)}"
    logs = sorted((fold_dir(killed) / "logs").glob("version_*/metrics.csv"))
    first_epoch = None
    if len(logs) >= 2:
        import pandas as pd

        epochs = pd.read_csv(logs[-1])["epoch"].dropna()
        first_epoch = int(epochs.min()) if len(epochs) else None
    a, b = (fold_dir(d) / "predictions.csv" for d in (WORK / "resume-reference", killed))
    identical = a.is_file() and b.is_file() and a.read_bytes() == b.read_bytes()
    from_scratch = first_epoch == 0
    ok = code == -signal.SIGKILL and not finished_before and identical and not from_scratch
    where = "resumed from epoch " + str(first_epoch) if first_epoch is not None else "resume point not logged"
    best = [fitted(d).get("best_epoch") for d in (WORK / "resume-reference", killed)]
    return ok, (f"killed (exit {code}) once last.ckpt appeared ({killed_after} epochs completed); re-run exit 0, {where}; "
                f"predictions.csv " + ("byte-identical" if identical else "DIFFERS from the uninterrupted run's")
                + f"; best dev epoch: uninterrupted {best[0]}, resumed {best[1]}")


def completed_epochs(checkpoint: pathlib.Path) -> int | str:
    """The epochs a Lightning checkpoint says were completed (emofuse stores ``epochs_completed``)."""
    try:
        import torch

        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        return int(state.get("epochs_completed", state.get("epoch", -1) + 1))
    except Exception as error:  # noqa: BLE001 - only described
        return f"unreadable ({type(error).__name__})"


def fitted(run_dir: pathlib.Path) -> dict[str, Any]:
    path = fold_dir(run_dir) / "metrics.json"
    return json.loads(path.read_text()).get("fitted", {}) if path.is_file() else {}


def signal_case(signal_name: str, expected_code: int) -> Outcome:
    config = write_config("signals", cache="cache-signals", systems={"audio": mlp(60)})
    only = ("--system", "audio", "--fold", "session_1")
    output = WORK / f"signal-{signal_name}"
    job = start([*EMOFUSE, "run", config, "-o", output, "--no-progress", *only], name=f"signal-{signal_name}")
    problem = wait_for(fold_dir(output) / "checkpoints" / "last.ckpt", job, 120)
    if problem:
        job.stop()
        return False, problem
    job.process.send_signal(getattr(signal, signal_name))
    code = job.wait(60)
    stderr = job.output()[1]
    hint = next((line.strip() for line in stderr.splitlines() if re.search(r"resum|re-run", line, re.IGNORECASE)), "")
    rerun = emofuse_run(config, output, *only)
    done = (fold_dir(output) / "done.json").is_file()
    ok = code == expected_code and bool(hint) and rerun.returncode == 0 and done
    return ok, (f"exit {code if code is not None else 'none (still running after 60 s)'}; stderr {quote(hint or tail(stderr))}; "
                f"re-run {rerun.describe()}, fold {'finished' if done else 'NOT finished'}")


@case("04a SIGINT to a running `emofuse run`",
      "exit 130, stderr says how to resume; the same command again finishes the fold")
def sigint_stops_cleanly() -> Outcome:
    return signal_case("SIGINT", 130)


@case("04b SIGTERM to a running `emofuse run`",
      "exit 143, stderr says how to resume; the same command again finishes the fold")
def sigterm_stops_cleanly() -> Outcome:
    return signal_case("SIGTERM", 143)


@case("05 feature-cache entries with NaNs and a wrong shape",
      "a warning, the entries recomputed, and results/metrics.csv and predictions.csv equal to a clean run's")
def invalid_cache_entries_are_recomputed() -> Outcome:
    config = write_config("cache", cache="cache-check", systems={"audio": mlp(5), "logreg": TINY_SYSTEMS["logreg"]})
    clean = emofuse_run(config, WORK / "cache-clean")
    if clean.returncode != 0:
        return False, f"clean run: {clean.describe()}: {tail(clean.stderr)}"
    entries = sorted((WORK / "cache-check").glob("*/*/*.npy"))
    if len(entries) < 2:
        return False, f"the clean run cached {len(entries)} entries; expected one per utterance"
    shape = np.load(entries[0]).shape
    np.save(entries[0], np.full(shape, np.nan, dtype=np.float32))
    np.save(entries[1], np.zeros((3, shape[-1] + 5), dtype=np.float32))
    again = emofuse_run(config, WORK / "cache-again")
    if again.returncode != 0:
        return False, f"run over the corrupted cache: {again.describe()}: {tail(again.stderr)}"
    warning = next((line.strip() for line in again.stderr.splitlines()
                    if re.search(r"invalid|recomput|computed again|corrupt", line, re.IGNORECASE)), "")
    same = {name: (WORK / "cache-clean" / "results" / name).read_bytes() == (WORK / "cache-again" / "results" / name).read_bytes()
            for name in ("metrics.csv", "predictions.csv")}
    repaired = all(np.load(p).shape == shape and np.isfinite(np.load(p)).all() for p in entries[:2] if p.exists())
    ok = bool(warning) and all(same.values()) and repaired
    return ok, (f"warning {quote(warning) if warning else 'NONE'}; "
                + ", ".join(f"{n} {'equal' if s else 'DIFFERS'}" for n, s in same.items())
                + f"; cache entries {'repaired' if repaired else 'still invalid'}")


def iemocap_copy() -> tuple[pathlib.Path, pathlib.Path, str, int]:
    """A copy of IEMOCAP_mini whose first rating in Session1 reads [9.0000, -3.0000, 2.0000]:
    (root, the edited file, the turn, the 1-based line)."""
    if not IEMOCAP_MINI.is_dir():
        raise Skipped
    root = WORK / "IEMOCAP_edited"
    if not root.exists():
        shutil.copytree(IEMOCAP_MINI, root)
        for path in root.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
    evaluation = sorted((root / "Session1" / "dialog" / "EmoEvaluation").glob("Ses01*.txt"))[0]
    lines = evaluation.read_text().splitlines(keepends=True)
    pattern = re.compile(r"^(\[[^\]]+\]\t(\S+)\t\w+\t)\[[^\]]+\]")
    for number, line in enumerate(lines):
        match = pattern.match(line)
        if match:
            lines[number] = pattern.sub(r"\1[9.0000, -3.0000, 2.0000]", line)
            evaluation.write_text("".join(lines))
            return root, evaluation, match.group(2), number + 1
    raise SetupError(f"no rating line in {evaluation.name}")


@case("06a IEMOCAP_mini with a rating of [9, -3, 2], default reader",
      "`emofuse prepare iemocap` fails, naming the file, the line and the value 9", needs_shared=True)
def out_of_scale_is_an_error() -> Outcome:
    root, evaluation, turn, line = iemocap_copy()
    result = run([*EMOFUSE, "prepare", "iemocap", root, "-o", WORK / "iemocap_default.csv"], timeout=120)
    message = next((m for m in result.stderr.splitlines() if "error" in m.lower()), tail(result.stderr))
    names_file = evaluation.name in message
    names_line = re.search(rf"{re.escape(evaluation.name)}:{line}\b|line {line}\b", message) is not None
    without_line = re.sub(rf"{re.escape(evaluation.name)}:{line}\b|line {line}\b", "", message)
    names_value = re.search(r"(?<![\d.])9(\.0+)?(?![\d.])", without_line) is not None
    ok = result.returncode not in (0, None) and names_file and names_line and names_value
    return ok, (f"{result.describe()}; {quote(relative(message), 220)} (edited {evaluation.name}:{line}; "
                f"file {'named' if names_file else 'NOT named'}, line {'named' if names_line else 'NOT named'}, "
                f"value {'named' if names_value else 'NOT named'})")


@case("06b the same with `out_of_scale: clip`",
      "accepted; the turn's ratings clipped to the scale and the clipping recorded in its metadata", needs_shared=True)
def out_of_scale_is_clipped_and_recorded() -> Outcome:
    from emofuse import Manifest

    root, evaluation, turn, line = iemocap_copy()
    output = WORK / "iemocap_clip.csv"
    result = run([*EMOFUSE, "prepare", "iemocap", root, "-o", output, "--set", "out_of_scale=clip"], timeout=120)
    if result.returncode != 0:
        return False, f"{result.describe()}: {relative(tail(result.stderr))}"
    utterance = Manifest.load(output)[turn]
    note = " ".join(str(v) for k, v in utterance.metadata.items() if "clip" in k.lower())
    recorded = bool(re.search(r"valence 9", note)) and bool(re.search(r"arousal -3", note))
    clipped = utterance.valence == 1.0 and utterance.arousal == -1.0
    ok = recorded and clipped
    return ok, (f"exit 0; {turn}: valence {utterance.valence}, arousal {utterance.arousal}; "
                f"metadata {quote(note) if note else 'records NO clipping'}")


def no_speech_case(signal_: np.ndarray, name: str) -> Outcome:
    path = write_wav(WORK / "nonspeech" / name, signal_)
    prediction = recognizer()(path)
    said = matching(prediction.warnings, r"no speech")
    ok = prediction.emotion is None and prediction.posteriors == {} and bool(said)
    return ok, (f"emotion {prediction.emotion!r}, posteriors {len(prediction.posteriors)} classes, error {prediction.error!r}; "
                f"warnings {'; '.join(quote(w, 110) for w in prediction.warnings) or 'none'}")


@case("07a default recogniser on 5 s of dithered silence",
      "emotion None, posteriors empty, a warning saying no speech")
def dithered_silence() -> Outcome:
    return no_speech_case(np.random.default_rng(0).normal(0, 1e-4, 5 * SAMPLING_RATE).astype(np.float32), "dither.wav")


@case("07b default recogniser on 5 s of constant DC",
      "emotion None, posteriors empty, a warning saying no speech")
def constant_dc() -> Outcome:
    return no_speech_case(np.full(5 * SAMPLING_RATE, 0.5, dtype=np.float32), "dc.wav")


def warning_case(prediction: Any, pattern: str) -> Outcome:
    said = matching(prediction.warnings, pattern)
    return bool(said) and prediction.error is None, (f"emotion {prediction.emotion!r}, error {prediction.error!r}; "
                                                     f"warnings {'; '.join(quote(w, 110) for w in prediction.warnings) or 'none'}")


@case("07c float WAV at 10x full scale",
      "predicted, with a warning about samples beyond full scale")
def hot_float_wav() -> Outcome:
    path = write_wav(WORK / "hot" / "hot.wav", speech() * 10, subtype="FLOAT")
    return warning_case(recognizer()(path), r"full scale|over-?range|exceed")


@case("07d int16-scaled float array to predict_signals",
      "predicted, with a warning about samples beyond full scale")
def int16_scaled_array() -> Outcome:
    return warning_case(recognizer().predict_signals([speech() * 32767.0])[0], r"full scale|over-?range|exceed")


@case("07e clipped recording", "predicted, with a clipping warning")
def clipped_recording() -> Outcome:
    path = write_wav(WORK / "clipped" / "clipped.wav", np.clip(speech() * 8, -1.0, 1.0))
    return warning_case(recognizer()(path), r"clip")


@case("07f truncated WAV (header promises more frames than the file holds)",
      "predicted from what is there, with a warning that the file is truncated")
def truncated_wav() -> Outcome:
    whole = write_wav(WORK / "truncated" / "whole.wav", speech())
    data = whole.read_bytes()
    path = WORK / "truncated" / "truncated.wav"
    path.write_bytes(data[: 44 + (len(data) - 44) // 2])
    return warning_case(recognizer()(path), r"truncat")


def bad_file() -> pathlib.Path:
    path = WORK / "bad" / "broken.wav"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot really audio")
    return path


@case("08a Recognizer.predict([good, bad, good])",
      "3 results: the middle one with error set and no emotion, the others predicted")
def predict_returns_errors_in_place() -> Outcome:
    good = [EXAMPLES / "happy.wav", EXAMPLES / "angry.wav"]
    results = recognizer().predict([good[0], bad_file(), good[1]])
    shape = [("error" if r.error else (r.emotion or "None")) for r in results]
    ok = (len(results) == 3 and results[1].error is not None and results[1].emotion is None
          and all(r.error is None and r.emotion is not None for r in (results[0], results[2])))
    detail = quote(relative(results[1].error), 120) if len(results) == 3 and results[1].error else "-"
    return ok, f"{len(results)} results {shape}; middle error {detail}"


@case("08b Recognizer.predict([good, bad, good], errors='raise')", "raises (a ValueError such as AudioError)")
def predict_raises_when_asked() -> Outcome:
    try:
        recognizer().predict([EXAMPLES / "happy.wav", bad_file(), EXAMPLES / "angry.wav"], errors="raise")
    except Exception as error:  # noqa: BLE001 - the type is the outcome
        return isinstance(error, ValueError), f"raised {type(error).__name__}: {quote(relative(str(error)), 120)}"
    return False, "returned without raising"


def raises_value_error(function: Callable[[], Any]) -> tuple[bool, str]:
    try:
        function()
    except ZeroDivisionError as error:
        return False, f"ZeroDivisionError: {error}"
    except ValueError as error:
        return True, f"{type(error).__name__}: {quote(relative(str(error)), 90)}"
    except Exception as error:  # noqa: BLE001 - the type is the outcome
        return False, f"{type(error).__name__}: {quote(relative(str(error)), 90)}"
    return False, "no error"


@case("08c read_audio(path, sampling_rate=0)", "ValueError, not ZeroDivisionError (emofuse.audio.io and emofuse.read_audio)")
def read_audio_rate_zero() -> Outcome:
    import emofuse
    from emofuse.audio.io import read_audio

    outcomes = [raises_value_error(lambda: read_audio(EXAMPLES / "happy.wav", sampling_rate=0)),
                raises_value_error(lambda: emofuse.read_audio(EXAMPLES / "happy.wav", sampling_rate=0))]
    return all(ok for ok, _ in outcomes), "; ".join(text for _, text in outcomes)


@case("08d the recogniser's load helper with sampling_rate=0",
      "ValueError, not ZeroDivisionError (Recognizer.load_audio and recognizer(signal, sampling_rate=0))")
def load_helper_rate_zero() -> Outcome:
    model = recognizer()
    outcomes = [raises_value_error(lambda: model.load_audio(speech(), sampling_rate=0)),
                raises_value_error(lambda: model(speech(), sampling_rate=0))]
    return all(ok for ok, _ in outcomes), "; ".join(text for _, text in outcomes)


@case("08e predict_signals with a NaN array", "ValueError")
def nan_signal() -> Outcome:
    signal_ = speech().copy()
    signal_[1000:1010] = np.nan
    return raises_value_error(lambda: recognizer().predict_signals([signal_]))


@case("08f a transcript holding a lone surrogate '\\ud800'", "no crash: a prediction is returned")
def lone_surrogate() -> Outcome:
    try:
        prediction = recognizer()(EXAMPLES / "happy.wav", text="what wonderful news \ud800 today")
    except Exception as error:  # noqa: BLE001 - the type is the outcome
        return False, f"{type(error).__name__}: {quote(str(error), 120)}"
    ok = prediction.error is None and prediction.emotion is not None
    return ok, f"emotion {prediction.emotion!r}, transcript_source {prediction.transcript_source!r}, warnings {list(prediction.warnings)}"


def predict_cli(*arguments: Any, umask: int | None = None) -> Completed:
    return run([*EMOFUSE, "predict", *arguments, "--asr", "none", "--no-progress"], timeout=PREDICT_TIMEOUT, umask=umask)


@case("09a `emofuse predict -o out.csv` under umask 022 and 077",
      "out.csv gets 0666 & ~umask: 0644, then 0600")
def output_permissions() -> Outcome:
    modes, notes = [], []
    for mask in (0o022, 0o077):
        output = WORK / "permissions" / f"out_{mask:03o}.csv"
        output.parent.mkdir(exist_ok=True)
        result = predict_cli(EXAMPLES / "happy.wav", "--format", "csv", "-o", output, umask=mask)
        mode = output.stat().st_mode & 0o777 if output.is_file() else None
        modes.append(mode == 0o666 & ~mask)
        notes.append(f"umask {mask:03o}: {result.describe()}, mode {oct(mode) if mode is not None else 'no file'}")
    return all(modes), "; ".join(notes)


@case("09b `emofuse predict -o link.csv` where link.csv is a symlink",
      "the link replaced by the output file, its target untouched")
def output_symlink() -> Outcome:
    directory = WORK / "symlink"
    directory.mkdir()
    target = directory / "target.txt"
    target.write_text("precious")
    link = directory / "link.csv"
    link.symlink_to(target)
    result = predict_cli(EXAMPLES / "happy.wav", "--format", "csv", "-o", link)
    untouched = target.read_text() == "precious"
    replaced = link.exists() and not link.is_symlink() and "emotion" in link.read_text()
    ok = result.returncode == 0 and untouched and replaced
    return ok, (f"{result.describe()}; target {'untouched' if untouched else 'OVERWRITTEN'}; link.csv "
                f"{'replaced by the CSV' if replaced else ('still a symlink' if link.is_symlink() else 'missing or wrong')}")


def count_line(stderr: str) -> tuple[tuple[int, int] | None, str]:
    match = re.search(r"(\d+) predictions?, (\d+) errors?", stderr)
    line = next((line.strip() for line in stderr.splitlines() if match and match.group(0) in line), "")
    return ((int(match.group(1)), int(match.group(2))) if match else None), line


@case("09c `emofuse predict DIR` with one bad file among two good ones",
      "'2 predictions, 1 errors' on stderr; the bad file's record carries its error")
def prediction_counts() -> Outcome:
    directory = WORK / "counts"
    directory.mkdir()
    for name in ("happy.wav", "sad.wav"):
        shutil.copy(EXAMPLES / name, directory / name)
    shutil.copy(bad_file(), directory / "broken.wav")
    output = WORK / "counts.jsonl"
    result = predict_cli(directory, "-o", output)
    counts, line = count_line(result.stderr)
    records = [json.loads(x) for x in output.read_text().splitlines() if x.strip()] if output.is_file() else []
    errors = sorted(r["file"] for r in records if r.get("error"))
    ok = counts == (2, 1) and errors == ["broken.wav"] and len(records) == 3
    return ok, f"{result.describe()}; stderr {quote(relative(line) or tail(result.stderr))}; {len(records)} records, errors in {errors}"


@case("09d `emofuse predict --max-duration 2` on a 3 s and a 1.5 s file",
      "accepted; the 3 s file refused as too long, the 1.5 s file predicted ('1 predictions, 1 errors')")
def max_duration() -> Outcome:
    directory = WORK / "durations"
    write_wav(directory / "long.wav", speech())
    write_wav(directory / "short.wav", speech()[: int(1.5 * SAMPLING_RATE)])
    output = WORK / "durations.jsonl"
    result = predict_cli(directory, "--max-duration", "2", "-o", output)
    records = {r["file"]: r for r in (json.loads(x) for x in output.read_text().splitlines() if x.strip())} if output.is_file() else {}
    counts, _ = count_line(result.stderr)
    long_error = records.get("long.wav", {}).get("error") or ""
    ok = (result.returncode != 2 and "too long" in long_error and "short.wav" in records
          and not records["short.wav"].get("error") and counts == (1, 1))
    return ok, (f"{result.describe()}; long.wav error {quote(long_error) if long_error else 'none'}; short.wav "
                + (f"error {quote(records['short.wav']['error'])}" if records.get("short.wav", {}).get("error")
                   else ("predicted" if "short.wav" in records else "missing"))
                + f"; counts {counts}" + ("" if records else f"; {tail(result.stderr)}"))


@once
def report(test: str | None = None) -> str:
    output = WORK / f"report-{test or 'default'}"
    result = run([*EMOFUSE, "report", tiny_run(), "-o", output, *(["--test", test] if test else [])], timeout=180)
    if result.returncode != 0 or not (output / "report.md").is_file():
        raise SetupError(f"emofuse report {result.describe()}: {tail(result.stderr)}")
    return (output / "report.md").read_text()


ABSOLUTE = re.compile(r"(?<![\w.~/])/(?:tmp|home|work|root|Users|var|private|mnt|opt|srv|data)/[^\s)`|\]]*")


@case("10a `emofuse report RUN -o OUT` on a tiny run: paths", "no absolute path of this machine in report.md")
def report_has_no_absolute_paths() -> Outcome:
    text = report()
    found = sorted({m.group(0) for m in ABSOLUTE.finditer(text)}
                   | {s for s in (str(WORK), str(ROOT), str(pathlib.Path.home())) if s in text})
    return not found, f"{len(found)} absolute paths" + (f": {[relative(f) for f in found[:3]]}" if found else "")


def captions(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("**Table")]


@case("10b report captions, default test", "the captions name the paired t-test")
def report_names_the_paired_t_test() -> Outcome:
    named = [c for c in captions(report()) if "paired t-test" in c.lower()]
    return bool(named), f"{len(named)} of {len(captions(report()))} captions name the paired t-test"


@case("10c report --test wilcoxon", "the captions name the Wilcoxon test, none the paired t-test")
def report_names_wilcoxon() -> Outcome:
    lines = captions(report("wilcoxon"))
    wilcoxon = [c for c in lines if "wilcoxon" in c.lower()]
    paired_t = [c for c in lines if "paired t-test" in c.lower()]
    return bool(wilcoxon) and not paired_t, f"{len(wilcoxon)} captions name Wilcoxon, {len(paired_t)} the paired t-test"


@case("10d report of a one-seed run", "no '± 0.0' (no spread over a single seed)")
def report_without_zero_spread() -> Outcome:
    lines = [line for line in report().splitlines() if re.search(r"± 0\.0+(?![0-9])", line)]
    return not lines, f"{len(lines)} lines with '± 0.0'" + (f", first: {quote(lines[0], 150)}" if lines else "")


@case("11 config with an unknown model key (hiden_sizes)",
      "error naming systems.audio.model.hiden_sizes, from the CLI and load_experiment, without importing torch")
def unknown_key() -> Outcome:
    systems = {"audio": {"inputs": ["logmel"], "model": {"name": "mlp", "hiden_sizes": [8]}}}
    config = write_config("typo", cache="cache-typo", systems=systems)
    output = WORK / "typo-run"
    cli = run([sys.executable, "-X", "importtime", "-m", "emofuse.cli", "run", config, "-o", output], timeout=60)
    imported = sorted({line.rsplit("|", 1)[-1].strip() for line in cli.stderr.splitlines() if line.startswith("import time:")})
    cli_torch = any(name == "torch" or name.startswith("torch.") for name in imported)
    message = next((line for line in cli.stderr.splitlines() if "hiden_sizes" in line), "")
    code = ("import sys, emofuse\n"
            f"try:\n    emofuse.load_experiment({str(config)!r})\n"
            "except emofuse.ConfigError as error:\n    print('error:', error)\n"
            "print('torch imported:', 'torch' in sys.modules)\n")
    api = run([sys.executable, "-c", code], timeout=60)
    api_message = next((line for line in api.stdout.splitlines() if line.startswith("error:")), "")
    key = "systems.audio.model.hiden_sizes"
    ok = (cli.returncode not in (0, None) and key in message and not cli_torch and key in api_message
          and "torch imported: False" in api.stdout)
    return ok, (f"CLI {cli.describe()}, {quote(relative(message) or tail(cli.stderr), 130)}, torch "
                f"{'IMPORTED' if cli_torch else 'not imported'}; API {quote(relative(api_message) or tail(api.stderr), 80)}, "
                + (next((x for x in api.stdout.splitlines() if x.startswith("torch imported")), "torch: ?")))


def exported_provenance(name: str, *extra: str) -> tuple[Completed, dict[str, Any]]:
    output = WORK / name
    result = run([*EMOFUSE, "export", tiny_run(), "-o", output, "--asr", "none", *extra], timeout=RUN_TIMEOUT)
    config = output / "config.json"
    provenance = json.loads(config.read_text()).get("provenance", {}) if config.is_file() else {}
    return result, provenance


def labelled_utterances(run_dir: pathlib.Path) -> int:
    import pandas as pd

    manifest = pd.read_csv(run_dir / "manifest.csv")
    return int(manifest["label"].notna().sum())


@case("12a `emofuse export RUN --refit`",
      "config.json provenance says model: refit, trained on all N labelled utterances")
def export_refit() -> Outcome:
    result, provenance = exported_provenance("export-refit", "--refit")
    count = labelled_utterances(tiny_run())
    trained_on = str(provenance.get("trained_on", ""))
    ok = result.returncode == 0 and provenance.get("model") == "refit" and f"all {count} labelled utterances" in trained_on
    return ok, (f"{result.describe()}; model {provenance.get('model')!r}; trained_on {quote(trained_on, 90)} (N = {count})"
                + ("" if result.returncode == 0 else f"; {tail(result.stderr)}"))


@case("12b `emofuse export RUN` (no --refit)", "config.json provenance says model: fold")
def export_fold() -> Outcome:
    result, provenance = exported_provenance("export-fold")
    ok = result.returncode == 0 and provenance.get("model") == "fold"
    return ok, (f"{result.describe()}; model {provenance.get('model')!r}; trained_on {quote(str(provenance.get('trained_on', '')), 90)}"
                + ("" if result.returncode == 0 else f"; {tail(result.stderr)}"))


@case("13 `import emofuse; emofuse.Recognizer` beside a folder named emofuse/",
      "works (the installed package is imported) or fails with a clear error about the shadowing folder; never AttributeError")
def namespace_shadow() -> Outcome:
    notes, oks = [], []
    variants = {"empty folder": None, "clone (symlink to the checkout)": ROOT}
    for label, target in variants.items():
        where = WORK / f"shadow-{len(notes)}"
        where.mkdir()
        if target is None:
            (where / "emofuse").mkdir()
            (where / "emofuse" / "README.txt").write_text("not the package")
        else:
            (where / "emofuse").symlink_to(target, target_is_directory=True)
        result = run([sys.executable, "-c", "import emofuse; emofuse.Recognizer; print(emofuse.__file__)"], cwd=where,
                     timeout=60, env=environment(PYTHONPATH=None))
        if result.returncode == 0:
            works = result.stdout.strip().endswith("__init__.py")
            oks.append(works)
            notes.append(f"{label}: works ({relative(result.stdout.strip())})")
        else:
            clear = "AttributeError" not in result.stderr and re.search(r"namespace|shadow", result.stderr, re.IGNORECASE)
            oks.append(bool(clear) and not result.timed_out)
            notes.append(f"{label}: {result.describe()}, {quote(relative(tail(result.stderr)), 120)}")
    return all(oks), "; ".join(notes)


# The server ------------------------------------------------------------------------------
@dataclasses.dataclass
class Server:
    job: Background
    port: int
    announcement: str
    connected: bool
    connect_error: str


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@once
def server() -> Server:
    """``emofuse serve`` (bundled recogniser, its default ASR) on a free port; the moment it
    prints its URL, a connection is tried."""
    port = free_port()
    job = start([*EMOFUSE, "serve", "--port", port], name="serve")
    deadline = time.monotonic() + 180
    while True:
        stdout, stderr = job.output()
        line = next((x for x in stdout.splitlines() if "http://" in x), None)
        if line is not None:
            break
        if job.process.poll() is not None:
            raise SetupError(f"emofuse serve exited {job.process.returncode}: {tail(stderr)}")
        if time.monotonic() > deadline:
            job.stop()
            raise SetupError("emofuse serve printed no URL within 180 s")
        time.sleep(0.02)
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        connected, error = True, ""
    except OSError as problem:
        connected, error = False, str(problem)
    return Server(job, port, line.strip(), connected, error)


def multipart(fields: dict[str, str], file: tuple[str, bytes, str]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    parts = []
    for key, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{key}"\r\n\r\n{value}\r\n'.encode())
    name, data, content_type = file
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
                 f"Content-Type: {content_type}\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def request(method: str, path: str, *, body: bytes | None = None, content_type: str | None = None) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", server().port, timeout=60)
    try:
        connection.request(method, path, body=body, headers={"Content-Type": content_type} if content_type else {})
        response = connection.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        connection.close()


@case("14a server: a client declares Content-Length 20 MB, sends 90 bytes and stalls",
      "HTTP 408 within the body timeout (ServerSettings.body_timeout, + 3 s), then the connection closed")
def stalled_upload() -> Outcome:
    from emofuse.inference.server import ServerSettings

    body_timeout = ServerSettings().body_timeout
    port = server().port
    with socket.create_connection(("127.0.0.1", port), timeout=body_timeout + 10) as connection:
        head = ("POST /predict HTTP/1.1\r\nHost: localhost\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                f"Content-Length: {20 * 1024 * 1024}\r\n\r\n").encode()
        connection.sendall(head + b"--b\r\n" + b"x" * 85)
        sent = time.monotonic()
        answer, first, closed = b"", None, False
        while True:
            try:
                chunk = connection.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                closed = True
                break
            answer += chunk
            if first is None:
                first = time.monotonic() - sent
                connection.settimeout(5)
    status = answer.split(b"\r\n", 1)[0].decode(errors="replace")
    ok = status.startswith("HTTP/1.1 408") and first is not None and first <= body_timeout + 3 and closed
    when = f"after {first:.1f} s" if first is not None else f"nothing within {body_timeout + 10:g} s"
    return ok, f"{quote(status) if status else 'no answer'} {when} (body timeout {body_timeout:g} s); connection {'closed' if closed else 'LEFT OPEN'}"


@case("14b server: an upload that is not audio", "415 with a clean message (no '<_io.BytesIO', no 'object at 0x')")
def not_audio_upload() -> Outcome:
    body, content_type = multipart({}, ("notes.pdf", b"%PDF-1.4 not audio at all\n" * 10, "application/pdf"))
    status, text = request("POST", "/predict", body=body, content_type=content_type)
    try:
        detail = str(json.loads(text).get("detail", ""))
    except ValueError:
        detail = text
    clean = "<_io" not in text and "object at 0x" not in text and bool(detail)
    return status == 415 and clean, f"{status}: {quote(detail, 150)}"


@case("14c server: GET /docs offline", "200, no http(s) URL in the page, every asset it links served locally")
def docs_offline() -> Outcome:
    status, page = request("GET", "/docs")
    urls = sorted(set(re.findall(r"https?://[^\s\"'<>)]+", page)))
    assets = sorted(set(re.findall(r"""(?:src|href)\s*=\s*["'](/[^"']+)["']""", page)))
    missing = [a for a in assets if request("GET", a)[0] != 200]
    ok = status == 200 and not urls and not missing
    return ok, (f"{status}; {len(urls)} http(s) URLs{': ' + str(urls[:3]) if urls else ''}; "
                f"{len(assets) - len(missing)} of {len(assets)} local assets served")


@case("14d server: POST /predict with asr=false and timeline=false",
      "200; transcript_source 'none', no timeline")
def asr_off_no_timeline() -> Outcome:
    body, content_type = multipart({"asr": "false", "timeline": "false"},
                                   ("happy.wav", (EXAMPLES / "happy.wav").read_bytes(), "audio/wav"))
    status, text = request("POST", "/predict", body=body, content_type=content_type)
    try:
        answer = json.loads(text)
    except ValueError:
        return False, f"{status}: {quote(text)}"
    prediction = answer.get("prediction", {})
    ok = status == 200 and prediction.get("transcript_source") == "none" and "timeline" not in answer
    return ok, (f"{status}; emotion {prediction.get('emotion')!r}, transcript_source {prediction.get('transcript_source')!r}, "
                f"timeline {'absent' if 'timeline' not in answer else 'PRESENT'}" + ("" if status == 200 else f"; {quote(text)}"))


@case("14e `emofuse serve` prints its URL", "only once the port accepts connections (a connection made at once succeeds)")
def url_after_port_opens() -> Outcome:
    state = server()
    return state.connected, (f"printed {quote(relative(state.announcement), 80)}; connection at once "
                             + ("accepted" if state.connected else f"REFUSED ({state.connect_error})"))


# Running and writing ---------------------------------------------------------------------
def run_case(entry: Case) -> dict[str, Any]:
    start_time = time.perf_counter()
    passed: bool | None
    if entry.needs_shared and not IEMOCAP_MINI.is_dir():
        passed, got = None, "skipped (no ../shared)"
    else:
        try:
            passed, got = with_timeout(entry.function, CASE_TIMEOUT)
        except Skipped:
            passed, got = None, "skipped (no ../shared)"
        except SetupError as error:
            passed, got = False, f"setup failed: {error}"
        except Exception as error:  # noqa: BLE001 - a crash of the case is its outcome
            passed, got = False, f"{type(error).__name__}: {error}"
    return {"case": entry.name, "expected": entry.expected, "got": relative(str(got)), "passed": passed,
            "seconds": round(time.perf_counter() - start_time, 1)}


def cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def mark(passed: bool | None) -> str:
    return "skipped" if passed is None else ("yes" if passed else "NO")


def shown(argument: str) -> str:
    """A command-line argument as the outputs show it: paths relative to the checkout, and no
    absolute path of this machine."""
    if not argument.startswith("/"):
        return argument
    path = pathlib.Path(argument).resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else path.name


def write_outputs(output: pathlib.Path, rows: list[dict[str, Any]], seconds: float, table: str, tally: str,
                  details: dict[str, Any]) -> None:
    import emofuse

    command = relative(" ".join(["python", *(shown(a) for a in sys.argv)]))
    date = datetime.datetime.now().isoformat(timespec="seconds")
    payload = {"benchmark": NAME, "date": date, "command": command, "machine": details,
               "emofuse_version": emofuse.__version__, "total_seconds": round(seconds, 1),
               "passed": sum(r["passed"] is True for r in rows), "failed": sum(r["passed"] is False for r in rows),
               "skipped": sum(r["passed"] is None for r in rows), "cases": rows}
    output.mkdir(parents=True, exist_ok=True)
    (output / f"{NAME}.json").write_text(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    header = (f"# {NAME}\n\nCommand: `{command}`  \nDate: {date}; {machine_line(details)}, "
              f"emofuse {emofuse.__version__}; {seconds:.0f} s in all.\n\n"
              "Each case replays, on tiny synthetic data in a temporary directory, what a user does (the CLI in a "
              "subprocess, the Python API, or the HTTP server) and compares what happened with what emofuse "
              "promises. `got` is what was observed (paths of the temporary directory read `<tmp>`).\n\n")
    (output / f"{NAME}.md").write_text(header + table + "\n" + tally + "\n")


def main() -> int:
    global WORK
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=None, help="run only the cases whose name contains this (case-insensitive)")
    parser.add_argument("--output", type=pathlib.Path, default=RESULTS, help="results directory")
    arguments = parser.parse_args()
    selected = [c for c in CASES if arguments.only is None or arguments.only.lower() in c.name.lower()]
    if not selected:
        parser.error(f"no case matches {arguments.only!r}")
    logging.getLogger().addHandler(logging.NullHandler())  # emofuse's warnings are checked, not printed
    details = machine()  # before a case changes torch's threads
    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory(prefix="emofuse-reliability-") as tmp:
        WORK = pathlib.Path(tmp)
        try:
            for number, entry in enumerate(selected, start=1):
                row = run_case(entry)
                rows.append(row)
                print(f"[{number}/{len(selected)}] {entry.name}: {mark(row['passed'])} ({row['seconds']:.0f} s)",
                      file=sys.stderr, flush=True)
        finally:
            for process in BACKGROUND:
                stop(process)
    seconds = time.perf_counter() - started
    table = markdown_table(["case", "expected", "got", "ok"],
                           [[cell(r["case"]), cell(r["expected"]), cell(r["got"]), mark(r["passed"])] for r in rows])
    passed = sum(r["passed"] is True for r in rows)
    failed = sum(r["passed"] is False for r in rows)
    skipped = sum(r["passed"] is None for r in rows)
    tally = (f"{skipped} skipped (no ../shared)\n" if skipped else "") + f"{passed} passed, {failed} failed"
    write_outputs(arguments.output, rows, seconds, table, tally, details)
    print(table)
    print(f"total {seconds:.0f} s")
    print(tally)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
