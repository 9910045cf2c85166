"""Keep glibc's ``malloc`` from handing every large tensor's memory back to the kernel.

By default glibc serves an allocation above a threshold (128 KiB, raised as blocks are freed)
with a fresh ``mmap`` and returns it to the kernel on ``free``; the top of its heap is trimmed
the same way. Training on frame features allocates and frees blocks of megabytes on every step
(a padded batch of 16 utterances x 600 frames x 130 LLDs is 5 MB), so each step paid for the
kernel zeroing new pages again: on 2 cores the pooling heads on ComParE LLD frames spent a
quarter of their CPU time in the kernel (15 of 59 s for a 10-fold run), and setting glibc's
``MALLOC_MMAP_THRESHOLD_`` and ``MALLOC_TRIM_THRESHOLD_`` cut it to 3 s, with the same peak
memory; the run's wall time fell by 8-25 % over repeated runs on a noisy machine (54 against
41 s with one process of two threads; the pooled MLP's fold 32 against 25 s). PyTorch's CPU tuning guide suggests jemalloc or
tcmalloc for the same reason; :func:`retain_freed_memory` sets glibc's own two parameters
through ``mallopt`` instead, so that nothing has to be preloaded.

It changes nothing when those variables are already set (the user's choice wins), when another
allocator is preloaded (``LD_PRELOAD``), or off glibc (macOS, Windows, musl).
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import platform
import sys

log = logging.getLogger(__name__)

#: ``mallopt`` parameters (glibc's ``malloc.h``)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
#: blocks under 32 MiB (glibc's largest mmap threshold on 64-bit systems) come from the heap
MMAP_THRESHOLD_BYTES = 32 << 20
#: free memory at the top of the heap is kept up to 1 GiB instead of being trimmed after each step
TRIM_THRESHOLD_BYTES = 1 << 30
#: environment variables that mean someone chose the allocator's behaviour already
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES", "LD_PRELOAD")


@functools.cache
def retain_freed_memory() -> bool:
    """Serve blocks under 32 MiB from glibc's heap and keep up to 1 GiB of freed memory for reuse
    in this process (once; call it in every worker process that trains). Returns whether it did."""
    chosen = [name for name in USER_SETTINGS if os.environ.get(name)]
    if chosen:
        log.debug("allocator left as set by %s", ", ".join(chosen))
        return False
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
