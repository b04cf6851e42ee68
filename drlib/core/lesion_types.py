"""Names of the lesions, anatomical structures and quadrants that every mask in the course uses.

One place defines them so that the generator, the loaders, the grading rules and the later
map-versus-mask analyses agree on spelling and order.
"""

from __future__ import annotations

#: Lesion types, each with its own boolean mask. Order is the bit order used by
# ``drlib.data.masks``.
LESIONS: tuple[str, ...] = (
    "microaneurysm",
    "dot_blot_haemorrhage",
    "flame_haemorrhage",
    "hard_exudate",
    "cotton_wool_spot",
    "venous_beading",
    "irma",
    "nvd",
    "nve",
    "preretinal_haemorrhage",
    "laser_scar",
)

#: Anatomical structures with a mask.
ANATOMY: tuple[str, ...] = ("fov", "optic_disc", "macula", "vessels")

#: Every mask name, in bit order.
MASK_NAMES: tuple[str, ...] = LESIONS + ANATOMY

#: Quadrants, labelled 1..4 in this order in a quadrant label map (0 = outside the field of view).
QUADRANTS: tuple[str, ...] = (
    "superior_temporal",
    "superior_nasal",
    "inferior_temporal",
    "inferior_nasal",
)

#: The lesions that count as "haemorrhages/microaneurysms" (H/MA) in the grading rules.
HMA_LESIONS: tuple[str, ...] = ("microaneurysm", "dot_blot_haemorrhage", "flame_haemorrhage")

#: Human-readable names for figures and tables.
DISPLAY_NAMES: dict[str, str] = {
    "microaneurysm": "Microaneurysms",
    "dot_blot_haemorrhage": "Dot/blot haemorrhages",
    "flame_haemorrhage": "Flame haemorrhages",
    "hard_exudate": "Hard exudates",
    "cotton_wool_spot": "Cotton wool spots",
    "venous_beading": "Venous beading",
    "irma": "IRMA",
    "nvd": "Neovascularisation of the disc (NVD)",
    "nve": "Neovascularisation elsewhere (NVE)",
    "preretinal_haemorrhage": "Preretinal/vitreous haemorrhage",
    "laser_scar": "Laser photocoagulation scars",
    "fov": "Field of view",
    "optic_disc": "Optic disc",
    "macula": "Macula",
    "vessels": "Vessels",
}

#: Outline colours (RGB 0..1) for drawing lesion masks over photographs.
OUTLINE_COLOURS: dict[str, tuple[float, float, float]] = {
    "microaneurysm": (0.0, 1.0, 1.0),
    "dot_blot_haemorrhage": (0.2, 0.6, 1.0),
    "flame_haemorrhage": (0.5, 0.4, 1.0),
    "hard_exudate": (1.0, 1.0, 0.0),
    "cotton_wool_spot": (1.0, 1.0, 1.0),
    "venous_beading": (1.0, 0.5, 0.0),
    "irma": (1.0, 0.0, 1.0),
    "nvd": (0.0, 1.0, 0.0),
    "nve": (0.6, 1.0, 0.2),
    "preretinal_haemorrhage": (0.0, 0.3, 1.0),
    "laser_scar": (0.8, 0.8, 0.8),
}

