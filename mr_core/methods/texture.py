"""What the methods built on a texture :class:`~mr_core.core.regression.MaskedRegression` share.

Their models keep the fitted masked regression in ``texture_`` and expose its size and weight maps as
their own; they are saved and loaded through the model file format and the method registry.
"""

from __future__ import annotations

import numpy as np

from ..core.modelfile import save_model
from ..core.regression import MaskedRegression
from ..errors import NotFittedError


class TextureModel:
    """Mixin of models with a fitted ``texture_`` masked regression (learned attributes, files)."""

    def _texture(self) -> MaskedRegression:
        tex = getattr(self, "texture_", None)
        if tex is None or not tex.is_fitted():
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet: call fit() or load() first")
        return tex

    @property
    def image_size_(self) -> tuple[int, int]:
        return self._texture().image_size_

    @property
    def channels_(self) -> int:
        return self._texture().channels_

    @property
    def weights_(self) -> np.ndarray:
        """Weight maps of the texture model (rf*rf, h, w, 3)."""
        return self._texture().weights_

    @property
    def bias_(self) -> np.ndarray:
        return self._texture().bias_

    def is_fitted(self) -> bool:
        tex = getattr(self, "texture_", None)
        return tex is not None and tex.is_fitted()

    #: The texture regression learns a change (target minus warped source), not the target image.
    texture_is_change = False

    def check_learned(self) -> None:
        """Refuse a freshly fitted model that could not change a face as its pairs do
        (:meth:`MaskedRegression.check_learned` on the texture regression)."""
        self._texture().check_learned(images=not self.texture_is_change)

    def save(self, path) -> None:
        save_model(self, path)

    @classmethod
    def load(cls, path, backend: str = "numpy"):
        from .registry import load_model

        return load_model(path, backend=backend)
