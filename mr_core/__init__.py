"""Facial expression synthesis by masked linear regression (MR).

>>> from mr_core import MaskedRegression
>>> m = MaskedRegression(receptive_field=3, lam=0.4).fit(X, Y)   # doctest: +SKIP
>>> P = m.predict(X)                                              # doctest: +SKIP
"""

from .backend import available_backends, backend_names, describe_backend, get_backend
from .errors import MRError
from .model import MaskedRegression
from .modelfile import load_model, resolve_model, shipped_models

__version__ = "0.1.0"

__all__ = [
    "MRError",
    "MaskedRegression",
    "available_backends",
    "backend_names",
    "describe_backend",
    "get_backend",
    "load_model",
    "resolve_model",
    "shipped_models",
    "__version__",
]
