"""Up-front checks of an output folder: it can be written, and its disk has room.

A training run or a screening run that finds out at the end that it cannot write its results
has wasted hours. :func:`check_output_folder` is called before the long work starts: it creates
the folder, writes and removes a probe file in it (the only test that also holds for root, for
read-only mounts and for network file systems, where permission bits do not tell), and compares
the bytes the caller expects to write with :func:`shutil.disk_usage`. Either problem raises
:class:`OutputFolderError`, whose message names the folder.

No Keras and no NumPy here: the training and screening layers both use this module.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from drlib.runtime.atomic import PARTIAL_MARK


class OutputFolderError(OSError):
    """An output folder cannot be created or written, or its disk is too full; the message
    names the folder and the problem."""

    def __init__(self, folder: str | Path, problem: str) -> None:
        self.folder = Path(folder)
        self.problem = problem
        super().__init__(f"{folder}: {problem}")


def format_bytes(n: int | float) -> str:
    """``1536`` -> ``"1.5 KiB"``: sizes for messages."""
    value = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{int(value)} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def check_output_folder(folder: str | Path, bytes_needed: int = 0,
                        what: str = "the output folder") -> Path:
    """Create ``folder`` if needed and check that it can be written and has room.

    Args:
        folder: the folder a run will write into.
        bytes_needed: an estimate (an upper bound is best) of what the run will write.
        what: how the message names the folder (e.g. ``"the training output folder"``).

    Returns:
        ``folder`` as a :class:`Path`.

    Raises:
        OutputFolderError: the folder cannot be created, a file cannot be written in it, or
            ``shutil.disk_usage(folder).free`` is less than ``bytes_needed``.
    """
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputFolderError(
            folder, f"cannot create {what}: {err.strerror or err}") from None
    try:  # a name that remove_debris clears, should the process die right here
        fd, probe = tempfile.mkstemp(prefix=f".write-check{PARTIAL_MARK}", dir=folder)
        try:
            os.write(fd, b"drlib")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as err:
        raise OutputFolderError(
            folder, f"{what} is not writable: {err.strerror or err}") from None
    free = shutil.disk_usage(folder).free
    if bytes_needed > free:
        raise OutputFolderError(
            folder, f"not enough free disk space for {what}: the run needs about "
            f"{format_bytes(bytes_needed)}, the disk has {format_bytes(free)} free")
    return folder
