"""The ``"mr"`` expression method: the paper's masked regression, exactly.

Every output pixel is a ridge regression on a window of input pixels
(:class:`~mr_core.core.regression.MaskedRegression`).  The exact reference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..core.regression import MaskedRegression
from .base import Method

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class PaperMR(Method, MaskedRegression):
    """The paper's masked regression as an expression method (a :class:`MaskedRegression` whose
    ``edit`` is ``x + a (MR(x) - x)``).  Plain :class:`MaskedRegression` objects are edited the same way."""

    name = "mr"
    label = "paper MR"
    description = (
        "the paper's masked regression: every output pixel a ridge regression on the window of input "
        "pixels around it"
    )
    channels = (1, 3)

    #: MR's own prediction, in the model's space (gray or min-max scaled crops as its loader makes them).
    predict = MaskedRegression.predict

    def _validate_params(self) -> None:
        self._backend()  # MaskedRegression's own checks and its backend

    def fit(self, X, Y, source_landmarks=None, target_landmarks=None) -> PaperMR:
        return MaskedRegression.fit(self, X, Y)

    def edit(self, x: np.ndarray, intensity: float = 1.0, landmarks=None, poses=None):
        """Float crops (n, h, w, 3) in [0, 1] -> (edited, change, None): ``x + a (MR(x) - x)`` in the
        model's space.

        Gray models change the luma of all three channels; ``scaling="minmax"`` models see each crop
        min-max normalised and their output is mapped back.
        """
        inp = (x @ _LUMA)[..., None] if int(self.channels_) == 1 else x
        if self.scaling == "minmax":
            lo = inp.min(axis=(1, 2, 3), keepdims=True)
            hi = inp.max(axis=(1, 2, 3), keepdims=True)
            span = np.where(hi > lo, hi - lo, np.float32(1.0))
            pred = np.asarray(self.predict((inp - lo) / span), dtype=np.float32) * span + lo
        else:
            pred = np.asarray(self.predict(inp), dtype=np.float32)
        change = np.float32(intensity) * (pred - inp)  # a gray model's luma change goes to R, G and B alike
        return x + change, change, None

    @classmethod
    def explain(cls, meta: dict[str, str]) -> str:
        return (
            "Method: **masked linear regression** as in the paper: every output pixel is a ridge "
            "regression on the window of input pixels around it."
        )

    @classmethod
    def from_file(cls, path: Path, meta: dict, tensors: dict, backend: str = "numpy") -> PaperMR:
        return cls._from_file(meta, tensors, backend)
