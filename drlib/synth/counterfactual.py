"""Counterfactual eyes: the same photograph with one or more lesion types left out.

Chapter 06 asks whether the network misses neovascularisation of the disc (NVD) because it
ignores the disc, and answers it causally: the same eye with and without its new vessels (or its
laser scars), pixel for pixel, graded from what is still drawn. :func:`counterfactual_pair`
renders both from one seed with :func:`~drlib.synth.render.render_fundus`'s ``omit``: every
random draw (anatomy, every lesion's place and shape, camera noise, label noise) is made as for
the full eye, and the omitted types are only left out of the composite, their masks emptied and
their instances taken out of the inventory before it is graded.

What differs between the two photographs, and where (:func:`lesion_footprint`):

* before the camera's JPEG, only pixels within a few pixels of the removed lesions' masks (their
  anti-aliased and soft edges below the mask threshold, their appearance blur and the camera's
  defocus; for new vessels also their planned extent, and for IRMA at small sizes their reach,
  where a vessel finer than a pixel is drawn faint and may fall below the mask threshold);
* after the JPEG, whole 16 x 16 blocks (OpenCV writes 4:2:0 chroma: 16 x 16 minimum coded
  units) around that footprint, and a chroma sample beyond them (:func:`jpeg_footprint`);
* the masks of the removed types (empty), and the vessel mask where venous beading or loops are
  removed (they are drawn onto the veins); every other mask is identical;
* ``instances``, ``inventory``, ``grade``, ``label``, ``grades`` and ``meta["omitted"]``.

Choosing eyes. The generator decides which proliferative features an eye has (its lesion plan:
NVD, with NVE in about a third of those, NVE alone, or preretinal blood with or without NVE;
laser scars in about a third of proliferative eyes). There is no switch for "NVD only", and none
is added: :func:`select_eye` *selects* eyes, trying the seed itself and then its sub-seeds in
order until the plan has every ``require``d type and no ``forbid``den one (the plan is drawn
without rendering, :func:`~drlib.synth.render.draw_plan`). The generator and its default draws
are unchanged; a cohort so selected is the generator's eyes conditioned on those features,
with everything else (other lesions, anatomy, camera) as the generator draws it for such eyes.
"""

from __future__ import annotations

import math
from collections.abc import Collection

import cv2
import numpy as np

from drlib.synth.lesion_appearance import APPEARANCE
from drlib.synth.lesion_plan import COUNTED, LesionPlan
from drlib.synth.lesion_render import IRMA_CALIBRE_UM, IRMA_LENGTH_UM
from drlib.synth.render import (
    FundusSample,
    SynthConfig,
    check_omit,
    draw_plan,
    render_fundus,
    seed_id,
)

#: Spawn-key element of the sub-seeds :func:`select_eye` tries: ``(..., SELECT_KEY, k)``. Below
#: 100 and not 1-3, so no split's ``image_seed`` key (``drlib.data.synthetic_splits``) equals it.
SELECT_KEY = 61
#: How far beyond its mask (x R, the field radius) a lesion's soft and anti-aliased edges below
#: the mask threshold may still tint the photograph, before appearance blur and defocus.
SOFT_EDGE_R = 0.04
#: Pixels added to every footprint radius (anti-aliasing and rounding).
EDGE_PX = 2
#: The lesion types with a planned extent in disc areas (their instances carry ``disc_areas``).
NEW_VESSELS = ("nvd", "nve")
#: How far from its instance's centre an IRMA is drawn, in its lengths (``IRMA_LENGTH_UM``): a
#: start up to 0.3 sqrt(2) lengths off, a tortuous vessel of one length, twigs of 0.35.
IRMA_REACH = 1.78


def plan_lesions(plan: LesionPlan) -> frozenset[str]:
    """The lesion types (mask names of ``LESIONS``) a plan will draw. Venous loops are drawn into
    the venous-beading mask, so a plan with loops has ``"venous_beading"``."""
    have = {name for name in COUNTED if sum(plan.counts[name]) > 0}
    if plan.venous_beading or plan.venous_loops:
        have.add("venous_beading")
    if plan.nvd_disc_areas > 0:
        have.add("nvd")
    if plan.nve:
        have.add("nve")
    if plan.preretinal:
        have.add("preretinal_haemorrhage")
    return frozenset(have)


