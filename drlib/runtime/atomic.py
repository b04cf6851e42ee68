"""Atomic writes: a file is either absent, the old version, or the complete new version.

Every writer of something a later run trusts (a checkpoint, a cache shard, a manifest, a
summary) writes to a temporary name in the same folder and renames it over the target with
:func:`os.replace`, which POSIX and Windows make atomic within one file system. A writer killed
midway leaves only a ``*.partial-*`` file behind; :func:`is_debris` recognises it and
:func:`remove_debris` clears it, so the next run never mistakes it for a finished file.

No Keras and no NumPy here: the data, training and screening layers all use this module.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

PARTIAL_MARK = ".partial-"


def _default_mode() -> int:
    # mkstemp creates 0600 files; a finished file gets the mode open() would give it (umask).
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _temporary_name(target: Path) -> Path:
    fd, name = tempfile.mkstemp(prefix=f".{target.name}{PARTIAL_MARK}", dir=target.parent)
    os.close(fd)
    os.chmod(name, _default_mode())
    return Path(name)


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not every platform lets a folder be opened.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write ``target`` through; rename it over ``target`` on success.

    For writers that want a path (``model.save``, ``np.save``, ``PIL.Image.save``). If the block
    raises, the temporary file is removed and ``target`` is untouched. The temporary name keeps
    ``target``'s suffix, because some writers choose the format from it.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_name(target)
    tmp_with_suffix = tmp.with_name(tmp.name + "".join(target.suffixes))
    tmp.rename(tmp_with_suffix)
    try:
        yield tmp_with_suffix
        with contextlib.suppress(OSError):
            with open(tmp_with_suffix, "rb+") as fh:
                os.fsync(fh.fileno())
        os.replace(tmp_with_suffix, target)
        _fsync_dir(target.parent)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_with_suffix.unlink()
        raise


def atomic_write_bytes(target: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically; return ``target`` as a :class:`Path`."""
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
    return Path(target)


def atomic_write_text(target: str | Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``target`` atomically; return ``target`` as a :class:`Path`."""
    return atomic_write_bytes(target, text.encode(encoding))


def atomic_copy(source: str | Path, target: str | Path) -> Path:
    """Copy ``source`` to ``target`` atomically (the copy appears whole or not at all)."""
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
    return Path(target)


def is_debris(path: str | Path) -> bool:
    """True for a temporary file a killed :func:`atomic_path` writer left behind."""
    return PARTIAL_MARK in Path(path).name and Path(path).name.startswith(".")


def remove_debris(folder: str | Path, recursive: bool = True) -> list[Path]:
    """Delete the half-written files left in ``folder``; return what was removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    pattern = f"**/.*{PARTIAL_MARK}*" if recursive else f".*{PARTIAL_MARK}*"
    removed = []
    for path in sorted(folder.glob(pattern)):
        if path.is_file() and is_debris(path):
            path.unlink()
            removed.append(path)
    return removed
