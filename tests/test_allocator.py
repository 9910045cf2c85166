"""The training processes' allocator setting: large blocks from glibc's heap, the user's choice kept."""

import ctypes
import os
import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc"
    or not hasattr(ctypes.CDLL(None), "mallinfo2"), reason="glibc's mallopt and mallinfo2 (glibc 2.33+)")

# prints whether retain_freed_memory() changed anything, then how many fresh mmaps a 4 MiB malloc made
PROBE = """
import ctypes, sys
from emofuse.training.allocator import retain_freed_memory
libc = ctypes.CDLL(None)
class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                 "fsmblks", "uordblks", "fordblks", "keepcost")]
libc.mallinfo2.restype = Info
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
changed = retain_freed_memory() if sys.argv[1] == "retain" else None
before = libc.mallinfo2().hblks
block = libc.malloc(4 << 20)
print(changed, libc.mallinfo2().hblks - before)
libc.free(block)
"""


def probe(mode: str, **environment: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "GLIBC_TUNABLES", "LD_PRELOAD"))}
    result = subprocess.run([sys.executable, "-c", PROBE, mode], env={**env, **environment}, capture_output=True,
                            text=True, check=True)
    return result.stdout.strip()


def test_retain_freed_memory_serves_megabyte_blocks_from_the_heap_instead_of_fresh_mappings():
    assert probe("default") == "None 1"  # glibc maps a fresh 4 MiB block (the cost each training step paid)
    assert probe("retain") == "True 0"


def test_retain_freed_memory_leaves_an_allocator_the_user_chose():
    assert probe("retain", MALLOC_TRIM_THRESHOLD_="131072") == "False 1"
