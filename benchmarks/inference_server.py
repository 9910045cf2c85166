"""Requests per second of ``emofuse serve`` with 8 concurrent clients on loopback.

    .venv/bin/python benchmarks/inference_server.py [--clients 8] [--requests 6] [--workers 2]

Starts the server (bundled recogniser) in a subprocess, waits for /health, sends one warm-up
round (not counted), then each client thread posts a 3 s clip ``--requests`` times: once with its transcript given, once without
(pocketsphinx ASR in the loop). Reports requests/s, latency percentiles, errors and the
server's peak resident memory. Writes benchmarks/results/inference_server.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import socket
import subprocess
import sys
import threading
import time

if __package__ in {None, ""}:
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from benchmarks._common import ROOT
from benchmarks._common import markdown_table
from benchmarks._common import write_results


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def peak_rss_mb(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def load(url: str, clip: bytes, *, clients: int, requests: int, text: str | None) -> dict:
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(timeout=300) as session:
            for _ in range(requests):
                start = time.perf_counter()
                response = session.post(f"{url}/predict", files={"file": ("clip.wav", clip, "audio/wav")},
                                        data={"text": text} if text else {})
                elapsed = time.perf_counter() - start
                with lock:
                    (latencies if response.status_code == 200 else errors).append(elapsed if response.status_code == 200 else response.text)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    latencies.sort()

    def percentile(q: float) -> float:
        return latencies[min(len(latencies) - 1, int(round(q * (len(latencies) - 1))))] if latencies else float("nan")

    return {"requests": clients * requests, "seconds": seconds, "requests_per_s": len(latencies) / seconds,
            "p50_s": percentile(0.5), "p95_s": percentile(0.95), "errors": len(errors), "first_error": errors[0] if errors else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=6, help="per client and mode")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--model", default="default")
    arguments = parser.parse_args()

    import io

    import httpx
    import soundfile

    from emofuse.audio.io import read_audio
    from emofuse.inference.batch import examples_directory

    signal = read_audio(examples_directory() / "dialogue.wav")[: 3 * 16000]
    buffer = io.BytesIO()
    soundfile.write(buffer, signal, 16000, subtype="PCM_16", format="WAV")
    clip = buffer.getvalue()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    emofuse = pathlib.Path(sys.executable).parent / "emofuse"
    server = subprocess.Popen([str(emofuse), "serve", "--model", arguments.model, "--port", str(port), "--workers",
                               str(arguments.workers)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        started = time.perf_counter()
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.perf_counter() - started > 180:
                raise SystemExit("the server did not start")
            time.sleep(0.2)
        startup = time.perf_counter() - started
        load(url, clip, clients=arguments.clients, requests=1, text="warm up")  # every worker thread's first call
        load(url, clip, clients=arguments.clients, requests=1, text=None)
        results = {
            "transcript given": load(url, clip, clients=arguments.clients, requests=arguments.requests,
                                     text="Good morning. The meeting is at ten o'clock in the small office."),
            "pocketsphinx ASR": load(url, clip, clients=arguments.clients, requests=arguments.requests, text=None),
        }
        memory = peak_rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    data = {"clients": arguments.clients, "requests_per_client": arguments.requests, "workers": arguments.workers,
            "clip_seconds": 3.0, "startup_s": startup, "results": results, "server_peak_memory_mb": memory,
            "load_average": os.getloadavg(), "note": "shared CPU: other engineers' jobs ran at the same time"}
    rows = [[mode, r["requests"], f"{r['requests_per_s']:.2f}", f"{r['p50_s']:.2f}", f"{r['p95_s']:.2f}", r["errors"]]
            for mode, r in results.items()]
    markdown = (
        f"`emofuse serve --workers {arguments.workers}` on loopback, {arguments.clients} concurrent clients, a 3 s WAV clip; "
        f"server start-up (load + warm-up) {startup:.1f} s; load average {', '.join(f'{x:.1f}' for x in os.getloadavg())} "
        "(shared CPU: timings taken under load).\n\n"
        + markdown_table(["mode", "requests", "requests/s", "p50 latency (s)", "p95 latency (s)", "errors"], rows)
        + f"\nServer peak memory (resident): {memory:.0f} MiB.\n"
    )
    print(write_results("inference_server", data, markdown).read_text())  # noqa: T201 - a benchmark's report


if __name__ == "__main__":
    main()
