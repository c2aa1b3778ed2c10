"""Helpers used only by the research scripts in this folder (not part of the package)."""

from __future__ import annotations

import numpy as np

from mr_core.errors import DataError
from mr_core.geometry import _check_image, _check_sigma, lowpass


def detail_transfer(x, y, sigma: float) -> np.ndarray:
    """``lowpass(y) + x - lowpass(x)``: the low frequencies of ``y`` with the fine detail of ``x``.

    Equivalently ``x + lowpass(y - x)``: only the smooth part of the change from ``x`` to ``y``
    is applied, so the input's own texture (skin, hair, eyelashes) passes through untouched.
    ``sigma=0`` returns ``y``; a very large ``sigma`` returns ``x`` plus the mean change.
    """
    x = _check_image(x, "x")
    y = _check_image(y, "y")
    if x.shape != y.shape:
        raise DataError(f"x and y must have the same shape, got {x.shape} and {y.shape}")
    sigma = _check_sigma(sigma)
    dtype = np.float64 if np.float64 in (x.dtype, y.dtype) else np.float32
    x = x.astype(dtype, copy=False)
    y = y.astype(dtype, copy=False)
    if sigma == 0:
        return y.copy()
    return x + lowpass(y - x, sigma)
