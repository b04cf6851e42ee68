"""Process-wide memory allocator settings for allocation-heavy worker processes.

The synthetic generator allocates a few dozen fresh arrays of 0.25-3 MB per 512 px photograph.
glibc's ``malloc`` serves blocks above its mmap threshold with fresh ``mmap`` pages and returns
them on ``free``, so every such array pays a page fault per 4 KiB on first touch: on this
course's machine that is about a third of the generator's time. :func:`reuse_large_allocations`
raises the mmap and trim thresholds so that freed blocks stay in the heap and are reused
without faults. It is called by the data-set builder's worker processes (and by the generator
benchmark, to measure what they get), never at import: it keeps the process's peak memory
reserved, which a long-lived training process should not do.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's maximum on 64-bit builds (DEFAULT_MMAP_THRESHOLD_MAX)
_TRIM_THRESHOLD = 512 * 1024 * 1024


@functools.cache
def reuse_large_allocations() -> bool:
    """Keep freed large blocks in the heap for reuse (glibc only). Returns whether it applied:
    False on a C library without ``mallopt`` (macOS, musl) or when glibc refuses the values."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = True
    for option, value in ((_M_MMAP_THRESHOLD, _MMAP_THRESHOLD),
                          (_M_TRIM_THRESHOLD, _TRIM_THRESHOLD), (_M_TOP_PAD, 64 * 1024 * 1024)):
        ok &= mallopt(option, value) == 1
    return bool(ok)
