"""A cohort of synthetic eyes held in memory with every mask: what the map chapters explain.

The explanation chapters need, for each photograph, the network's input *and* the ground truth
the paper lacked: a mask of every lesion type and of the anatomy (field of view, optic disc,
macula, vessels), aligned pixel for pixel. :func:`render_cohort` renders eyes of chosen grades
from their own seed streams (split name ``"explain"`` by default: streams no training,
validation or test split draws from, so no photograph was seen in training), then brings image
and masks to the network's input exactly as training did (:func:`plain_preprocess`; masks keep
every lesion pixel, ``mask_rule="any"``).

Each grade has its own stream (:func:`cohort_seed`): the k-th eye of grade g is the same eye in
every cohort drawn with that seed, whatever else the cohort holds, so a chapter with 6 eyes per
grade shows the first 6 of another chapter's 12.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field

import numpy as np

from drlib.core.lesion_types import MASK_NAMES
from drlib.data.preprocess import plain_preprocess
from drlib.data.synthetic_splits import image_seed
from drlib.synth.render import FundusSample, SynthConfig, render_fundus

COHORT_SPLIT = "explain"
"""Seed stream of :func:`render_cohort` (distinct from ``train``, ``val`` and ``test``)."""


def cohort_seed(seed: int, split: str, grade: int, index: int) -> np.random.SeedSequence:
    """The random stream of the ``index``-th eye of ``grade`` in cohorts of ``split``."""
    return image_seed(seed, f"{split}/grade{int(grade)}", index)


@dataclass
class SyntheticCohort:
    """Eyes at the network's input size, with their masks and truth.

    Attributes:
        images: uint8 (N, S, S, 3) photographs as the network sees them.
        masks: every name of :data:`drlib.core.lesion_types.MASK_NAMES` -> bool (N, S, S).
        grades: the rule engine's grade of what was drawn (N,), on ``label_scale``.
        seeds: the seed of each eye, to render it again (e.g. at the photograph's resolution).
        indices: each eye's place in its grade's stream (:func:`cohort_seed`).
        samples: the full-resolution :class:`~drlib.synth.render.FundusSample` of each eye, when
            kept (``keep_samples=True``).
    """

    images: np.ndarray
    masks: dict[str, np.ndarray]
    grades: np.ndarray
    seeds: list[np.random.SeedSequence]
    indices: np.ndarray
    config: SynthConfig
    image_size: int
    samples: list[FundusSample] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.grades)

    def select(self, rows: Sequence[int] | np.ndarray) -> SyntheticCohort:
        """The eyes at ``rows`` (in that order)."""
        rows = np.asarray(rows, dtype=int)
        return SyntheticCohort(
            images=self.images[rows], masks={k: v[rows] for k, v in self.masks.items()},
            grades=self.grades[rows], seeds=[self.seeds[i] for i in rows],
            indices=self.indices[rows], config=self.config,
            image_size=self.image_size,
            samples=[self.samples[i] for i in rows] if self.samples else [],
        )


def render_cohort(
    grades: Sequence[int],
    *,
    seed: int = 0,
    image_size: int = 192,
    render_size: int = 384,
    config: SynthConfig | None = None,
    split: str = COHORT_SPLIT,
    indices: Sequence[int] | None = None,
    keep_samples: bool = False,
    omit: Collection[str] = (),
) -> SyntheticCohort:
    """Render one eye per entry of ``grades`` and preprocess it to ``image_size``.

    Args:
        grades: target grade of each eye (on ``config.label_scale``).
        seed: base seed; eye i uses ``cohort_seed(seed, split, grades[i], indices[i])``.
        indices: each eye's place in its grade's stream (default: 0, 1, ... counted per grade,
            so the k-th eye of a grade is always the same eye): ``grades=[3], indices=[7]``
            renders the eighth grade-3 eye of a cohort again, e.g. at another size.
        image_size: the network's input side; render_size: the photograph's side.
        config: generator settings (placement, contrast...); its size is replaced by
            ``render_size``.
        keep_samples: also keep each full-resolution sample (photograph, masks, geometry).
        omit: lesion types to leave out of every eye (``render_fundus``'s ``omit``): the same
            eyes, pixel for pixel, without them, graded from what is still drawn.
    """
    base = config or SynthConfig()
    config = SynthConfig(**{**base.__dict__, "size": int(render_size)})
    images, grade_out, seeds, samples = [], [], [], []
    masks: dict[str, list[np.ndarray]] = {name: [] for name in MASK_NAMES}
    grades = [int(g) for g in grades]
    if indices is None:
        counts: dict[int, int] = {}
        indices = []
        for grade in grades:
            indices.append(counts.get(grade, 0))
            counts[grade] = indices[-1] + 1
    indices = [int(i) for i in indices]
    if len(indices) != len(grades):
        raise ValueError(f"indices has {len(indices)} entries for {len(grades)} grades")
    for index, grade in zip(indices, grades, strict=True):
        eye_seed = cohort_seed(seed, split, grade, index)
        sample = render_fundus(eye_seed, int(grade), config, omit=omit)
        image, small = plain_preprocess(sample.image, sample.masks, image_size, mask_rule="any")
        images.append(image)
        for name in MASK_NAMES:
            masks[name].append(small[name])
        grade_out.append(sample.grade)
        seeds.append(eye_seed)
        if keep_samples:
            samples.append(sample)
    return SyntheticCohort(
        images=np.stack(images).astype(np.uint8),
        masks={name: np.stack(stack) for name, stack in masks.items()},
        grades=np.asarray(grade_out, dtype=int), seeds=seeds,
        indices=np.asarray(indices, dtype=int), config=config,
        image_size=int(image_size), samples=samples,
    )