def _sub_seed(seed: int | np.random.SeedSequence, k: int) -> int | np.random.SeedSequence:
    """Candidate ``k`` of :func:`select_eye`: the seed itself, then its sub-seeds."""
    if k == 0:
        return seed
    if isinstance(seed, np.random.SeedSequence):
        return np.random.SeedSequence(seed.entropy, spawn_key=(*seed.spawn_key, SELECT_KEY, k))
    return np.random.SeedSequence(int(seed), spawn_key=(SELECT_KEY, k))


def select_eye(seed: int | np.random.SeedSequence, grade: int | None,
               require: Collection[str] = (), forbid: Collection[str] = (),
               config: SynthConfig | None = None, prior: str | tuple[float, ...] = "eyepacs",
               eye: str | None = None, size: int | None = None,
               max_tries: int = 1000) -> tuple[int | np.random.SeedSequence, int]:
    """The first of ``seed``, then its sub-seeds ``SeedSequence(seed, spawn_key=(SELECT_KEY,
    k))`` (k = 1, 2, ...; for a SeedSequence seed the key is appended to its own), whose eye's
    lesion plan has every type in ``require`` and none in ``forbid``. Returns (that seed, the
    number of seeds tried). The plan is drawn as ``render_fundus`` with the same arguments
    draws it, without rendering. This selects eyes; it does not change how any eye is drawn.

    E.g. ``grade=4, require=("nvd",), forbid=("nve",)``: a proliferative eye with NVD only
    (preretinal blood never comes with NVD). ValueError for unknown or contradictory names, or
    when none of ``max_tries`` seeds qualifies."""
    need, ban = check_omit(require), check_omit(forbid)
    if need & ban:
        raise ValueError(f"lesion type(s) both required and forbidden: {sorted(need & ban)}")
    for k in range(int(max_tries)):
        candidate = _sub_seed(seed, k)
        _, plan = draw_plan(candidate, grade, config, prior=prior, eye=eye, size=size)
        have = plan_lesions(plan)
        if need <= have and not (ban & have):
            return candidate, k + 1
    raise ValueError(f"no eye of grade {grade} with {sorted(need)} and without {sorted(ban)} "
                     f"in {max_tries} seeds from {seed_id(seed)!r}")


def counterfactual_pair(seed: int | np.random.SeedSequence, grade: int | None,
                        remove: str | Collection[str], config: SynthConfig | None = None,
                        size: int | None = None, *, require: Collection[str] = (),
                        forbid: Collection[str] = (), max_tries: int = 1000,
                        **kw) -> tuple[FundusSample, FundusSample]:
    """(with_lesions, without): the eye ``render_fundus(seed, grade, config, size=size, **kw)``
    and the same eye with the lesion types ``remove`` left out (``omit=remove``).

    With ``require`` or ``forbid``, the eye is first chosen by :func:`select_eye` (the seed
    itself if it qualifies, else its first qualifying sub-seed); both samples then carry
    ``meta["selection"]`` (the seed asked for, the number of seeds tried, require, forbid) and
    their ``seed`` is the chosen one. ``kw`` goes to ``render_fundus`` (``prior``, ``eye``).

    An eye without any of ``remove`` gives two identical photographs: require them to avoid it.
    """
    removed = check_omit(remove)
    meta = {}
    if require or forbid:
        chosen, tries = select_eye(seed, grade, require, forbid, config, size=size,
                                   max_tries=max_tries, **kw)
        meta["selection"] = {"seed": seed_id(seed), "tries": tries,
                             "require": sorted(check_omit(require)),
                             "forbid": sorted(check_omit(forbid))}
        seed = chosen
    with_lesions = render_fundus(seed, grade, config, size=size, **kw)
    without = render_fundus(seed, grade, config, size=size, omit=removed, **kw)
    for sample in (with_lesions, without):
        sample.meta.update(meta)
    return with_lesions, without


