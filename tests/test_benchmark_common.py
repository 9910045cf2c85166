"""benchmarks/_common.py: every results header names the CPU's instruction set and bfloat16 support."""

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
