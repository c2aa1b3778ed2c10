"""The base class of expression methods: what a method is, declared once, asked by everyone.

A method is one class (one module in this package, one line in the registry).  The command line,
training, evaluation, the photo, video and live pipelines and the demo ask the class what it needs
and how it is called; none of them compares method names.

Declared on the class:

* ``name`` (stored in model files' ``method`` field and given to ``train --method``), ``label`` (what
  people see, e.g. "mesh + MR") and ``description`` (one sentence for help texts);
* what it needs: ``needs_landmarks`` (each face's 478 FaceLandmarker points in the crop), ``needs_pose``
  (each face's head pose, the landmarker's 4x4 facial transformation matrix), ``needs_alignment`` (its
  crops must be aligned to a template: ``train --align``), ``crop_size`` (of aligned training crops),
  ``channels`` (1 and/or 3) and ``trained_from_pairs`` (False for a method that is configured, not
  learned, e.g. targets for named blendshapes);
* its parameters: ``__init__``'s arguments, with constraints in ``_parameter_constraints``
  (:class:`~mr_core.core.params.Parameters`: ``get_params``, ``set_params``, ``__repr__``);
* its file fields: ``file_tensors`` (tensors beyond ``weights`` and ``bias``), :meth:`extra_tensors`,
  :meth:`validate_metadata`, :meth:`from_file`, and on models ``_extra_metadata`` / ``_extra_tensors``.

One signature for everyone: ``fit(X, Y, source_landmarks=None, target_landmarks=None)`` on float crops
(n, h, w, 3) in [0, 1], and ``edit(x, intensity, landmarks=None, poses=None)`` on float crops, which
returns ``(edited, change, motion)``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..core.modelfile import read_model_file, save_model
from ..core.params import Parameters
from ..errors import ModelFileError


class Method(Parameters):
    """Base class of the expression methods' models (see the module's docstring)."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    description: ClassVar[str] = ""
    needs_landmarks: ClassVar[bool] = False
    needs_pose: ClassVar[bool] = False
    needs_alignment: ClassVar[bool] = False
    trained_from_pairs: ClassVar[bool] = True
    #: Training first finds the landmarks of every pair (``fit_shape`` then ``partial_fit`` with them).
    trains_on_landmarks: ClassVar[bool] = False
    crop_size: ClassVar[tuple[int, int]] = (128, 128)
    channels: ClassVar[tuple[int, ...]] = (3,)
    file_tensors: ClassVar[tuple[str, ...]] = ()

    @property
    def method(self) -> str:
        """The name stored in model files (kept for code that reads ``model.method``)."""
        return self.name

    # ------------------------------------------------------------------ the two calls
    def fit(self, X, Y, source_landmarks=None, target_landmarks=None):
        """Learn from float crop pairs (n, h, w, 3) in [0, 1] (and their landmarks); returns ``self``."""
        raise NotImplementedError

    def edit(self, x: np.ndarray, intensity: float = 1.0, landmarks=None, poses=None):
        """Float crops (n, h, w, 3) in [0, 1] -> ``(edited, change, motion)``.

        ``change``: what the edit added after moving pixels; ``motion``: the crop-frame displacement it
        moved pixels by (h, w, 2) or (n, h, w, 2), or ``None``.  ``landmarks``/``poses``: one per crop
        (``None`` for a crop without a face) for methods that need them, found here when not given.
        """
        raise NotImplementedError

    def predict(self, X) -> np.ndarray:
        """Edited crops at intensity 1: (n, h, w, 3) or (h, w, 3) float in [0, 1] -> same shape (not
        clipped; what ``test`` compares with the targets)."""
        X = np.asarray(X, dtype=np.float32)
        single = X.ndim == 3
        out = self.edit(X[None] if single else X, 1.0)[0]
        return out[0] if single else out

    # ------------------------------------------------------------------ what reports show
    def facts(self) -> dict:
        """The method's own settings for reports (the evaluation's model description)."""
        return {}

    @classmethod
    def explain(cls, meta: dict[str, str]) -> str:
        """One Markdown sentence about how a model of this method (with file metadata ``meta``) works."""
        return cls.description

    # ------------------------------------------------------------------ files
    @classmethod
    def extra_tensors(cls, meta: dict[str, str]) -> tuple[str, ...]:
        """The file's tensors beyond ``weights`` and ``bias`` (they may depend on its metadata)."""
        return tuple(cls.file_tensors)

    @classmethod
    def validate_metadata(cls, path: Path, meta: dict[str, str]) -> None:
        """Check the method's own metadata fields (raises :class:`~mr_core.errors.ModelFileError`)."""

    @classmethod
    def from_file(cls, path: Path, meta: dict[str, str], tensors: dict, backend: str = "numpy"):
        """The fitted model of a validated file's metadata and tensors."""
        raise NotImplementedError

    def _extra_metadata(self) -> dict[str, str]:
        return {}

    def _extra_tensors(self) -> dict[str, np.ndarray]:
        return {}

    def save(self, path: str | os.PathLike) -> None:
        save_model(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike, backend: str = "numpy"):
        """Read a model file of this method (:func:`mr_core.methods.load_model` reads any method's)."""
        path = Path(path)

        def check(path: Path, meta: dict) -> None:
            if meta["method"] != cls.name:
                raise ModelFileError(
                    f"{path}: a {meta['method']} model, not a {cls.name} one; load it with mr_core.load_model"
                )
            cls.validate_metadata(path, meta)

        meta, tensors = read_model_file(path, check_method=check, extra_tensors=cls.extra_tensors)
        return cls.from_file(path, meta, tensors, backend)
