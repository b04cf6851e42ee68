"""Atomic writes (drlib.runtime.atomic): a killed writer never leaves a file a later run trusts."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from drlib.runtime.atomic import (
    atomic_path,
    atomic_write_bytes,
    atomic_write_text,
    is_debris,
    remove_debris,
)


def test_write_replaces_whole_file(tmp_path):
    target = tmp_path / "sub" / "manifest.json"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["manifest.json"]


def test_written_file_gets_the_umask_mode_not_mkstemp_0600(tmp_path):
    old = os.umask(0o022)
    try:
        target = atomic_write_text(tmp_path / "summary.csv", "a,b\n")
    finally:
        os.umask(old)
    assert target.stat().st_mode & 0o777 == 0o644


def test_failed_block_keeps_old_version_and_leaves_no_debris(tmp_path):
    target = tmp_path / "weights.h5"
    atomic_write_bytes(target, b"complete")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("writer failed")
    assert target.read_bytes() == b"complete"
    assert [p.name for p in tmp_path.iterdir()] == ["weights.h5"]


def test_temporary_keeps_suffix(tmp_path):
    with atomic_path(tmp_path / "model.weights.h5") as tmp:
        assert tmp.name.endswith(".weights.h5")
        assert tmp.parent == tmp_path
        assert is_debris(tmp)
        tmp.write_bytes(b"x")


def test_killed_writer_leaves_only_debris_which_is_removed(tmp_path):
    target = tmp_path / "shard.npy"
    atomic_write_bytes(target, b"version 1")
    script = textwrap.dedent(f"""
        import os, signal
        from drlib.runtime.atomic import atomic_path
        with atomic_path({str(target)!r}) as tmp:
            tmp.write_bytes(b"half of version 2")
            os.kill(os.getpid(), signal.SIGKILL)
    """)
    proc = subprocess.run([sys.executable, "-c", script], env={**os.environ})
    assert proc.returncode == -9
    assert target.read_bytes() == b"version 1"
    leftovers = [p for p in tmp_path.iterdir() if p != target]
    assert len(leftovers) == 1 and is_debris(leftovers[0])
    assert remove_debris(tmp_path) == leftovers
    assert [p.name for p in tmp_path.iterdir()] == ["shard.npy"]


def test_ordinary_hidden_file_is_not_debris(tmp_path):
    keep = tmp_path / ".gitignore"
    keep.write_text("*")
    assert not is_debris(keep)
    assert not is_debris(Path("data.partial-1.npy"))
    assert remove_debris(tmp_path) == []
    assert keep.exists()
