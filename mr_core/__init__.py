"""Facial expression synthesis by masked linear regression (MR).

>>> from mr_core import MaskedRegression
>>> m = MaskedRegression(receptive_field=3, lam=0.4).fit(X, Y)   # doctest: +SKIP
>>> P = m.predict(X)                                              # doctest: +SKIP

The package, bottom to top (each layer imports only the ones below it; ``tests/test_layout.py``
checks it):

* :mod:`mr_core.core` -- the math: masked regression, compute backends, the model file format;
* :mod:`mr_core.geometry` -- warps, sampling maps, landmark shapes;
* :mod:`mr_core.face` -- detection, alignment, paste-back, landmarks;
* :mod:`mr_core.methods` -- expression methods by name: mesh + MR (the shipped models), the paper's MR,
  shape + texture, the face editor;
* :mod:`mr_core.synthesis`, :mod:`mr_core.evaluation` -- photos, videos, live streams; measuring a model;
* :mod:`mr_core.cli` -- the command line.

``errors``, ``atomic``, ``imageio`` and ``data`` are leaf modules any layer may use.
"""

from .core.backend import ArrayBackend, available_backends, backend_names, describe_backend, get_backend
from .core.modelfile import resolve_model, shipped_models
from .core.regression import MaskedRegression
from .errors import MRError
from .methods import (
    MeshRegressionModel,
    PaperMR,
    ShapeTextureModel,
    edit_crops,
    get_method,
    load_model,
    read_metadata,
)

__version__ = "0.1.0"

__all__ = [
    "ArrayBackend",
    "MRError",
    "MaskedRegression",
    "MeshRegressionModel",
    "PaperMR",
    "ShapeTextureModel",
    "available_backends",
    "backend_names",
    "describe_backend",
    "edit_crops",
    "get_backend",
    "get_method",
    "load_model",
    "read_metadata",
    "resolve_model",
    "shipped_models",
    "__version__",
]
