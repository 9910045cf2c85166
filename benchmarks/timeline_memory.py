"""Peak memory and time of ``emofuse predict long.wav --timeline`` from a minute to two hours.

    .venv/bin/python benchmarks/timeline_memory.py [--minutes 1 10 120] [--model default]

Long recordings are made by repeating ../shared's synthetic dialogues (with their pauses) up to
each length and written to $TMPDIR as 16 kHz 16-bit WAV. Each timeline runs in a fresh process
(peak resident memory as the kernel counts it, ``ru_maxrss``), with Silero segments, speaker
turns and the bundled recogniser without ASR (pocketsphinx on two hours would take most of an
hour and measures ASR, not the timeline):

- ``streamed``: :func:`emofuse.inference.segment.emotion_timeline` on the file (read in
  60 s blocks, never whole);
- ``in memory`` (the baseline, measured in the same run): the whole file read first, then the
  same timeline on the signal, as before streaming.

Goal: the streamed peak stays flat from 1 minute to 2 hours (ratio to the 1-minute peak near
1). Writes benchmarks/results/timeline_memory.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

if __package__ in {None, ""}:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks._common import markdown_table  # noqa: E402
from benchmarks._common import shared  # noqa: E402
from benchmarks._common import write_results  # noqa: E402

DIALOGUES = ("two_speakers", "three_speakers", "overlap")


def make_recording(path: pathlib.Path, minutes: float) -> None:
    """The dialogues one after another, with 1 s between them, until ``minutes`` (written in pieces)."""
    import numpy as np
    import soundfile

    pieces = [soundfile.read(shared("fixtures", "dialogues", f"{n}.wav"), dtype="int16")[0] for n in DIALOGUES]
    gap = np.zeros(16000, dtype=np.int16)
    total = int(minutes * 60 * 16000)
    written = 0
    with soundfile.SoundFile(path, "w", samplerate=16000, channels=1, subtype="PCM_16") as file:
        while written < total:
            for piece in pieces:
                chunk = np.concatenate([piece, gap])[: total - written]
                file.write(chunk)
                written += chunk.size
                if written >= total:
                    break


def child(mode: str, path: str, model: str) -> None:
    from emofuse.inference import Recognizer
    from emofuse.inference.segment import emotion_timeline
    from emofuse.inference.segment import timeline_of_signal

    recognizer = Recognizer.from_pretrained(model, asr="none", num_threads=1)
    loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    if mode == "streamed":
        timeline = emotion_timeline(recognizer, path)
    else:
        signal = recognizer.load_audio(path)
        timeline = timeline_of_signal(recognizer, signal, source=path)
    seconds = time.perf_counter() - start
    print(json.dumps({"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "after_load_mb": loaded,  # noqa: T201
                      "seconds": seconds, "segments": len(timeline.segments), "speakers": len(timeline.speakers or ()),
                      "duration": timeline.duration}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 120])
    parser.add_argument("--model", default="default")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "FILE"), help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        child(*arguments.child, arguments.model)
        return
    results: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory() as work:
        for minutes in arguments.minutes:
            path = pathlib.Path(work) / f"long_{minutes:g}min.wav"
            make_recording(path, minutes)
            for mode in ("streamed", "in memory"):
                command = [sys.executable, __file__, "--model", arguments.model, "--child", mode, str(path)]
                output = subprocess.run(command, capture_output=True, text=True, check=True,
                                        env={**os.environ, "OMP_NUM_THREADS": "1"})
                results.setdefault(f"{minutes:g}", {})[mode] = json.loads(output.stdout.strip().splitlines()[-1])
                print(f"{minutes:g} min {mode}: {results[f'{minutes:g}'][mode]}")  # noqa: T201 - progress
            path.unlink()
    first = results[f"{arguments.minutes[0]:g}"]
    rows = []
    for minutes, modes in results.items():
        for mode, r in modes.items():
            rows.append([minutes, mode, r["segments"], r["speakers"], f"{r['after_load_mb']:.0f}", f"{r['peak_mb']:.0f}",
                         f"{r['peak_mb'] / first[mode]['peak_mb']:.2f}", f"{r['seconds']:.0f}",
                         f"{r['seconds'] / (r['duration'] or 1):.3f}"])
    longest = results[f"{arguments.minutes[-1]:g}"]
    ratio = longest["streamed"]["peak_mb"] / first["streamed"]["peak_mb"]
    data = {"model": arguments.model, "asr": "none", "results": results, "streamed_peak_ratio": ratio,
            "baseline_peak_ratio": longest["in memory"]["peak_mb"] / first["in memory"]["peak_mb"],
            "load_average": os.getloadavg()}
    markdown = (
        f"Model `{arguments.model}` without ASR; Silero segments, speaker turns (resemblyzer), one thread. Peak resident "
        "memory of a fresh process per row; 'after load' is the peak once the recogniser is loaded. Baseline: the same "
        "timeline on the whole signal read into memory first.\n\n"
        + markdown_table(["minutes", "mode", "segments", "speakers", "after load (MiB)", "peak (MiB)",
                          f"peak / {arguments.minutes[0]:g} min", "seconds", "real-time factor"], rows)
        + f"\nStreamed peak at {arguments.minutes[-1]:g} min / at {arguments.minutes[0]:g} min: {ratio:.2f} "
        f"(goal: flat); in memory: {data['baseline_peak_ratio']:.2f}.\n"
    )
    path = write_results("timeline_memory", data, markdown)
    print(path.read_text())  # noqa: T201 - a benchmark's report


if __name__ == "__main__":
    main()
