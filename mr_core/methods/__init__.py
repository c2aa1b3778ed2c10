"""Expression methods, one class each on a shared base (:class:`Method`), registered by name
(:mod:`.registry`): the paper's MR (:mod:`.paper`), shape + texture (:mod:`.shape_texture`) and mesh +
MR (:mod:`.mesh_mr`, the shipped models); :func:`load_model` reads a model file of any of them and
:func:`edit_crops` edits aligned crops with any of them."""

from .base import Method
from .edit import CropEdit, edit_crops
from .mesh_mr import MeshRegressionModel
from .paper import PaperMR
from .registry import get_method, load_model, method_names, method_of, read_metadata, trainable_methods
from .shape_texture import LightingStats, ShapeTextureModel

__all__ = [
    "CropEdit",
    "LightingStats",
    "MeshRegressionModel",
    "Method",
    "PaperMR",
    "ShapeTextureModel",
    "edit_crops",
    "get_method",
    "load_model",
    "method_names",
    "method_of",
    "read_metadata",
    "trainable_methods",
]
