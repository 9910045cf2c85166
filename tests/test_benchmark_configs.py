"""Every experiment YAML the benchmarks run is a valid emofuse config (unknown keys, components or
members fail here rather than after an hour of benchmarking)."""

import pathlib

import pytest

import emofuse

CONFIGS = sorted((pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "configs").glob("*.yaml"))


def test_there_are_benchmark_configs():
    assert len(CONFIGS) >= 5


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_benchmark_config_loads(path: pathlib.Path):
    config = emofuse.load_experiment(path)
    assert config.systems
    for spec in config.systems.values():
        assert all(member in config.systems for member in spec.members or ())


def test_published_results_name_no_absolute_paths_of_the_machine_they_ran_on():
    import re

    results = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "results"
    machine_path = re.compile(r"(?<![\w.~$])/(?:work|home|tmp|Users|root|private|mnt|scratch)/")
    offending = [f"{p.relative_to(results)}: {m.group(0)}..." for p in sorted(results.rglob("*"))
                 if p.suffix in {".json", ".md", ".csv"} for m in [machine_path.search(p.read_text(errors="replace"))] if m]
    assert not offending, offending
