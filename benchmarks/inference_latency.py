"""Cold start, load time, latency, real-time factor and peak memory of the bundled recogniser on
a 5 s clip, PyTorch and ONNX side by side.

    .venv/bin/python benchmarks/inference_latency.py [--repeats 10] [--cold 3] [--backends pytorch onnx] [--onnx DIR]

Cold start (issues 13 and 14): ``emofuse predict one.wav --asr none`` as a new process, with the
bundled model and with its ONNX export, against ``python -c "import torch, transformers"``
measured side by side in the same run (alternating, median of ``--cold`` each); goals: at most
1.3x that import for the PyTorch backend, under 2 s for ONNX.

The ONNX recogniser is ``emofuse export default --format onnx`` (made in this run unless
``--onnx`` names one). Each backend then runs in a fresh process, so that its import time, load
time and peak resident memory are its own; the ONNX process must not import torch. Modes:
speech + given transcript (no ASR), speech + pocketsphinx ASR (the default when no transcript is
given), and speech only (ASR off). Target: under 1 s per 5 s clip after load, real-time factor
under 0.2. Writes benchmarks/results/inference_latency.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

START = time.perf_counter()

if __package__ in {None, ""}:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks._common import markdown_table  # noqa: E402
from benchmarks._common import peak_memory_mb  # noqa: E402
from benchmarks._common import write_results  # noqa: E402

TEXT = "Good morning. The meeting is at ten o'clock in the small office."


def cold_start(repeats: int, clip: pathlib.Path, models: dict[str, str]) -> dict:
    """Median wall time of a fresh ``emofuse predict CLIP --asr none`` per model and of importing
    torch and transformers, alternating (so all see the same machine load)."""
    commands = {f"emofuse predict one.wav --asr none ({name})": [sys.executable, "-m", "emofuse", "predict", str(clip),
                                                                  "--asr", "none", "--no-progress", "--model", model]
                for name, model in models.items()}
    commands["python -c 'import torch, transformers'"] = [sys.executable, "-c", "import torch, transformers"]
    environment = {**os.environ, "PYTHONPATH": str(pathlib.Path(__file__).resolve().parents[1])}
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(repeats):
        for name, command in commands.items():
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, env=environment)
            times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(values) for name, values in times.items()}
    baseline = medians["python -c 'import torch, transformers'"]
    ratios = {name: medians[f"emofuse predict one.wav --asr none ({name})"] / baseline for name in models}
    return {"times_s": times, "median_s": medians, "ratio": ratios, "goal_ratio": 1.3, "goal_onnx_s": 2.0}


def child(model: str, threads: int, repeats: int, seconds: float) -> dict:
    """One backend's figures (run in its own process)."""
    from emofuse.inference import Recognizer
    from emofuse.inference.batch import examples_directory

    imported = time.perf_counter()
    recognizer = Recognizer.from_pretrained(model, num_threads=threads)
    loaded = time.perf_counter()
    recognizer.warm_up()
    warmed = time.perf_counter()
    clip = recognizer.load_audio(examples_directory() / "dialogue.wav")[: int(seconds * recognizer.sampling_rate)]
    speech_only = Recognizer.from_pretrained(model, asr="none", num_threads=threads)
    modes = {
        "speech + given text": lambda: recognizer.predict_signals([clip], texts=[TEXT]),
        "speech + ASR (pocketsphinx)": lambda: recognizer.predict_signals([clip], texts=[None]),
        "speech only (no ASR, no text)": lambda: speech_only.predict_signals([clip], texts=[None]),
    }
    results = {}
    for mode, call in modes.items():
        call()  # first call per mode: per-thread decoders, caches
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        times.sort()
        results[mode] = {"median_s": statistics.median(times), "p90_s": times[min(len(times) - 1, round(0.9 * (len(times) - 1)))],
                         "min_s": times[0], "rtf_median": statistics.median(times) / seconds}
    posteriors = recognizer.predict_signals([clip], texts=[TEXT])[0].posteriors
    return {"load": {"import_s": imported - START, "from_pretrained_s": loaded - imported, "warm_up_s": warmed - loaded},
            "latency": results, "peak_memory_mb": peak_memory_mb(), "posteriors": posteriors,
            "imports_torch": "torch" in sys.modules, "imports_lightning": "lightning" in sys.modules}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--onnx", help="an ONNX export of --model (default: exported in this run)")
    parser.add_argument("--backends", nargs="+", default=["pytorch", "onnx"], choices=["pytorch", "onnx"])
    parser.add_argument("--threads", type=int, default=1, help="torch / onnxruntime threads (the CLI's default is 1)")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--cold", type=int, default=3, help="fresh processes per cold-start command (0: skip)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        print(json.dumps(child(arguments.child, arguments.threads, arguments.repeats, arguments.seconds)))  # noqa: T201
        return
    figures = {}
    cold = None
    with tempfile.TemporaryDirectory() as work:
        onnx_dir = arguments.onnx
        if "onnx" in arguments.backends and onnx_dir is None:
            onnx_dir = str(pathlib.Path(work) / "onnx")
            subprocess.run([sys.executable, "-m", "emofuse", "export", arguments.model, "-o", onnx_dir, "--format", "onnx"],
                           check=True, capture_output=True)
        if arguments.cold:
            from emofuse.inference.batch import examples_directory

            models = {b: arguments.model if b == "pytorch" else onnx_dir for b in arguments.backends}
            cold = cold_start(arguments.cold, examples_directory() / "happy.wav", models)
        for backend in arguments.backends:
            model = arguments.model if backend == "pytorch" else onnx_dir
            command = [sys.executable, __file__, "--child", str(model), "--threads", str(arguments.threads),
                       "--repeats", str(arguments.repeats), "--seconds", str(arguments.seconds)]
            output = subprocess.run(command, capture_output=True, text=True, check=True)
            figures[backend] = json.loads(output.stdout.strip().splitlines()[-1])
    backends = list(figures)
    difference = None
    if len(backends) == 2:
        a, b = (figures[k]["posteriors"] for k in backends)
        difference = max(abs(a[c] - b[c]) for c in a)

    def cell(backend: str, value: float, base: float | None, digits: int = 3) -> str:
        ratio = f" ({value / base:.2f}x)" if base and backend != backends[0] else ""
        return f"{value:.{digits}f}{ratio}"

    base = figures[backends[0]]
    rows = []
    for mode in base["latency"]:
        row = [mode]
        for backend in backends:
            value = figures[backend]["latency"][mode]["median_s"]
            row += [cell(backend, value, base["latency"][mode]["median_s"]),
                    f"{figures[backend]['latency'][mode]['rtf_median']:.3f}"]
        rows.append(row)
    header = ["mode"] + [f"{label} ({b})" for b in backends for label in ("median s", "RTF")]
    load_rows = []
    for step, label in (("import_s", "import emofuse.inference"), ("from_pretrained_s", "Recognizer.from_pretrained"),
                        ("warm_up_s", "warm_up (text encoder, pocketsphinx decoder)")):
        load_rows.append([label] + [cell(b, figures[b]["load"][step], base["load"][step], 2) for b in backends])
    load_rows.append(["peak resident memory (MiB)"] + [cell(b, figures[b]["peak_memory_mb"], base["peak_memory_mb"], 0)
                                                       for b in backends])
    load_rows.append(["imports torch"] + [str(figures[b]["imports_torch"]) for b in backends])
    data = {"model": arguments.model, "clip_seconds": arguments.seconds, "repeats": arguments.repeats,
            "threads": arguments.threads, "backends": figures, "max_posterior_difference": difference, "cold_start": cold,
            "load_average": os.getloadavg(), "note": "shared CPU: other engineers' jobs ran at the same time"}
    cold_table = ""
    if cold is not None:
        verdicts = [f"{b}: **{cold['ratio'][b]:.2f}x** the import"
                    + (f" (goal {cold['goal_ratio']}x: {'met' if cold['ratio'][b] <= cold['goal_ratio'] else 'not met'})"
                       if b == "pytorch" else "")
                    for b in cold["ratio"]]
        onnx_name = "emofuse predict one.wav --asr none (onnx)"
        if onnx_name in cold["median_s"]:
            seconds = cold["median_s"][onnx_name]
            verdicts.append(f"ONNX {seconds:.2f} s (goal under {cold['goal_onnx_s']:g} s: "
                            f"{'met' if seconds < cold['goal_onnx_s'] else 'not met'})")
        cold_table = ("Cold start: a fresh process per run, the commands alternating, median of "
                      f"{arguments.cold}.\n\n"
                      + markdown_table(["command", "median (s)", "runs (s)"],
                                       [[name, f"{cold['median_s'][name]:.2f}", ", ".join(f"{t:.2f}" for t in cold["times_s"][name])]
                                        for name in cold["median_s"]])
                      + "\n" + "; ".join(verdicts) + ".\n\n")
    markdown = cold_table + (
        f"Model `{arguments.model}`; a {arguments.seconds:g} s clip, {arguments.repeats} repeats after a first call; "
        f"{arguments.threads} thread(s). Each backend in its own process; ratios against {backends[0]}. Load average "
        f"during the run: {', '.join(f'{x:.1f}' for x in os.getloadavg())} (shared CPU: timings taken under load).\n\n"
        + markdown_table(header, rows) + "\n"
        + markdown_table(["load step"] + [f"seconds ({b})" for b in backends], load_rows)
        + (f"\nLargest posterior difference between the backends (speech + given text): {difference:.2e}.\n"
           if difference is not None else "")
    )
    path = write_results("inference_latency", data, markdown)
    print(path.read_text())  # noqa: T201 - a benchmark's report


if __name__ == "__main__":
    main()
