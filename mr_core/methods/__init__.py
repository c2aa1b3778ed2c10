"""Expression methods, registered by name (:mod:`.registry`): the paper's MR (:mod:`.paper`) and
shape + texture (:mod:`.shape_texture`); :func:`load_model` reads a model file of any of them and
:func:`edit_crops` edits aligned crops with any of them."""

from .edit import CropEdit, edit_crops
from .registry import METHODS, get_method, load_model, method_names, method_of, read_metadata
from .shape_texture import LightingStats, ShapeTextureModel

__all__ = [
    "METHODS",
    "CropEdit",
    "LightingStats",
    "ShapeTextureModel",
    "edit_crops",
    "get_method",
    "load_model",
    "method_names",
    "method_of",
    "read_metadata",
]
