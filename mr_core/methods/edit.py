"""The one function that edits aligned face crops with a model of any method.

The photo pipeline, the evaluation and the demo all go through :func:`edit_crops`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InvalidParameterError
from .registry import method_of


@dataclass
class CropEdit:
    """The result of :func:`edit_crops`.

    ``crops``: edited uint8 crops (n, h, w, 3).  ``change``: float32 (n, h, w, 3), what to add after
    the motion (in [0, 1] units).  ``motion``: the crop-frame displacement the edit moves pixels by
    (already scaled by the intensity): (h, w, 2) shared by all crops, (n, h, w, 2) one per crop, or
    ``None`` for models that only change colours.
    """

    crops: np.ndarray
    change: np.ndarray
    motion: np.ndarray | None


def edit_crops(model, crops: np.ndarray, intensity: float = 1.0, landmarks=None, poses=None) -> CropEdit:
    """Apply ``model`` to aligned uint8 RGB crops (n, h, w, 3) at an intensity (0 leaves them unchanged).

    Plain MR: ``x + a (MR(x) - x)`` in the model's space; gray models change the luma of all three
    channels, ``scaling="minmax"`` models see each crop min-max normalised and their output is mapped
    back.  Shape-texture models warp the crop by ``a`` times their motion and add ``a`` times the
    smoothed texture change.  Mesh-MR models move each face by its own predicted landmarks
    (``landmarks``: one (478, 2) array per crop, or ``None`` each to find them) and add the mouth's
    new content; ``poses``: one head pose per crop for methods that need it.  Each method's ``edit``
    does the work (:class:`mr_core.methods.base.Method`).
    """
    crops = np.asarray(crops)
    if crops.ndim != 4 or crops.shape[3] != 3 or crops.dtype != np.uint8:
        raise InvalidParameterError(f"crops must be uint8 (n, h, w, 3), got {crops.dtype} {crops.shape}")
    x = crops.astype(np.float32) / np.float32(255.0)
    # the method's edit, called on the model (a plain MaskedRegression is edited as the paper's MR)
    out, change, motion = method_of(model).edit(model, x, float(intensity), landmarks=landmarks, poses=poses)
    edited = np.rint(np.clip(out, 0.0, 1.0) * 255.0).astype(np.uint8)
    return CropEdit(crops=edited, change=change.astype(np.float32), motion=motion)
