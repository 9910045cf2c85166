"""benchmarks/_common.py: every results header names the CPU, its instruction set and bfloat16 support."""

import torch

from benchmarks._common import machine
from benchmarks._common import machine_line


def test_the_header_says_whether_the_cpu_computes_bfloat16_natively():
    details = machine()
    assert details["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert details["bfloat16_native"] in (True, False, None)
    line = machine_line({"cpu_count": 2, "torch": "2.13.0+cpu", "cpu_capability": "AVX2", "bfloat16_native": False})
    assert line == "2 CPU cores (AVX2, no native bfloat16), torch 2.13.0+cpu"
    assert machine_line({"cpu_count": 16, "torch": "2.13.0", "cpu_capability": "AVX512", "bfloat16_native": True}) == (
        "16 CPU cores (AVX512, native bfloat16), torch 2.13.0")
    # results written before these fields existed, or a PyTorch that cannot tell
    assert machine_line({"cpu_count": 2, "torch": "2.13.0+cpu"}) == "2 CPU cores, torch 2.13.0+cpu"
    assert machine_line({"cpu_count": 2, "torch": "2.13.0+cpu", "cpu_capability": "DEFAULT",
                         "bfloat16_native": None}) == "2 CPU cores (DEFAULT), torch 2.13.0+cpu"


def test_the_header_names_the_cpu_model_and_amx_where_linux_gives_them():
    details = machine()
    assert details["amx"] in (True, False, None)
    line = machine_line({"cpu_count": 2, "torch": "2.13.0+cpu", "cpu_capability": "AVX512", "bfloat16_native": True,
                         "cpu_model": "Intel(R) Xeon(R) Processor", "amx": True})
    assert line == "2 CPU cores (Intel(R) Xeon(R) Processor; AVX512, AMX, native bfloat16), torch 2.13.0+cpu"
    assert machine_line({"cpu_count": 2, "torch": "2.13.0+cpu", "cpu_capability": "AVX2", "bfloat16_native": False,
                         "cpu_model": "AMD EPYC", "amx": False}) == (
        "2 CPU cores (AMD EPYC; AVX2, no native bfloat16), torch 2.13.0+cpu")


def test_results_go_where_emofuse_benchmark_results_says(tmp_path):
    import os
    import pathlib
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parents[1]
    code = ("from benchmarks._common import write_results; "
            "print(write_results('trial', {'rows': []}, 'table\\n'))")
    environment = {**os.environ, "EMOFUSE_BENCHMARK_RESULTS": str(tmp_path)}
    written = subprocess.run([sys.executable, "-c", code], cwd=root, env=environment, capture_output=True, text=True,
                             check=True).stdout.strip()
    assert pathlib.Path(written) == tmp_path / "trial.md" and (tmp_path / "trial.json").is_file()
    assert not (root / "benchmarks" / "results" / "trial.md").exists()
