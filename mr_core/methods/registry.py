"""Expression methods by name: the built-in ones, and plugins through an entry-point group.

A method is a module with:

* ``NAME``: the name stored in model files (their ``method`` metadata);
* ``EXTRA_TENSORS``: names of its model files' tensors beyond ``weights`` and ``bias`` (or, when they
  depend on the file's metadata, a function ``extra_tensors(meta)`` returning them);
* ``validate_metadata(path, meta)``: checks its own metadata fields (raises :class:`ModelFileError`);
* ``from_file(path, meta, tensors, backend)``: the fitted model of a validated file;
* ``edit(model, x, intensity)``: float crops (n, h, w, 3) in [0, 1] -> ``(edited, change, motion)``
  (``motion``: the crop-frame displacement the edit moves pixels by, or ``None``).

Its model objects have ``method = NAME`` (MaskedRegression, which has none, is ``"mr"``) and add their
own metadata and tensors to model files through ``_extra_metadata()`` and ``_extra_tensors()``.
Adding a built-in method is one module here and one line in :data:`BUILTIN_METHODS`; third-party
packages add methods through the ``mr_core.methods`` entry-point group, whose value is such a module::

    [project.entry-points."mr_core.methods"]
    mymethod = "my_package.mr_method"

:func:`load_model` reads any model file and dispatches on its ``method`` metadata.
"""

from __future__ import annotations

import importlib
import os
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

from ..core import modelfile
from ..errors import ModelFileError

ENTRY_POINT_GROUP = "mr_core.methods"

#: Built-in methods: name -> module path.
BUILTIN_METHODS: dict[str, str] = {
    "mr": "mr_core.methods.paper",
    "shape-texture": "mr_core.methods.shape_texture",
    "mesh-mr": "mr_core.methods.mesh_mr",
}

#: Names of the built-in methods (``train --method`` trains these).
METHODS = tuple(BUILTIN_METHODS)


@cache
def _plugin_entry_points() -> dict[str, Any]:
    """Entry points of the plugin group (built-in names cannot be replaced), discovered once per process."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name not in BUILTIN_METHODS}


def method_names() -> list[str]:
    """Every installed method name, built-in first."""
    return list(BUILTIN_METHODS) + sorted(_plugin_entry_points())


@cache
def get_method(name: str) -> ModuleType:
    """The module of the method called ``name``; an unknown name raises :class:`ModelFileError`
    listing the installed ones."""
    if name in BUILTIN_METHODS:
        return importlib.import_module(BUILTIN_METHODS[name])
    ep = _plugin_entry_points().get(name)
    if ep is None:
        raise ModelFileError(f"unknown method {name!r}; installed methods: {', '.join(method_names())}")
    try:
        return ep.load()
    except Exception as exc:  # a plugin's import can fail in any way; report it, do not crash
        raise ModelFileError(f"method plugin {name!r} ({ep.value}) failed to import: {exc}") from None


def method_of(model) -> str:
    """The method name of a model object."""
    return getattr(model, "method", "mr")


def check_metadata(path: Path, meta: dict) -> None:
    """Check a model file's ``method`` field and that method's own fields (a hook of the file format)."""
    method = meta["method"]
    names = method_names()
    if method not in names:
        raise ModelFileError(f"{path}: metadata method must be one of {', '.join(names)}, got {method!r}")
    get_method(method).validate_metadata(path, meta)


def _extra_tensors(meta: dict) -> tuple[str, ...]:
    module = get_method(meta["method"])
    if hasattr(module, "extra_tensors"):  # tensors that depend on the file's metadata
        return tuple(module.extra_tensors(meta))
    return tuple(module.EXTRA_TENSORS)


def read_metadata(path: str | os.PathLike) -> dict[str, str]:
    """The validated metadata of a model file, without loading the tensors' values."""
    return modelfile.read_metadata(path, check_method=check_metadata)


def load_model(path: str | os.PathLike, backend: str = "numpy"):
    """Read and validate a model file; returns the fitted model of its method
    (:class:`~mr_core.core.regression.MaskedRegression`, :class:`~mr_core.methods.shape_texture.ShapeTextureModel`, ...)."""
    path = Path(path)
    meta, tensors = modelfile.read_model_file(path, check_method=check_metadata, extra_tensors=_extra_tensors)
    return get_method(meta["method"]).from_file(path, meta, tensors, backend)
