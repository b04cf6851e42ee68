"""The direction of the retinal nerve fibres anywhere in a synthetic fundus (Jansonius model).

Flame haemorrhages and cotton wool spots lie in the nerve-fibre layer and are drawn along it
(:mod:`drlib.synth.lesion_render`); :func:`nerve_fibre_direction` gives that direction.
"""

from __future__ import annotations

import numpy as np

from drlib.synth.geometry import FundusGeometry

# Jansonius et al. (2009, Vision Res 49:2157; nasal part: 2012, Exp Eye Res 105:70): average
# nerve-fibre bundle trajectories of a right eye's retina in degrees, fovea at (0, 0), disc
# centre at (15, 2), +y superior. In polar coordinates (r, psi) about the disc, in a space
# distorted so that the raphe lies on psi = 180, a bundle leaving the disc at angle psi0 runs
# along psi = psi0 + b(psi0) (r - r0)^c(psi0), r0 = 4 degrees.
_JANSONIUS_DISC = np.array([15.0, 2.0])
_JANSONIUS_R0 = 4.0
_JANSONIUS_TILT = float(np.arctan2(2.0, 15.0))  # the disc sits 7.6 degrees above the fovea
_PSI0 = np.linspace(-179.75, 179.75, 720)


def _jansonius_bc(psi0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sup = psi0 >= 0
    c = np.where(sup, 1.9 + 1.4 * np.tanh((psi0 - 121.0) / 14.0),
                 1.0 + 0.5 * np.tanh((-psi0 - 90.0) / 25.0))
    b = np.where(sup, np.exp(-1.9 + 3.9 * np.tanh(-(psi0 - 121.0) / 14.0)),
                 -np.exp(0.7 + 1.5 * np.tanh(-(-psi0 - 90.0) / 25.0)))
    b = np.where(np.abs(psi0) < 60.0, 0.00083 * psi0**2 + 0.020 * psi0 - 2.65, b)
    return b, c


_B, _C = _jansonius_bc(_PSI0)


def nerve_fibre_direction(geom: FundusGeometry, xy: np.ndarray) -> np.ndarray:
    """Unit vectors (N, 2), in image coordinates, along the retinal nerve fibres at ``xy``.

    The fibres follow the Jansonius model (see the comment above): they leave the disc
    radially, the papillomacular bundle runs straight to the fovea, the arcuate bundles arch
    above and below the fovea and meet at the horizontal raphe temporal to it, and nasal fibres
    run nearly radially. The model's retina (in degrees) is mapped onto the picture by the
    similarity that takes its fovea and disc centre onto the eye's (mirrored for a left eye), so
    it is an approximation: the model's average eye, stretched to this eye's disc-fovea
    distance. The model's raphe runs through the fovea 7.6 degrees below the fovea-disc line
    (its disc sits 2 degrees above the raphe). Within the model's disc radius (4 degrees, ~1.3
    disc radii) the direction is radial from the disc centre. The sign of a direction is
    arbitrary (fibres are axes).
    """
    xy = np.atleast_2d(np.asarray(xy, float))
    u, s = geom.nasal_axis, geom.superior_axis
    d = xy - np.asarray(geom.fovea)
    a, b = d @ u, d @ s  # nasal and superior offsets from the fovea, px
    k = float(np.hypot(*_JANSONIUS_DISC)) / geom.disc_fovea_distance  # degrees per px
    ct, st = np.cos(_JANSONIUS_TILT), np.sin(_JANSONIUS_TILT)
    x, y = k * (ct * a - st * b), k * (st * a + ct * b)  # model coordinates (degrees)
    xp = x - _JANSONIUS_DISC[0]
    yp = np.where(x > 0, y - _JANSONIUS_DISC[1] * (x / _JANSONIUS_DISC[0]) ** 2, y)
    r = np.hypot(xp, yp)
    psi = np.degrees(np.arctan2(yp, xp))
    # the bundle through each point: the psi0 whose trajectory passes closest at radius r
    rr = np.maximum(r - _JANSONIUS_R0, 1e-3)[:, None]
    traj = _PSI0 + _B * rr**_C
    crossed = np.abs(traj) > 180.0  # bundles end at the raphe
    miss = np.where(crossed, np.inf, np.abs(traj - psi[:, None]))
    j = np.argmin(miss, axis=1)
    b_, c_ = _B[j], _C[j]
    psi_t = np.radians(traj[np.arange(len(j)), j])
    dpsi = np.radians(b_ * c_ * rr[:, 0] ** (c_ - 1.0))  # radians per degree of r
    tx = np.cos(psi_t) - r * np.sin(psi_t) * dpsi
    ty = np.sin(psi_t) + r * np.cos(psi_t) * dpsi
    near_disc = r < _JANSONIUS_R0 + 0.5
    tx = np.where(near_disc, xp, tx)
    ty = np.where(near_disc, yp, ty)
    ty = np.where(x > 0, ty + 2 * _JANSONIUS_DISC[1] * x / _JANSONIUS_DISC[0] ** 2 * tx, ty)
    ta, tb = ct * tx + st * ty, -st * tx + ct * ty  # back to the (nasal, superior) frame
    t = ta[:, None] * u + tb[:, None] * s
    return t / (np.linalg.norm(t, axis=1, keepdims=True) + 1e-12)
