"""Expression methods by name: the built-in ones, and plugins through an entry-point group.

A method is a subclass of :class:`~mr_core.methods.base.Method` (its name, label, what it needs, its
parameters, ``fit``/``edit`` and its file fields are declared on the class).  Adding a built-in method
is one module here and one line in :data:`BUILTIN_METHODS`; third-party packages add methods through
the ``mr_core.methods`` entry-point group, whose value is such a class::

    [project.entry-points."mr_core.methods"]
    mymethod = "my_package.mr_method:MyMethod"

:func:`load_model` reads any model file and dispatches on its ``method`` metadata.
"""

from __future__ import annotations

import importlib
import os
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from ..core import modelfile
from ..errors import ModelFileError
from .base import Method

ENTRY_POINT_GROUP = "mr_core.methods"

#: Built-in methods: name -> "module:Class".
BUILTIN_METHODS: dict[str, str] = {
    "mr": "mr_core.methods.paper:PaperMR",
    "shape-texture": "mr_core.methods.shape_texture:ShapeTextureModel",
    "mesh-mr": "mr_core.methods.mesh_mr:MeshRegressionModel",
    "face-editor": "mr_core.methods.face_editor:FaceEditor",
}


@cache
def _plugin_entry_points() -> dict[str, Any]:
    """Entry points of the plugin group (built-in names cannot be replaced), discovered once per process."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in BUILTIN_METHODS}


def method_names() -> list[str]:
    """Every installed method name, built-in first."""
    return list(BUILTIN_METHODS) + sorted(_plugin_entry_points())


def trainable_methods() -> list[str]:
    """The installed methods that ``train`` learns from pairs of photos."""
    return [name for name in method_names() if get_method(name).trained_from_pairs]


@cache
def get_method(name: str) -> type[Method]:
    """The class of the method called ``name``; an unknown name raises :class:`ModelFileError`
    listing the installed ones."""
    if name in BUILTIN_METHODS:
        module, _, cls = BUILTIN_METHODS[name].partition(":")
        return getattr(importlib.import_module(module), cls)
    ep = _plugin_entry_points().get(name)
    if ep is None:
        raise ModelFileError(f"unknown method {name!r}; installed methods: {', '.join(method_names())}")
    try:
        cls = ep.load()
    except Exception as exc:  # a plugin's import can fail in any way; report it, do not crash
        raise ModelFileError(f"method plugin {name!r} ({ep.value}) failed to import: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Method) and cls.name == name):
        raise ModelFileError(
            f"method plugin {name!r} ({ep.value}) must be a subclass of mr_core.methods.Method named {name!r}"
        )
    return cls


def method_of(model) -> type[Method]:
    """The method class of a model object (a plain :class:`MaskedRegression` is the paper's ``"mr"``)."""
    if isinstance(model, Method):
        return type(model)
    return get_method(getattr(model, "method", "mr"))


def check_metadata(path: Path, meta: dict) -> None:
    """Check a model file's ``method`` field and that method's own fields (a hook of the file format)."""
    method = meta["method"]
    names = method_names()
    if method not in names:
        raise ModelFileError(f"{path}: metadata method must be one of {', '.join(names)}, got {method!r}")
    get_method(method).validate_metadata(path, meta)


def _extra_tensors(meta: dict) -> tuple[str, ...]:
    return tuple(get_method(meta["method"]).extra_tensors(meta))


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The validated metadata of a model file, without loading the tensors' values."""
    return modelfile.read_metadata(path, check_method=check_metadata)


def load_model(path: str | os.PathLike, backend: str = "numpy"):
    """Read and validate a model file; returns the fitted model of its method (a :class:`Method`)."""
    path = Path(path)
    meta, tensors = modelfile.read_model_file(path, check_method=check_metadata, extra_tensors=_extra_tensors)
    return get_method(meta["method"]).from_file(path, meta, tensors, backend)
