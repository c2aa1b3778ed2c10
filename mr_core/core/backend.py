"""Compute backends: a small interface, a registry by name, and plugin discovery.

The model's math is written once against an array module ``xp`` (NumPy's API);
a backend supplies that module plus conversion to NumPy at the edges.  Built-in
backends live in the top-level ``backends`` package; third-party packages add
more through the ``mr_core.backends`` entry-point group, whose value is either a
module with a ``load()`` function or a callable returning an :class:`ArrayBackend`::

    [project.entry-points."mr_core.backends"]
    mybackend = "my_package.mr_backend"
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from ..errors import BackendError

ENTRY_POINT_GROUP = "mr_core.backends"

#: Built-in backends: name -> module path.  The module has ``name`` and ``load()``.
BUILTIN_BACKENDS: dict[str, str] = {
    "numpy": "backends.numpy_backend",
    "cupy": "backends.cupy_backend",
}


@dataclass(frozen=True)
class ArrayBackend:
    """What the model needs from a backend."""

    name: str
    xp: ModuleType  # NumPy-compatible array module
    to_numpy: Callable[[Any], Any]
    synchronize: Callable[[], None]
    description: str

    def asarray(self, a, dtype=None):
        return self.xp.asarray(a, dtype=dtype)


@cache
def _plugin_entry_points() -> dict[str, Any]:
    """Entry points of the plugin group, discovered once per process."""
    found = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in BUILTIN_BACKENDS or ep.name == "auto":
            warnings.warn(
                f"ignoring backend plugin {ep.name!r} ({ep.value}): that name is reserved", stacklevel=2
            )
            continue
        found[ep.name] = ep
    return found


def backend_names() -> list[str]:
    """Every installed backend name (built-in first), whether or not it can run here."""
    return list(BUILTIN_BACKENDS) + sorted(_plugin_entry_points())


def _load_factory(name: str) -> Callable[[], ArrayBackend]:
    if name in BUILTIN_BACKENDS:
        module = importlib.import_module(BUILTIN_BACKENDS[name])
        return module.load
    ep = _plugin_entry_points()[name]
    try:
        target = ep.load()
    except Exception as exc:  # a plugin's import can fail in any way; report it, do not crash
        raise BackendError(f"backend plugin {name!r} ({ep.value}) failed to import: {exc}") from None
    factory = getattr(target, "load", target)
    if not callable(factory):
        raise BackendError(f"backend plugin {name!r} ({ep.value}) has no load() function")
    return factory


_loaded: dict[str, ArrayBackend] = {}


def get_backend(name: str = "numpy") -> ArrayBackend:
    """Return the backend called ``name`` ("auto": CuPy when a CUDA device works, else NumPy).

    Raises :class:`BackendError` with one line naming the reason when it is unknown or cannot run.
    """
    if isinstance(name, ArrayBackend):
        return name
    if not isinstance(name, str):
        raise BackendError(f"backend must be a name such as 'numpy', got {type(name).__name__}")
    if name == "auto":
        try:
            return get_backend("cupy")
        except BackendError:
            return get_backend("numpy")
    if name in _loaded:
        return _loaded[name]
    if name not in BUILTIN_BACKENDS and name not in _plugin_entry_points():
        valid = ", ".join(["auto", *backend_names()])
        raise BackendError(f"unknown backend {name!r}; installed backends: {valid}")
    factory = _load_factory(name)
    backend = factory()
    if not isinstance(backend, ArrayBackend):
        raise BackendError(f"backend {name!r} did not return an ArrayBackend from load()")
    _loaded[name] = backend
    return backend


def available_backends() -> list[str]:
    """Names of the installed backends that really run on this machine; broken plugins warn."""
    names = []
    for name in backend_names():
        try:
            get_backend(name)
        except BackendError as exc:
            if name not in BUILTIN_BACKENDS:
                warnings.warn(str(exc), stacklevel=2)
            continue
        names.append(name)
    return names


def describe_backend(name: str) -> str:
    """A short human description, e.g. ``"CPU (NumPy 2.4, x86_64)"``."""
    return get_backend(name).description
