"""Where the DenseNet121 starting weights come from: ImageNet, a local file, or nothing.

The paper initialised DenseNet with ImageNet weights. Keras fetches those from a public bucket
on first use and caches them in ``$KERAS_HOME/models`` (``~/.keras/models`` by default). This
machine, and the GPU machine, have no network, and waiting for a download to time out teaches
nobody anything, so the policy here is:

1. ``weights=None`` or ``"scratch"``: random initialisation (Keras' default initialisers).
2. ``weights="imagenet"``: use the file if it is already in the Keras cache; download only when
   the caller passed ``allow_download=True``. Otherwise fail *at once* with a message that says
   which file to put where and the URL it comes from.
3. ``weights=<path>``: a ``.h5`` weights file (the Keras "notop" file, or any file Keras can
   load into DenseNet121 without its top), or a folder holding that file under its Keras name
   (a Keras cache folder, with or without its ``models/`` sub-folder).

When the weights cannot be had, ``fallback="scratch"`` turns the error into a warning and the
network starts from random weights; the default ``fallback=None`` raises, so nobody trains
from scratch by accident while believing the network saw ImageNet.
"""

from __future__ import annotations

import hashlib
import os
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path

DENSENET121_NOTOP_FILE = "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5"
"""File name Keras gives the ImageNet DenseNet121 weights without the classifier."""

DENSENET121_NOTOP_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/densenet/"
    + DENSENET121_NOTOP_FILE
)
"""Where Keras downloads that file from."""

DENSENET121_NOTOP_MD5 = "30ee3e1110167f948a6b9946edeeb738"
"""MD5 Keras checks the downloaded file against (``keras.applications.densenet``)."""

FALLBACKS = (None, "scratch")


class WeightsUnavailableError(FileNotFoundError):
    """The requested starting weights cannot be had (no file, no permission to download)."""


@dataclass(frozen=True)
class WeightsChoice:
    """What initialisation was asked for and what the model actually got.

    ``source`` is ``"scratch"``, ``"imagenet"`` or ``"file"``; ``path`` is the weights file
    (``None`` for scratch); ``note`` says why a fallback happened, if one did.
    """

    requested: str
    source: str
    path: Path | None = None
    note: str = ""

    def describe(self) -> str:
        """One line for logs and manifests, e.g. ``imagenet (/root/.keras/models/...h5)``."""
        text = self.source if self.path is None else f"{self.source} ({self.path})"
        return f"{text}; {self.note}" if self.note else text


def keras_cache_dir() -> Path:
    """The folder where Keras looks for (and caches) application weights.

    ``$KERAS_HOME/models`` when ``KERAS_HOME`` is set, else ``~/.keras/models``; Keras itself
    falls back to ``/tmp/.keras`` when the home folder is not writable, and so does this.
    """
    home = os.environ.get("KERAS_HOME")
    if home:
        base = Path(home).expanduser()
    else:
        user = Path("~").expanduser()
        base = (user if os.access(user, os.W_OK) else Path("/tmp")) / ".keras"
    return base / "models"


def imagenet_weights_path() -> Path:
    """Where the ImageNet DenseNet121 "notop" file must lie for ``weights="imagenet"``."""
    return keras_cache_dir() / DENSENET121_NOTOP_FILE


def missing_imagenet_message() -> str:
    """The instruction printed when the ImageNet weights are not on this machine."""
    return (
        "ImageNet weights for DenseNet121 are not on this machine and downloading was not "
        f"allowed. Put the file {DENSENET121_NOTOP_FILE} at {imagenet_weights_path()} "
        f"(download it from {DENSENET121_NOTOP_URL} on a machine with internet, "
        f"md5 {DENSENET121_NOTOP_MD5}), or pass weights='/path/to/{DENSENET121_NOTOP_FILE}', "
        "or pass allow_download=True where the network is reachable, "
        "or pass fallback='scratch' to train from random weights."
    )


