"""The CT phantom shared by the tests, the benchmarks and anything else that needs a quick CT
slice: a round body of soft tissue in air, optionally with a dense lesion, a fine texture (so
that window changes show) and scanner noise. Values are Hounsfield units.

The realistic demo studies (chest and head anatomy, MR) are demo/synthetic.py's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

AIR_HU = -1000


@dataclass(frozen=True)
class Lesion:
    row: float
    column: float
    radius: float
    extra_hu: float  # added to what is there


def ct_phantom(
    size: int,
    *,
    body_radius: float,
    body_hu: int = 40,
    lesion: Lesion | None = None,
    texture_hu: int = 0,
    noise_sd: float = 0.0,
    seed: int = 1,
) -> np.ndarray:
    """A size x size slice in HU: integers unless noise is asked for (then floats)."""
    yy, xx = np.mgrid[0:size, 0:size]
    hu = np.where(np.hypot(yy - size / 2, xx - size / 2) < body_radius, body_hu, AIR_HU)
    if lesion is not None:
        hu = hu + (np.hypot(yy - lesion.row, xx - lesion.column) < lesion.radius) * lesion.extra_hu
    if texture_hu:
        hu = hu + ((xx + yy) % 7) * texture_hu
    if noise_sd:
        hu = hu + np.random.default_rng(seed).normal(0, noise_sd, (size, size))
    return hu


def bench_slice() -> np.ndarray:
    """The 512x512 slice the benchmarks render (the same one the side-by-side comparison with
    another DICOMweb server writes: a 200-pixel body, a 700 HU lesion, noise of 12 HU)."""
    return ct_phantom(512, body_radius=200, lesion=Lesion(200, 300, 40, 700), noise_sd=12, seed=1)
