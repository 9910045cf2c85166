"""Load time, latency, real-time factor and peak memory of the bundled recogniser on a 5 s clip,
PyTorch and ONNX side by side.

    .venv/bin/python benchmarks/inference_latency.py [--repeats 10] [--backends pytorch onnx] [--onnx DIR]

The ONNX recogniser is ``emofuse export default --format onnx`` (made in this run unless
``--onnx`` names one). Each backend runs in a fresh process, so that its import time, load
time and peak resident memory are its own; the ONNX process must not import torch.

Modes: speech + given transcript (no ASR), speech + pocketsphinx ASR (the default when no
transcript is given), and speech only (ASR off). Target: under 1 s per 5 s clip after load,
real-time factor under 0.2. Writes benchmarks/results/inference_latency.{json,md}.
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
    parser.add_argument("--child", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        print(json.dumps(child(arguments.child, arguments.threads, arguments.repeats, arguments.seconds)))  # noqa: T201
        return
    figures = {}
    with tempfile.TemporaryDirectory() as work:
        onnx_dir = arguments.onnx
        if "onnx" in arguments.backends and onnx_dir is None:
            onnx_dir = str(pathlib.Path(work) / "onnx")
            subprocess.run([sys.executable, "-m", "emofuse", "export", arguments.model, "-o", onnx_dir, "--format", "onnx"],
                           check=True, capture_output=True)
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
            "threads": arguments.threads, "backends": figures, "max_posterior_difference": difference,
            "load_average": os.getloadavg(), "note": "shared CPU: other engineers' jobs ran at the same time"}
    markdown = (
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
