"""drlib.runtime.memory: the allocator setting of the data-set builder's worker processes."""

import ctypes
import platform
import subprocess
import sys

import pytest


def _in_fresh_process(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True).stdout.strip()


def test_reuse_large_allocations_applies_on_glibc_and_only_once():
    out = _in_fresh_process(
        "from drlib.runtime.memory import reuse_large_allocations as r\n"
        "print(r(), r(), r.cache_info().misses)")
    expected = "True" if platform.libc_ver()[0] == "glibc" else "False"
    assert out == f"{expected} {expected} 1"


MMAPPED_BLOCKS = """
import ctypes, ctypes.util, sys
import drlib.runtime.memory as m

class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ("arena", "ordblks", "smblks", "hblks",
                "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.mallinfo2.restype = MallInfo2
if sys.argv[1] == "call":
    assert m.reuse_large_allocations()
before = libc.mallinfo2().hblks
block = bytearray(8 << 20)  # 8 MiB: above glibc's default mmap threshold (128 KiB)
print(libc.mallinfo2().hblks - before)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc" or not hasattr(ctypes.CDLL(None),
                                                                      "mallinfo2"),
                    reason="counts glibc's mmapped blocks (mallinfo2, glibc >= 2.33)")
def test_reuse_large_allocations_serves_8_mib_from_the_heap():
    """glibc's mallinfo2().hblks counts blocks served by their own mmap: an 8 MiB array is one
    more of them in a fresh process, and none once the mmap threshold is raised to 32 MiB."""
    counts = [subprocess.run([sys.executable, "-c", MMAPPED_BLOCKS, arm], check=True,
                             capture_output=True, text=True).stdout.strip()
              for arm in ("no call", "call")]
    assert counts == ["1", "0"]


def test_importing_the_module_changes_nothing():
    """Only the call changes the allocator: importing drlib.runtime.memory is free of effects."""
    out = _in_fresh_process(
        "import drlib.runtime.memory as m\nprint(m.reuse_large_allocations.cache_info().misses)")
    assert out == "0"
