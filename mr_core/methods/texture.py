"""What the methods built on a texture :class:`~mr_core.core.regression.MaskedRegression` share.

Their models keep the fitted masked regression in ``texture_`` and expose its size and weight maps as
their own; they are saved and loaded through the model file format and the method registry.
"""

from __future__ import annotations

import numpy as np

from ..core.params import Boolean, Text
from ..core.regression import MaskedRegression
from ..errors import InvalidParameterError, NotFittedError
from .base import Method

#: Constraints of the parameters every texture method has (the texture regression's own are checked
#: by :class:`MaskedRegression`).
TEXTURE_CONSTRAINTS = {
    "mirror": Boolean(),
    "source": Text(),
    "target": Text(),
    "training_set": Text(),
}


class TextureModel(Method):
    """Base of methods with a fitted ``texture_`` masked regression on aligned RGB crops."""

    needs_alignment = True
    trains_on_landmarks = True
    scaling = "unit"

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.template is None:
            raise InvalidParameterError(
                "template is required: the shapes are drawn in the alignment template's frame"
            )
        self._new_texture()._backend()  # the texture model's own settings and its backend

    def _new_texture(self) -> MaskedRegression:
        return MaskedRegression(
            self.receptive_field,
            self.lam,
            backend=self.backend,
            dtype=self.dtype,
            source=self.source,
            target=self.target,
            template=self.template,
            training_set=self.training_set,
        )

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
