"""Input checks and the identity sampling map, shared by the geometry modules."""

from __future__ import annotations

import functools
import math
import numbers

import numpy as np

from ..errors import DataError, InvalidParameterError

# ----------------------------------------------------------------------------- checks


def _check_sigma(sigma) -> float:
    if (
        isinstance(sigma, bool)
        or not isinstance(sigma, numbers.Real)
        or not math.isfinite(sigma)
        or sigma < 0
    ):
        raise InvalidParameterError(f"sigma must be a finite number >= 0, got {sigma!r}")
    return float(sigma)


def _check_image(x, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim not in (2, 3) or x.shape[0] < 1 or x.shape[1] < 1:
        raise DataError(f"{name} must be an H x W or H x W x C image, got shape {x.shape}")
    if x.dtype.kind not in "fiu":
        raise DataError(f"{name} must be numeric, got dtype {x.dtype}")
    return x


def _check_points(p, name: str) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2 or p.shape[0] < 1:
        raise DataError(f"{name} must be an (n, 2) array of (x, y) points, got shape {p.shape}")
    if not np.isfinite(p).all():
        raise DataError(f"{name} must not contain NaN or infinite coordinates")
    return p


def identity_map(shape: tuple[int, int]) -> np.ndarray:
    """The sampling map that leaves an image of ``shape`` = (H, W) unchanged, (H, W, 2) float32."""
    return _identity(*(int(v) for v in shape)).copy()


@functools.lru_cache(maxsize=8)
def _identity(h: int, w: int) -> np.ndarray:
    """:func:`identity_map`, computed once per size (read-only: callers add to it, never into it)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    m = np.stack([xx, yy], axis=-1)
    m.setflags(write=False)
    return m
