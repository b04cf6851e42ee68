"""drlib.runtime.memory: the allocator setting of the data-set builder's worker processes."""

import platform
import subprocess
import sys


def _in_fresh_process(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True).stdout.strip()


def test_reuse_large_allocations_applies_on_glibc_and_only_once():
    out = _in_fresh_process(
        "from drlib.runtime.memory import reuse_large_allocations as r\n"
        "print(r(), r(), r.cache_info().misses)")
    expected = "True" if platform.libc_ver()[0] == "glibc" else "False"
    assert out == f"{expected} {expected} 1"


def test_importing_the_module_changes_nothing():
    """Only the call changes the allocator: importing drlib.runtime.memory is free of effects."""
    out = _in_fresh_process(
        "import drlib.runtime.memory as m\nprint(m.reuse_large_allocations.cache_info().misses)")
    assert out == "0"
