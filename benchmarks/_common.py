"""Shared helpers for benchmark scripts: where ../shared is, and writing JSON + Markdown results.

Every benchmark writes ``benchmarks/results/<name>.json`` (machine-readable, with the command,
the machine and the date) and ``benchmarks/results/<name>.md`` (the table to quote).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import platform
import re
import resource
import statistics
import sys
import time
from collections.abc import Iterator
from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
SHARED = pathlib.Path(os.environ.get("EMOFUSE_SHARED", ROOT.parent / "shared"))
#: Where benchmarks write (and read earlier rows from): the committed tables, or with
#: ``EMOFUSE_BENCHMARK_RESULTS=DIR`` a directory of one's own (trial runs leave the committed tables alone).
RESULTS = pathlib.Path(os.environ.get("EMOFUSE_BENCHMARK_RESULTS") or ROOT / "benchmarks" / "results").resolve()


def shared(*parts: str) -> pathlib.Path:
    """A path under ../shared, or exit with a clear message when it is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        sys.exit(f"benchmark needs {path}; ../shared is not available")
    return path


def machine() -> dict[str, Any]:
    import torch

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        **cpu_features(),
        **({"gpu": torch.cuda.get_device_name(0), "cuda": torch.version.cuda} if torch.cuda.is_available() else {}),
    }


def cpu_features() -> dict[str, Any]:
    """The instruction set PyTorch's CPU kernels use here (``AVX2``, ``AVX512``, ...), whether
    the CPU computes bfloat16 natively (AVX-512 BF16 or AMX; without it PyTorch emulates bfloat16,
    several times slower than float32), and, where Linux says, the CPU's model name and whether it
    has AMX tiles (Intel's matrix units: bfloat16 matmuls several times faster than AVX-512's).
    ``None``: this machine cannot tell."""
    import torch

    native = getattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", None)
    model, flags = None, None
    try:
        info = pathlib.Path("/proc/cpuinfo").read_text()
    except OSError:
        info = ""
    if found := re.search(r"^model name\s*:\s*(.+)$", info, re.MULTILINE):
        model = found.group(1).strip()
    if found := re.search(r"^flags\s*:\s*(.+)$", info, re.MULTILINE):
        flags = found.group(1).split()
    return {"cpu_capability": torch.backends.cpu.get_cpu_capability(), "bfloat16_native": bool(native()) if native else None,
            "cpu_model": model, "amx": None if flags is None else "amx_bf16" in flags}


def machine_line(details: dict[str, Any]) -> str:
    """``2 CPU cores (Intel(R) Xeon(R) Processor; AVX512, AMX, native bfloat16), torch 2.13.0+cpu``
    for a results header (the model name where Linux gives it)."""
    native = details.get("bfloat16_native")
    features = ", ".join(f for f in [details.get("cpu_capability"), "AMX" if details.get("amx") else None,
                                     None if native is None else ("native" if native else "no native") + " bfloat16"] if f)
    described = "; ".join(f for f in [details.get("cpu_model"), features] if f)
    return f"{details['cpu_count']} CPU cores{f' ({described})' if described else ''}, torch {details['torch']}"


def peak_memory_mb() -> float:
    """Peak resident memory of this process (and waited-for children) in MiB."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024.0


@contextmanager
def timer() -> Iterator[dict[str, float]]:
    record: dict[str, float] = {}
    start = time.perf_counter()
    try:
        yield record
    finally:
        record["seconds"] = time.perf_counter() - start


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(map(str, header)) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(map(str, row)) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def portable(text: str) -> str:
    """``text`` without this machine's absolute paths: the checkout becomes relative, ../shared
    stays ../shared, the temporary directory becomes ``$TMPDIR`` and the home directory ``~``.

    >>> portable(f"{ROOT}/runs/x and {SHARED}/EmoDB")
    'runs/x and ../shared/EmoDB'
    """
    import tempfile

    for path, name in ((ROOT, ""), (SHARED, "../shared"), (pathlib.Path(tempfile.gettempdir()), "$TMPDIR"),
                       (pathlib.Path.home(), "~")):
        for form in dict.fromkeys((str(path), str(path.resolve()))):
            if form in ("/", ""):
                continue
            text = text.replace(form + os.sep, f"{name}/" if name else "").replace(form, name or ".")
    return text


def measured_date(record: dict[str, Any], previous: dict[str, Any]) -> str:
    """When a row kept from a previous results file was measured: its own ``date``, else "by" the
    file's date (rows written before they carried one)."""
    return record.get("date") or f"by {str(previous.get('date', ''))[:10]}"


def write_results(name: str, data: dict[str, Any], markdown: str) -> pathlib.Path:
    """Write ``results/<name>.json`` and ``results/<name>.md`` with the command and machine
    (paths of this machine made :func:`portable`)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    command = "python " + " ".join([str(pathlib.Path(sys.argv[0]).relative_to(ROOT)) if pathlib.Path(sys.argv[0]).is_absolute() else sys.argv[0], *sys.argv[1:]])
    payload = {
        "benchmark": name,
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": command,
        "machine": machine(),
        **data,
    }
    (RESULTS / f"{name}.json").write_text(portable(json.dumps(payload, indent=2, default=str)) + "\n")
    header = f"# {name}\n\nCommand: `{command}`  \nDate: {payload['date']}; {machine_line(payload['machine'])}.\n\n"
    (RESULTS / f"{name}.md").write_text(portable(header + markdown))
    return RESULTS / f"{name}.md"


def step_benchmark_arguments(description: str, steps_help: str) -> tuple[argparse.Namespace, int]:
    """``--steps`` and ``--threads`` of the training-step benchmarks; sets torch's threads (default:
    every core) and returns the arguments and the thread count."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--steps", type=int, default=5, help=steps_help)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    arguments = parser.parse_args()
    import torch

    threads = arguments.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    return arguments, threads


def random_length_batch(shapes: Sequence[tuple[str, int, int, int]], size: int, generator: Any) -> list:
    """One ``(values, lengths)`` per input ``(kind, dim, shortest, longest)``: ``size`` sequences of
    random lengths, the first as long as allowed (so the padded width is ``longest``)."""
    import torch

    values = []
    for _, dim, shortest, longest in shapes:
        lengths = torch.randint(shortest, longest + 1, (size,), generator=generator)
        lengths[0] = longest
        values.append((torch.randn(size, longest, dim, generator=generator), lengths))
    return values


def input_specs(shapes: Sequence[tuple[str, int, int, int]]) -> list:
    """The :class:`~emofuse.models.inputs.InputSpec` of each ``(kind, dim, shortest, longest)``
    input: the first audio, the others text."""
    from emofuse.models.inputs import InputSpec

    return [InputSpec(f"input{i}", "audio" if i == 0 else "text", kind, dim) for i, (kind, dim, _, _) in enumerate(shapes)]


def training_step(model: Any, inputs: list, size: int) -> Any:
    """One training step of ``model`` on ``inputs`` (a batch of ``size``; forward, cross-entropy over
    4 classes, backward, Adam at 1e-4) as a function to time; exits if the loss is not finite."""
    import torch

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    target = torch.arange(size) % 4

    def step() -> None:
        optimizer.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(inputs), target)
        if not bool(torch.isfinite(loss)):
            sys.exit("the loss is not finite")
        loss.backward()
        optimizer.step()

    return step


def median_seconds(step: Any, steps: int) -> float:
    """Median seconds of ``step()`` over ``steps`` calls after a warm-up call."""
    times = []
    for index in range(steps + 1):
        start = time.perf_counter()
        step()
        if index:
            times.append(time.perf_counter() - start)
    return statistics.median(times)
