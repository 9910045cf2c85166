"""Directory throughput of ``emofuse predict`` (the batch path) with the bundled recogniser.

    .venv/bin/python benchmarks/inference_throughput.py [--files 48] [--batch-size 16]

Builds a directory of ``--files`` clips (cut from the bundled examples, 1.5-5 s), then predicts
it with transcripts given (``--transcripts``) and with pocketsphinx ASR. Reports files/s,
audio seconds per second and peak memory. Writes benchmarks/results/inference_throughput.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile
import time

if __package__ in {None, ""}:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks._common import markdown_table
from benchmarks._common import peak_memory_mb
from benchmarks._common import write_results


def make_directory(directory: pathlib.Path, count: int) -> tuple[list[tuple[str, pathlib.Path]], float]:
    import numpy as np
    import soundfile

    from emofuse.audio.io import read_audio
    from emofuse.inference.batch import examples_directory

    sources = [read_audio(p) for p in sorted(examples_directory().glob("*.wav"))]
    rng = np.random.default_rng(0)
    files, total = [], 0.0
    for index in range(count):
        source = sources[index % len(sources)]
        length = int(min(len(source), rng.uniform(1.5, 5.0) * 16000))
        start = int(rng.integers(0, len(source) - length + 1))
        path = directory / f"clip_{index:03d}.wav"
        soundfile.write(path, source[start : start + length], 16000, subtype="PCM_16")
        files.append((path.name, path))
        total += length / 16000
    return files, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=48)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--model", default="default")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the CLI's default is 1)")
    arguments = parser.parse_args()

    from emofuse.inference import Recognizer
    from emofuse.inference.batch import predict_files

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        files, audio_seconds = make_directory(pathlib.Path(tmp), arguments.files)
        texts = {key: "the meeting is at ten o'clock in the small office" for key, _ in files}
        for mode, asr, given in (("transcripts given", "none", texts), ("pocketsphinx ASR", "pocketsphinx", {}),
                                 ("speech only", "none", {})):
            recognizer = Recognizer.from_pretrained(arguments.model, asr=asr, num_threads=arguments.threads)
            recognizer.warm_up()
            start = time.perf_counter()
            records, failures = predict_files(recognizer, files, texts=given, batch_size=arguments.batch_size, progress=False)
            seconds = time.perf_counter() - start
            assert not failures, failures
            results[mode] = {"seconds": seconds, "files_per_s": len(files) / seconds, "audio_s_per_s": audio_seconds / seconds}
    data = {"files": arguments.files, "torch_threads": arguments.threads, "audio_seconds": audio_seconds, "batch_size": arguments.batch_size, "results": results,
            "peak_memory_mb": peak_memory_mb(), "load_average": os.getloadavg(),
            "note": "shared CPU: other engineers' jobs ran at the same time"}
    rows = [[mode, f"{r['seconds']:.1f}", f"{r['files_per_s']:.2f}", f"{r['audio_s_per_s']:.1f}"] for mode, r in results.items()]
    markdown = (
        f"{arguments.files} clips ({audio_seconds:.0f} s of audio), batches of {arguments.batch_size}, "
        f"{arguments.threads} torch thread(s); load average "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} (shared CPU: timings taken under load).\n\n"
        + markdown_table(["mode", "seconds", "files/s", "audio s per s"], rows)
        + f"\nPeak memory (resident): {data['peak_memory_mb']:.0f} MiB.\n"
    )
    print(write_results("inference_throughput", data, markdown).read_text())  # noqa: T201 - a benchmark's report


if __name__ == "__main__":
    main()