def _disc_kernel(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def footprint_radius(sample: FundusSample, name: str) -> int:
    """Pixels beyond its mask that lesion type ``name`` may change ``sample``'s photograph by,
    before the JPEG: ``EDGE_PX`` + R x (``SOFT_EDGE_R`` + 4 s.d. of the type's appearance blur
    (its widest part, :data:`~drlib.synth.lesion_appearance.APPEARANCE`; none for venous
    beading, which is drawn onto the veins) + 4 s.d. of the
    camera's defocus), rounded up."""
    blur = max((spec[3] for part, spec in APPEARANCE.items() if part.split(".")[0] == name),
               default=0.0)  # venous beading has no layer of its own: it is drawn onto veins
    r = sample.geometry.fov_radius * (SOFT_EDGE_R + 4.0 * blur + 4.0 * sample.camera.blur_sigma)
    return EDGE_PX + math.ceil(r)


def lesion_footprint(sample: FundusSample, names: str | Collection[str],
                     margin: int | None = None, lesion_scale: float = 1.0) -> np.ndarray:
    """Where removing the lesion types ``names`` from ``sample`` may change the photograph
    before the camera's JPEG: the union of their masks, each dilated by ``margin`` px (default
    :func:`footprint_radius` of the type). Pass the sample that still has them (the first of
    :func:`counterfactual_pair`). Bool (H, W); not limited to the field of view, since defocus
    spreads across its edge.

    Fine vessels are drawn one pixel wide and fainter when thinner than a pixel, and may then
    fall below the mask threshold away from their instance's centre (which always is in the
    mask), e.g. IRMA (30-60 um) at render sizes under ~200 px. So the footprint of new vessels
    also holds each instance's planned extent (``disc_areas`` of the disc's area around its
    centre, where every vessel of the tangle is drawn), and, when IRMA's finest calibre is under
    a pixel, each IRMA instance's reach (``IRMA_REACH`` of the longest IRMA), both dilated the
    same. ``lesion_scale`` is the ``SynthConfig.lesion_scale`` the sample was rendered with."""
    names = check_omit(names)
    size = sample.image.shape[0]
    um_per_px = sample.geometry.um_per_px
    out = np.zeros((size, size), bool)
    for name in sorted(names):
        r = footprint_radius(sample, name) if margin is None else int(margin)
        grown = sample.masks[name].astype(np.uint8)
        for inst in sample.instances:
            if inst.lesion != name:
                continue
            if name in NEW_VESSELS and inst.disc_areas > 0:
                reach = math.sqrt(inst.disc_areas * sample.geometry.disc_area / math.pi)
            elif name == "irma" and IRMA_CALIBRE_UM[0] * lesion_scale < um_per_px:
                reach = IRMA_REACH * IRMA_LENGTH_UM[1] * lesion_scale / um_per_px
            else:
                continue
            cv2.circle(grown, (int(round(inst.x)), int(round(inst.y))), math.ceil(reach), 1, -1)
        if r > 0:
            grown = cv2.dilate(grown, _disc_kernel(r))
        out |= grown.astype(bool)
    return out


def jpeg_footprint(footprint: np.ndarray, block: int = 16, margin: int = 2) -> np.ndarray:
    """``footprint`` grown to the JPEG blocks it touches (``block`` 16: OpenCV's 4:2:0 minimum
    coded unit, whose chroma is one 8 x 8 block over 16 x 16 pixels) plus ``margin`` pixels
    (the decoder's chroma upsampling reads the neighbouring block's samples): where a change
    inside ``footprint`` may change the decoded photograph."""
    h, w = footprint.shape
    nh, nw = -(-h // block), -(-w // block)
    padded = np.zeros((nh * block, nw * block), bool)
    padded[:h, :w] = footprint
    touched = padded.reshape(nh, block, nw, block).any(axis=(1, 3))
    blocks = np.repeat(np.repeat(touched, block, axis=0), block, axis=1)[:h, :w]
    if margin > 0:
        blocks = cv2.dilate(blocks.astype(np.uint8), np.ones((2 * margin + 1,) * 2, np.uint8))
    return blocks.astype(bool)


__all__ = [
    "EDGE_PX", "IRMA_REACH", "NEW_VESSELS", "SELECT_KEY", "SOFT_EDGE_R", "counterfactual_pair",
    "footprint_radius", "jpeg_footprint", "lesion_footprint", "plan_lesions", "select_eye",
]
