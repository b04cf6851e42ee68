"""Feeding photographs to Keras: a backend-agnostic ``PyDataset`` and a small in-memory loader.

:class:`FundusSequence` turns a list of :class:`~drlib.data.records.FundusRecord` (or arrays already
in memory) into batches ``(x, y)``: ``x`` float32 RGB in [0, 255] of shape (N, H, W, 3) (the
model normalises internally), ``y`` one-hot float32 (N, 5). It is a plain Python object, so
the same code feeds TensorFlow, JAX and PyTorch backends; ``workers`` and
``use_multiprocessing`` are handed to Keras, which runs ``__getitem__`` in threads or
processes. Shuffling and augmentation depend only on the seed, the epoch and the sample, so a
run is reproducible whatever the number of workers. ``drop_remainder=True`` keeps every batch
the same shape, which a compiled (XLA) step needs to avoid recompiling for the last batch.

:func:`load_arrays` reads a small set into memory once (a few hundred photographs) with a
small thread pool, for chapters that look at the same images again and again. A set too big for
memory (EyePACS' 88,702 photographs) is preprocessed once into a training cache
(:mod:`drlib.data.cache`, ``drlib cache``) and read memory-mapped by
:class:`~drlib.data.cache.CacheSequence`, which serves the same batches as this sequence.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from drlib.runtime import backend as _backend

_backend.ensure()  # before keras is imported: TensorFlow by default, KERAS_BACKEND if set

import keras  # noqa: E402

from drlib.core.grades import N_GRADES, one_hot  # noqa: E402,F401  (one_hot is public here)
from drlib.data.augment import Augmenter  # noqa: E402
from drlib.data.image_io import FundusImageError, read_fundus  # noqa: E402
from drlib.data.loaders import load_record_masks  # noqa: E402
from drlib.data.preprocess import PREPROCESSORS, resize  # noqa: E402
from drlib.data.records import DatasetError, FundusRecord  # noqa: E402

Masks = dict[str, np.ndarray]
Preprocess = str | Callable[..., tuple[np.ndarray, Masks | None]] | None


class _Preprocessor:
    """``(image, masks, size) -> (image, masks)`` for a preprocess spec; picklable (no lambdas),
    so a sequence can go to worker processes under any multiprocessing start method."""

    def __init__(self, spec: Preprocess) -> None:
        if isinstance(spec, str) and spec not in PREPROCESSORS:
            raise ValueError(
                f"unknown preprocess {spec!r}; use one of {sorted(PREPROCESSORS)}, None "
                "or a callable (image, masks, size) -> (image, masks)"
            )
        if spec is not None and not isinstance(spec, str) and not callable(spec):
            raise TypeError(f"preprocess must be a name, None or a callable, not {type(spec)}")
        self.spec = spec

    def __call__(self, image: np.ndarray, masks: Masks | None, size: int) -> tuple[Any, Any]:
        if self.spec is None:
            if image.shape[:2] == (size, size):
                return image, masks
            return resize(image, masks, size)
        if isinstance(self.spec, str):
            return PREPROCESSORS[self.spec](image, masks, size=size)
        return self.spec(image, masks, size)


def _mask_batch(samples: list[Masks], names: Sequence[str] | None, hw: tuple[int, int]) -> Masks:
    """Stack per-sample mask dicts into name -> bool (N, H, W); absent masks are all False."""
    if names is None:
        from drlib.core.lesion_types import MASK_NAMES

        present = set().union(*(m.keys() for m in samples)) if samples else set()
        names = [n for n in MASK_NAMES if n in present] + sorted(present - set(MASK_NAMES))
    out = {}
    for name in names:
        out[name] = np.stack(
            [m[name] if name in m else np.zeros(hw, dtype=bool) for m in samples]
        ) if samples else np.zeros((0, *hw), dtype=bool)
    return out


class EpochBatches(keras.utils.PyDataset):
    """The epoch bookkeeping every course ``PyDataset`` shares: batch count, order and epoch.

    A subclass sets ``n``, ``batch_size``, ``shuffle``, ``seed``, ``drop_remainder`` and
    ``epoch`` and serves ``__getitem__``. The order of epoch ``e`` is
    ``default_rng([seed, e]).permutation(n)`` (or ``arange(n)`` unshuffled), so it depends only on
    the seed and the epoch, never on the workers or on where a resumed run started.
    """

    def _make_order(self) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.n)
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.n)

    def __len__(self) -> int:
        if self.drop_remainder:
            return self.n // self.batch_size
        return math.ceil(self.n / self.batch_size)

    def on_epoch_end(self) -> None:
        """Advance the epoch: new shuffle order and new augmentation draws."""
        self.set_epoch(self.epoch + 1)

    def set_epoch(self, epoch: int) -> None:
        """Jump to ``epoch`` (0-based): the order and augmentation that epoch always has.

        Training calls this at the start of every epoch, so a run resumed at epoch k serves
        exactly the batches an uninterrupted run would have served.
        """
        self.epoch = int(epoch)
        self._order = self._make_order()

    def batch_indices(self, index: int) -> np.ndarray:
        """Which photographs (positions in the original order) make up batch ``index`` now."""
        return self._order[index * self.batch_size : (index + 1) * self.batch_size].copy()


class FundusSequence(EpochBatches):
    """Batches of fundus photographs for ``model.fit`` / ``predict`` on any Keras backend.

    Give either ``records`` (read from disk on demand) or ``images`` (+ ``grades``, optionally
    ``masks``) already in memory.

    Args:
        records: photographs to serve, in this order unless ``shuffle``.
        images: in-memory alternative: uint8 array (N, H, W, 3) or list of (H, W, 3) arrays.
        grades: grades of ``images`` (ints 0..4).
        masks: masks of ``images``: list of dicts (one per image) or dict name -> (N, H, W).
        batch_size: photographs per batch.
        image_size: side of the square images served.
        preprocess: "plain" (eye centred, resized), "graham" (Graham's preprocessing), ``None``
            (only a plain resize if an image is not ``image_size`` square yet: for images that
            are already preprocessed) or a callable ``(image, masks, size) -> (image, masks)``.
        augment: an :class:`~drlib.data.augment.Augmenter` applied after preprocessing, with key
            (epoch, sample index), or ``None``.
        shuffle: new order every epoch, from ``seed`` and the epoch number.
        seed: shuffle seed.
        drop_remainder: leave out the last, smaller batch (fixed shapes for XLA).
        with_masks: batches are ``(x, y, masks)`` with masks a dict name -> bool (N, H, W)
            (for the explanation chapters, not for ``fit``, which would read a third element as
            sample weights).
        mask_names: which masks to serve (absent ones are all False); default all present.
        labelled: with ``False`` grades may be ``None`` and batches are ``x`` (or ``(x, masks)``).
        workers, use_multiprocessing, max_queue_size: passed to ``keras.utils.PyDataset``.

    Note that ``model.fit(seq)`` also shuffles the *order of batches* unless given
    ``shuffle=False``, with Python's ``random`` (seeded by ``keras.utils.set_random_seed``);
    the samples inside each batch are fixed by this sequence's seed and epoch.

    Raises:
        DatasetError: a record has no grade (and ``labelled``), or no masks (and ``with_masks``).
    """

    def __init__(
        self,
        records: Sequence[FundusRecord] | None = None,
        *,
        images: np.ndarray | Sequence[np.ndarray] | None = None,
        grades: Sequence[int] | np.ndarray | None = None,
        masks: Sequence[Mapping[str, np.ndarray]] | Mapping[str, np.ndarray] | None = None,
        batch_size: int = 16,
        image_size: int = 512,
        preprocess: Preprocess = "plain",
        augment: Augmenter | None = None,
        shuffle: bool = False,
        seed: int = 0,
        drop_remainder: bool = False,
        with_masks: bool = False,
        mask_names: Sequence[str] | None = None,
        labelled: bool = True,
        workers: int = 1,
        use_multiprocessing: bool = False,
        max_queue_size: int = 10,
    ) -> None:
        super().__init__(
            workers=workers, use_multiprocessing=use_multiprocessing,
            max_queue_size=max_queue_size,
        )
        if (records is None) == (images is None):
            raise ValueError("give either records or images (in-memory arrays), not both")
        self.records = list(records) if records is not None else None
        self.images = images
        self.masks = masks
        if self.records is not None:
            self.grades = [r.grade for r in self.records]
            self.n = len(self.records)
        else:
            self.n = len(images)
            self.grades = list(grades) if grades is not None else [None] * self.n
            if len(self.grades) != self.n:
                raise ValueError(f"{self.n} images but {len(self.grades)} grades")
            if masks is not None and _masks_length(masks) != {self.n}:
                raise ValueError("masks must give one entry per image")
        self.batch_size = int(batch_size)
        self.image_size = int(image_size)
        self.preprocess = preprocess
        self._preprocess = _Preprocessor(preprocess)
        self.augment = augment
        self.shuffle = shuffle
        self.seed = int(seed)
        self.drop_remainder = drop_remainder
        self.with_masks = with_masks
        self.mask_names = list(mask_names) if mask_names is not None else None
        self.labelled = labelled
        self.epoch = 0
        self._check()
        self._order = self._make_order()

    # ----------------------------------------------------------------------------- checks
    def _name(self, i: int) -> str:
        return str(self.records[i].image_path) if self.records is not None else f"image {i}"

    def _check(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.drop_remainder and self.n < self.batch_size:
            raise ValueError(
                f"drop_remainder=True with {self.n} photographs and batch_size "
                f"{self.batch_size} leaves no batch"
            )
        if self.labelled:
            for i, grade in enumerate(self.grades):
                if grade is None or not 0 <= int(grade) < N_GRADES:
                    raise DatasetError(
                        self._name(i),
                        f"grade {grade!r} is not 0..4; pass labelled=False to serve ungraded "
                        "photographs",
                    )
        if self.with_masks:
            if self.records is not None:
                for record in self.records:
                    if not record.has_masks:
                        raise DatasetError(record.image_path, "with_masks=True but no masks")
            elif self.masks is None:
                raise ValueError("with_masks=True needs masks for the in-memory images")

    # ----------------------------------------------------------------------------- PyDataset
    def sample(self, i: int) -> tuple[np.ndarray, Masks | None]:
        """Photograph ``i`` (in the original order) as served: preprocessed, not augmented."""
        masks = None
        if self.records is not None:
            record = self.records[i]
            image = read_fundus(record.image_path)
            if self.with_masks:
                masks = load_record_masks(record)
        else:
            image = np.asarray(self.images[i])
            if self.with_masks:
                masks = _in_memory_masks(self.masks, i)
        try:
            image, masks = self._preprocess(image, masks, self.image_size)
        except ValueError as err:  # no field of view, misaligned mask...
            raise FundusImageError(self._name(i), f"cannot preprocess: {err}") from None
        if image.shape != (self.image_size, self.image_size, 3):
            raise FundusImageError(
                self._name(i),
                f"preprocessing gave shape {image.shape}, expected "
                f"{(self.image_size, self.image_size, 3)}",
            )
        return image, masks

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range (0..{len(self) - 1})")
        idx = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        images, mask_list = [], []
        for i in idx:
            image, masks = self.sample(int(i))
            if self.augment is not None:
                image, masks = self.augment.apply(image, masks, key=(self.epoch, int(i)))
            images.append(image)
            mask_list.append(masks or {})
        x = np.stack(images).astype(np.float32)
        out: list[Any] = [x]
        if self.labelled:
            out.append(one_hot([self.grades[int(i)] for i in idx]))
        if self.with_masks:
            hw = (self.image_size, self.image_size)
            out.append(_mask_batch(mask_list, self.mask_names, hw))
        return out[0] if len(out) == 1 else tuple(out)


def _masks_length(masks: Sequence[Mapping] | Mapping[str, np.ndarray]) -> set[int]:
    if isinstance(masks, Mapping):
        return {len(v) for v in masks.values()}
    return {len(masks)}


def _in_memory_masks(masks: Any, i: int) -> Masks:
    if isinstance(masks, Mapping):
        return {k: np.asarray(v[i], dtype=bool) for k, v in masks.items()}
    return {k: np.asarray(v, dtype=bool) for k, v in masks[i].items()}


def load_arrays(
    records: Sequence[FundusRecord],
    size: int = 512,
    preprocess: Preprocess = "plain",
    *,
    threads: int = 2,
    with_masks: bool = False,
    mask_names: Sequence[str] | None = None,
) -> tuple[np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, Masks]:
    """Read, preprocess and stack a small set of photographs in memory.

    Args:
        records: photographs to read (all are read: memory is N * size * size * 3 bytes).
        size: side of the square output images.
        preprocess: as in :class:`FundusSequence`.
        threads: reader threads (decoding and OpenCV release the GIL).
        with_masks: also return the masks, dict name -> bool (N, size, size).
        mask_names: masks to return (absent ones all False); default all present.

    Returns:
        ``(x, y)``: x uint8 (N, size, size, 3), y int64 (N,) grades with -1 for ungraded
        photographs; ``(x, y, masks)`` with ``with_masks``.
    """
    seq = FundusSequence(
        list(records), batch_size=1, image_size=size, preprocess=preprocess,
        with_masks=with_masks, labelled=False,
    )
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        samples = list(pool.map(seq.sample, range(seq.n)))
    x = (
        np.stack([s[0] for s in samples]) if samples
        else np.zeros((0, size, size, 3), dtype=np.uint8)
    )
    y = np.array([-1 if r.grade is None else int(r.grade) for r in records], dtype=np.int64)
    if with_masks:
        return x, y, _mask_batch([s[1] or {} for s in samples], mask_names, (size, size))
    return x, y
