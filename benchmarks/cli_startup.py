"""How fast the command line starts: ``emofuse --help`` and ``emofuse info`` against the floor of
importing the CLI's own libraries, measured side by side (the machine is shared: ratios hold,
absolute times do not).

    python benchmarks/cli_startup.py [--repeats 7] [--compare /path/to/other/checkout]

``--compare`` also times another emofuse source tree (e.g. an older commit checked out with
``git worktree add``) through ``PYTHONPATH``, in the same run. Writes
benchmarks/results/cli_startup.json and .md.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

from _common import ROOT
from _common import markdown_table
from _common import shared
from _common import write_results

FLOOR = [sys.executable, "-c", "import typer, yaml"]


#: Commands run from a neutral directory, so that ``PYTHONPATH`` chooses the source tree.
NEUTRAL = tempfile.gettempdir()


def timed(command: list[str], *, env: dict[str, str], repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=NEUTRAL)
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def heavy_imports(command: list[str], env: dict[str, str]) -> list[str]:
    """Which of torch, lightning, sklearn, transformers ``command`` imports (``-X importtime``)."""
    result = subprocess.run([sys.executable, "-X", "importtime", *command[1:]], env=env, capture_output=True, text=True,
                            cwd=NEUTRAL)
    found = set()
    for line in result.stderr.splitlines():
        name = line.rsplit("|", 1)[-1].strip()
        if name in {"torch", "lightning", "sklearn", "transformers"}:
            found.add(name)
    return sorted(found)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--compare", type=pathlib.Path, default=None, help="another emofuse source tree to time too")
    arguments = parser.parse_args()
    emodb = shared("data", "emodb")
    with tempfile.TemporaryDirectory() as tmp:
        import emofuse

        manifest = pathlib.Path(tmp) / "emodb200.csv"
        emofuse.prepare_emodb(emodb).subset(list(emofuse.prepare_emodb(emodb).ids)[:200]).save(manifest)
        trees = {"this checkout": ROOT}
        if arguments.compare is not None:
            trees[f"compare ({arguments.compare.name})"] = arguments.compare.resolve()
        rows, data = [], {}
        for label, tree in trees.items():
            env = {**os.environ, "PYTHONPATH": str(tree)}
            floor, floor_times = timed(FLOOR, env=env, repeats=arguments.repeats)
            measured = {"floor (import typer, yaml)": {"median_s": floor, "times_s": floor_times}}
            for name, command in (("emofuse --help", [sys.executable, "-m", "emofuse.cli", "--help"]),
                                  ("emofuse info (200 utterances)", [sys.executable, "-m", "emofuse.cli", "info", str(manifest)])):
                median, times = timed(command, env=env, repeats=arguments.repeats)
                heavy = heavy_imports(command, env)
                measured[name] = {"median_s": median, "times_s": times, "ratio_to_floor": median / floor, "heavy_imports": heavy}
                rows.append([label, name, f"{median:.2f}", f"{floor:.2f}", f"{median / floor:.1f}x", ", ".join(heavy) or "none"])
            data[label] = measured
    table = markdown_table(["tree", "command", "median s", "floor s", "ratio", "torch / lightning / sklearn / transformers imported"], rows)
    note = (f"\nMedian of {arguments.repeats} runs of each command, interleaved with the floor "
            "(`python -c 'import typer, yaml'`) in the same run; goal: `emofuse --help` at most 2x the floor, "
            "and neither command importing torch, Lightning, scikit-learn or transformers.\n")
    write_results("cli_startup", {"repeats": arguments.repeats, "trees": data}, table + note)
    print(table + note)


if __name__ == "__main__":
    main()