def md5sum(path: str | os.PathLike[str]) -> str:
    """MD5 of a file, read in 1 MiB blocks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _download_imagenet(timeout_s: float) -> Path:
    """Fetch the notop file through Keras (hash-checked) with a bounded socket timeout."""
    import keras

    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout_s)
    try:
        path = keras.utils.get_file(
            DENSENET121_NOTOP_FILE,
            DENSENET121_NOTOP_URL,
            cache_subdir="models",
            cache_dir=str(keras_cache_dir().parent),
            file_hash=DENSENET121_NOTOP_MD5,
        )
    except Exception as err:  # network errors come in many types (URLError, timeout, OSError)
        raise WeightsUnavailableError(
            f"downloading {DENSENET121_NOTOP_URL} failed ({type(err).__name__}: {err}). "
            + missing_imagenet_message()
        ) from err
    finally:
        socket.setdefaulttimeout(previous)
    return Path(path)


def _local_file(path: Path) -> Path:
    """A weights file from a user path: the file itself, or the Keras file inside a folder."""
    if path.is_dir():
        for candidate in (path / DENSENET121_NOTOP_FILE, path / "models" / DENSENET121_NOTOP_FILE):
            if candidate.is_file():
                return candidate
        raise WeightsUnavailableError(
            f"{path} is a folder without {DENSENET121_NOTOP_FILE} (looked in {path} and "
            f"{path / 'models'}); put the file there or pass the file's own path"
        )
    if not path.is_file():
        raise WeightsUnavailableError(f"weights file {path} does not exist")
    if path.suffix not in (".h5", ".hdf5", ".keras"):
        raise WeightsUnavailableError(
            f"weights file {path} is not an HDF5 weights file (.h5); "
            f"expected e.g. {DENSENET121_NOTOP_FILE}"
        )
    return path


def resolve_weights(
    weights: str | os.PathLike[str] | None,
    *,
    fallback: str | None = None,
    allow_download: bool = False,
    download_timeout_s: float = 30.0,
) -> WeightsChoice:
    """Decide which weights file DenseNet121 starts from, without loading anything.

    Args:
        weights: ``None``/``"scratch"``, ``"imagenet"``, or a path (file or folder).
        fallback: ``None`` (raise when the weights cannot be had) or ``"scratch"`` (warn and
            start from random weights).
        allow_download: with ``"imagenet"`` and an empty cache, try the Keras download
            (``download_timeout_s`` bounds each socket operation). Off by default, so an
            offline machine fails at once instead of after a timeout.

    Returns:
        A :class:`WeightsChoice`.

    Raises:
        WeightsUnavailableError: the weights cannot be had and ``fallback`` is ``None``.
        ValueError: an unknown ``weights`` string or ``fallback``.
    """
    if fallback not in FALLBACKS:
        raise ValueError(f"fallback must be one of {FALLBACKS}, got {fallback!r}")
    if weights is None or weights == "scratch":
        return WeightsChoice(requested="scratch", source="scratch")
    requested = str(weights)
    try:
        if weights == "imagenet":
            cached = imagenet_weights_path()
            if cached.is_file():
                digest = md5sum(cached)
                if digest != DENSENET121_NOTOP_MD5:
                    raise WeightsUnavailableError(
                        f"{cached} is not the Keras DenseNet121 notop file (md5 {digest}, "
                        f"expected {DENSENET121_NOTOP_MD5}); delete it and put the right file "
                        f"there (from {DENSENET121_NOTOP_URL}), or pass weights='{cached}' to "
                        "load it anyway"
                    )
                return WeightsChoice(requested, "imagenet", cached)
            if not allow_download:
                raise WeightsUnavailableError(missing_imagenet_message())
            return WeightsChoice(requested, "imagenet", _download_imagenet(download_timeout_s))
        looks_like_path = any(ch in str(weights) for ch in ("/", os.sep, "."))
        if isinstance(weights, str) and not (looks_like_path or Path(weights).exists()):
            raise ValueError(
                f"weights={weights!r} is neither None, 'scratch', 'imagenet' nor a path"
            )
        return WeightsChoice(requested, "file", _local_file(Path(weights).expanduser()))
    except WeightsUnavailableError as err:
        if fallback is None:
            raise
        warnings.warn(f"{err} Continuing from scratch (fallback='scratch').", stacklevel=2)
        return WeightsChoice(requested, "scratch", None, note=f"fallback from {requested!r}")
