"""The training cache on disk: its layout, its manifest, and the checks that decide what to trust.

Layout of a cache folder::

    manifest.json          settings, one entry per finished shard (with checksums), skipped files
    shards/00000.npy       uint8 (rows, S, S, 3): the photographs of shard 0 that could be used
    shards/00000.json      shard 0's photographs: id, source file, its size, mtime and sha256,
                           grade, row in the .npy (or the reason it was skipped)

Every file is written through :mod:`drlib.runtime.atomic` (temporary name, then rename), so a
killed writer leaves debris, never a half-written file under a real name. A shard is *trusted*
only when the manifest lists it and both its files hash to the sha256 the manifest records;
anything else is rebuilt.

No Keras and no NumPy arrays of pixels here: this module only reads and writes the bookkeeping.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from drlib.data.records import DatasetError
from drlib.runtime.atomic import atomic_write_text

FORMAT = "drlib-training-cache"
VERSION = 1
MANIFEST = "manifest.json"
SHARDS = "shards"

SETTINGS = ("format", "version", "source", "kind", "size", "preprocess", "reduced_decode",
            "shard_images")
"""Manifest keys that must match for an existing cache to be resumed rather than refused."""


class CacheError(DatasetError):
    """A training cache cannot be used or resumed as it stands; the message names the file."""


def sha256_file(path: str | Path, chunk: int = 1 << 22) -> str:
    """Hex sha256 of a file, read in 4 MiB chunks (constant memory)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_text(text: str) -> str:
    """Hex sha256 of a UTF-8 string."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def dumps(data: Any) -> str:
    """The one JSON spelling used for every cache file (sorted keys, so equal data, equal bytes)."""
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def shard_names(index: int) -> tuple[str, str]:
    """Paths, relative to the cache folder, of shard ``index``'s pixels and its index file."""
    return f"{SHARDS}/{index:05d}.npy", f"{SHARDS}/{index:05d}.json"


def read_manifest(folder: str | Path) -> dict[str, Any] | None:
    """The manifest of the cache in ``folder``, or ``None`` if there is none yet.

    Raises:
        CacheError: the file exists but is not a training-cache manifest.
    """
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CacheError(path, f"unreadable manifest ({err})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise CacheError(path, f"not a training-cache manifest (no \"format\": {FORMAT!r})")
    if manifest.get("version") != VERSION:
        raise CacheError(
            path, f"cache format version {manifest.get('version')!r}; this drlib reads {VERSION}"
        )
    return manifest


def write_manifest(folder: str | Path, manifest: dict[str, Any]) -> Path:
    """Write ``manifest`` atomically, its shards sorted by index."""
    manifest = dict(manifest)
    manifest["shards"] = sorted(manifest.get("shards", []), key=lambda s: s["shard"])
    return atomic_write_text(Path(folder) / MANIFEST, dumps(manifest))


def settings_differences(manifest: dict[str, Any], wanted: dict[str, Any]) -> dict[str, tuple]:
    """``key -> (in the cache, wanted)`` for every setting of :data:`SETTINGS` that differs."""
    return {k: (manifest.get(k), wanted.get(k)) for k in SETTINGS
            if manifest.get(k) != wanted.get(k)}


def shard_problem(folder: Path, entry: dict[str, Any]) -> str | None:
    """Why the shard of manifest ``entry`` cannot be trusted, or ``None`` if it can.

    Both files must exist and hash to the manifest's sha256 (the pixels are read in full).
    """
    for key in ("npy", "meta"):
        path = folder / entry[key]
        if not path.is_file():
            return f"{entry[key]} is missing"
        if path.stat().st_size != entry[f"{key}_bytes"]:
            return f"{entry[key]} has {path.stat().st_size} bytes, the manifest says " \
                   f"{entry[f'{key}_bytes']}"
        if sha256_file(path) != entry[f"{key}_sha256"]:
            return f"{entry[key]} does not match its sha256 in the manifest"
    return None
