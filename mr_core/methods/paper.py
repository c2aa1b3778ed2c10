"""The ``"mr"`` expression method: the paper's masked regression, exactly.

Every output pixel is a ridge regression on a window of input pixels
(:class:`~mr_core.core.regression.MaskedRegression`).  The exact reference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.regression import MaskedRegression

#: The name stored in model files (their ``method`` metadata) and given to ``train --method``.
NAME = "mr"
#: No tensors beyond ``weights`` and ``bias``.
EXTRA_TENSORS: tuple[str, ...] = ()

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def validate_metadata(path: Path, meta: dict) -> None:
    """The file format's own checks cover every field of this method."""


def from_file(path: Path, meta: dict, tensors: dict, backend: str = "numpy") -> MaskedRegression:
    """The fitted model of a validated file's metadata and tensors."""
    return MaskedRegression._from_file(meta, tensors, backend)


def edit(model: MaskedRegression, x: np.ndarray, intensity: float):
    """Float crops (n, h, w, 3) in [0, 1] -> (edited, change, None): ``x + a (MR(x) - x)`` in the model's space.

    Gray models change the luma of all three channels; ``scaling="minmax"`` models see each crop min-max
    normalised and their output is mapped back.
    """
    inp = (x @ _LUMA)[..., None] if int(model.channels_) == 1 else x
    if model.scaling == "minmax":
        lo = inp.min(axis=(1, 2, 3), keepdims=True)
        hi = inp.max(axis=(1, 2, 3), keepdims=True)
        span = np.where(hi > lo, hi - lo, np.float32(1.0))
        pred = np.asarray(model.predict((inp - lo) / span), dtype=np.float32) * span + lo
    else:
        pred = np.asarray(model.predict(inp), dtype=np.float32)
    change = np.float32(intensity) * (pred - inp)  # a gray model's luma change goes to R, G and B alike
    return x + change, change, None
