"""The ``"shape-texture"`` expression method.

:class:`ShapeTextureModel`, shape and texture separated as in active
  appearance models.  The *shape* part is one fixed warp of the aligned crop, the mean motion of the
  478 FaceLandmarker points from the source to the target expression (mouth corners up, cheeks
  raised), drawn in the alignment template's frame, so synthesis needs no landmarks.  The *texture*
  part is a masked regression trained on the residual ``target - warped source`` (teeth, shading)
  with mirrored pairs; its output is smoothed so that only the change, never the person's own
  detail, is low-pass.  Warping moves the person's own pixels, which keeps the face sharp.
  With ``photometric=True`` (new models) the texture part works in canonical lighting: every warped
  crop is mapped, per channel, from its own mean and standard deviation over the face ellipse to the
  training set's, and the predicted change is scaled back by the crop's standard deviation over the
  canonical one (at most 1) — a dim, low-contrast or warm-lit face gets a proportionally smaller,
  correctly tinted change instead of the bright studio change of the training photos.

:func:`mr_core.methods.edit_crops` applies it (or any other method) to aligned uint8 crops.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .. import geometry
from ..core.params import Boolean, Real, Satisfies
from ..errors import DataError, ModelFileError, NotFittedError
from .texture import TEXTURE_CONSTRAINTS, TextureModel

#: Floor of the per-channel standard deviation of a face region (a flat crop is not amplified).
MIN_FACE_STD = 0.01


def face_statistics(crops, weights) -> tuple[np.ndarray, np.ndarray]:
    """Per-crop, per-channel weighted mean and standard deviation over a face region.

    ``crops``: (n, h, w, c) or (h, w, c) float; ``weights``: (h, w) non-negative (e.g. the template's
    face mask).  Returns two float32 arrays of shape (n, c) (or (c,)); the standard deviation is at
    least :data:`MIN_FACE_STD`.
    """
    x = np.asarray(crops, dtype=np.float32)
    single = x.ndim == 3
    x = x[None] if single else x
    wgt = np.asarray(weights, dtype=np.float32)
    if x.ndim != 4 or wgt.shape != x.shape[1:3] or not float(wgt.sum()) > 0:
        raise DataError(
            f"need crops (n, h, w, c) and weights (h, w) with a positive sum, got {x.shape}, {wgt.shape}"
        )
    wgt = wgt / wgt.sum()
    mean = np.einsum("nhwc,hw->nc", x, wgt)
    var = np.einsum("nhwc,hw->nc", (x - mean[:, None, None, :]) ** 2, wgt)
    std = np.maximum(np.sqrt(np.maximum(var, 0.0)), np.float32(MIN_FACE_STD)).astype(np.float32)
    mean = mean.astype(np.float32)
    return (mean[0], std[0]) if single else (mean, std)


def to_canonical(x, mean, std, canonical_mean, canonical_std) -> np.ndarray:
    """Map crops with face statistics ``(mean, std)`` (per crop and channel) to the canonical ones."""
    x = np.asarray(x, dtype=np.float32)
    mean, std = (np.asarray(v, dtype=np.float32)[..., None, None, :] for v in (mean, std))
    gain = np.asarray(canonical_std, dtype=np.float32) / std
    return ((x - mean) * gain + np.asarray(canonical_mean, dtype=np.float32)).astype(np.float32)


class LightingStats:
    """Running mean of the per-channel face statistics of training crops: the canonical lighting.

    ``add`` source crops (n, h, w, 3) in [0, 1] chunk by chunk; ``value`` is (mean, std), each (3,).
    """

    def __init__(self, template: str):
        self.template = template
        self._sum = np.zeros((2, 3), dtype=np.float64)
        self._n = 0

    def add(self, X) -> LightingStats:
        from ..face import face_mask

        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 4 or X.shape[3] != 3:
            raise DataError(f"crops must have shape (n, h, w, 3), got {X.shape}")
        mean, std = face_statistics(X, face_mask(self.template, X.shape[1:3]))
        self._sum += [mean.sum(axis=0), std.sum(axis=0)]
        self._n += len(X)
        return self

    @property
    def value(self) -> tuple[np.ndarray, np.ndarray]:
        if self._n == 0:
            raise NotFittedError("no crops were added to the lighting statistics")
        mean, std = (self._sum / self._n).astype(np.float32)
        return mean, std


class ShapeTextureModel(TextureModel):
    """A fixed expression warp plus a residual masked-regression texture change.

    Parameters
    ----------
    receptive_field, lam, backend, dtype
        Settings of the texture :class:`~mr_core.core.regression.MaskedRegression`.
    texture_sigma : float >= 0
        Gaussian blur (crop pixels) of the predicted texture change.
    lower_gain : float
        Factor on the mean landmark motion below the template's nose tip (the lower face).
    deadzone : (low, high)
        Mean motions below ``low`` pixels are dropped (smoothly up to ``high``): the parts of the face
        the expression hardly moves are copied exactly, not resampled.
    mirror : bool
        Also train the texture on the left-right mirrored pairs.
    photometric : bool
        Normalise the lighting of the texture model's input (see the module's docstring).  The
        canonical statistics (``photometric_mean_``, ``photometric_std_``, per channel) are the mean
        face statistics of the first :meth:`partial_fit` batch (all pairs when :meth:`fit` is used).
        Model files written without it load with ``photometric=False`` and behave as before.
    photometric_max_gain : float > 0
        Cap of the per-channel factor ``std / std0`` that scales the change back: a contrasty face
        (hard light, close-up) gets at most the canonical change, never an amplified one.
    source, target, template, training_set
        Stored in model files; ``template`` must name the alignment template of the crops.
    """

    name = "shape-texture"
    label = "shape + texture"
    description = (
        "one fixed expression warp learned from 478 face landmarks plus a blurred MR texture change "
        "(needs --align)"
    )
    file_tensors = ("displacement",)
    texture_is_change = True
    _parameter_constraints = {
        **TEXTURE_CONSTRAINTS,
        "texture_sigma": Real(0),
        "lower_gain": Real(0),
        "photometric": Boolean(),
        "photometric_max_gain": Real(0, strict=True),
        "deadzone": Satisfies(
            lambda v: len(v) == 2 and 0 <= v[0] <= v[1] < math.inf, "(low, high) with 0 <= low <= high"
        ),
    }

    def __init__(
        self,
        receptive_field: int = 3,
        lam: float = 0.4,
        backend: str = "numpy",
        dtype: str = "float32",
        *,
        texture_sigma: float = 2.0,
        lower_gain: float = 1.2,
        deadzone: tuple[float, float] = (0.25, 0.75),
        mirror: bool = True,
        photometric: bool = True,
        photometric_max_gain: float = 1.0,
        source: str = "neutral",
        target: str = "smiling",
        template: str | None = None,
        training_set: str = "",
    ):
        self.receptive_field = receptive_field
        self.lam = lam
        self.backend = backend
        self.dtype = dtype
        self.texture_sigma = texture_sigma
        self.lower_gain = lower_gain
        self.deadzone = deadzone
        self.mirror = mirror
        self.photometric = photometric
        self.photometric_max_gain = photometric_max_gain
        self.source = source
        self.target = target
        self.template = template
        self.training_set = training_set

    # ------------------------------------------------------------------ training
    def fit_shape(
        self, source_landmarks, target_landmarks, image_size: tuple[int, int], lighting=None
    ) -> ShapeTextureModel:
        """Learn the expression warp from (n, k, 2) landmark sets of aligned training crops (pixels).

        ``lighting``: the canonical (mean, std) per channel of the training crops' faces, from
        :class:`LightingStats` over every training source crop; without it the first batch given to
        :meth:`partial_fit` sets them.
        """
        from ..face import get_template

        self._validate_params()
        h, w = (int(v) for v in image_size)
        nose_y = get_template(self.template).points[2][1] * h
        flow = geometry.expression_flow_map(
            source_landmarks,
            target_landmarks,
            (h, w),
            axis_x=w / 2,
            lower_gain=float(self.lower_gain),
            lower_from=nose_y,
            deadzone=tuple(float(v) for v in self.deadzone),
        )
        self.displacement_ = (flow - geometry.identity_map((h, w))).astype(np.float32)
        self.texture_ = self._new_texture()
        self.n_shape_pairs_ = int(np.asarray(source_landmarks).shape[0])
        self.photometric_mean_ = self.photometric_std_ = None
        if lighting is not None and self.photometric:
            mean, std = (np.asarray(v, dtype=np.float32).reshape(3) for v in lighting)
            self.photometric_mean_, self.photometric_std_ = mean, std
        return self

    def _gain(self, std) -> np.ndarray:
        """Per-channel factor from canonical to the crop's units: ``min(std / std0, max_gain)``."""
        g = np.asarray(std, dtype=np.float32) / self.photometric_std_
        return np.minimum(g, np.float32(self.photometric_max_gain)).astype(np.float32)

    def _face_weights(self) -> np.ndarray:
        from ..face import face_mask

        return face_mask(self.template, tuple(int(v) for v in self.displacement_.shape[:2]))

    def partial_fit(self, X, Y, source_landmarks=None, target_landmarks=None) -> ShapeTextureModel:
        """Add crop pairs (n, h, w, 3) in [0, 1] to the texture model (after :meth:`fit_shape`; the
        landmarks are not needed here)."""
        if getattr(self, "displacement_", None) is None:
            raise NotFittedError("call fit_shape() with the training landmarks before partial_fit()")
        X = np.asarray(X, dtype=np.float32)
        if X.ndim != 4 or X.shape[1:3] != self.displacement_.shape[:2] or X.shape[3] != 3:
            raise DataError(
                f"X must be RGB crops of {self.displacement_.shape[0]}x{self.displacement_.shape[1]}, "
                f"got shape {X.shape}"
            )
        flow = geometry.identity_map(X.shape[1:3]) + self.displacement_
        axis = X.shape[2] / 2 if self.mirror else None
        A, D = geometry.texture_pairs(X, Y, flow, mirror_axis=axis)
        if self.photometric:
            mean, std = face_statistics(A, self._face_weights())
            if getattr(self, "photometric_mean_", None) is None:
                self.photometric_mean_ = mean.mean(axis=0).astype(np.float32)
                self.photometric_std_ = std.mean(axis=0).astype(np.float32)
            A = to_canonical(A, mean, std, self.photometric_mean_, self.photometric_std_)
            D = D / self._gain(std)[:, None, None, :]
        self.texture_.partial_fit(A, D)
        return self

    def fit(self, X, Y, source_landmarks, target_landmarks) -> ShapeTextureModel:
        """Learn the warp from the landmarks and the texture change from the crops."""
        X = np.asarray(X, dtype=np.float32)
        lighting = LightingStats(self.template).add(X).value if self.photometric and self.template else None
        self.fit_shape(source_landmarks, target_landmarks, X.shape[1:3], lighting=lighting)
        return self.partial_fit(X, Y)

    # ------------------------------------------------------------------ learned attributes
    @property
    def n_pairs_(self) -> int:
        n = self._texture().n_pairs_
        return n // 2 if self.mirror else n

    # ------------------------------------------------------------------ synthesis
    def edit_one(self, x: np.ndarray, intensity: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """One float crop (h, w, 3) in [0, 1] -> (warped crop, texture change), both float32.

        The edited crop is ``warped + change``; the motion of the warp is ``intensity * displacement_``.
        """
        tex = self._texture()
        x = np.asarray(x, dtype=np.float32)
        h, w = self.displacement_.shape[:2]
        if x.shape != (h, w, 3):
            got = "x".join(str(v) for v in x.shape)
            raise DataError(
                f"the crop is {got} but the model expects {h}x{w}x3 (aligned RGB crops of its size)"
            )
        flow = geometry.identity_map((h, w)) + np.float32(intensity) * self.displacement_
        warped = geometry.warp_image(x, flow)
        if self.photometric:
            mean, std = face_statistics(warped, self._face_weights())
            inp = to_canonical(warped, mean, std, self.photometric_mean_, self.photometric_std_)
            scale = self._gain(std)
        else:
            inp, scale = warped, np.float32(1.0)
        change = np.float32(intensity) * geometry.lowpass(tex.predict(inp), self.texture_sigma) * scale
        return warped, change.astype(np.float32)

    def predict(self, X) -> np.ndarray:
        """Edited crops at intensity 1: (n, h, w, 3) or (h, w, 3) float in [0, 1] -> same shape (not clipped)."""
        X = np.asarray(X, dtype=np.float32)
        single = X.ndim == 3
        out = np.stack([sum(self.edit_one(x)) for x in (X[None] if single else X)])
        return out[0] if single else out

    # ------------------------------------------------------------------ files
    def _extra_metadata(self) -> dict[str, str]:
        """This method's fields in model files (see :func:`mr_core.core.modelfile.save_model`)."""
        meta = {
            "texture_sigma": repr(float(self.texture_sigma)),
            "lower_gain": repr(float(self.lower_gain)),
            "deadzone": ",".join(repr(float(v)) for v in self.deadzone),
            "mirror": "true" if self.mirror else "false",
            "photometric": "true" if self.photometric else "false",
        }
        if self.photometric:
            meta["format_version"] = "2"  # older readers would ignore the lighting fields
            meta.update(
                photometric_mean=",".join(repr(float(v)) for v in self.photometric_mean_),
                photometric_std=",".join(repr(float(v)) for v in self.photometric_std_),
                photometric_max_gain=repr(float(self.photometric_max_gain)),
            )
        return meta

    def _extra_tensors(self) -> dict[str, np.ndarray]:
        return {"displacement": np.ascontiguousarray(self.displacement_, dtype=np.float32)}

    def edit(self, x: np.ndarray, intensity: float = 1.0, landmarks=None, poses=None):
        """Float crops (n, h, w, 3) in [0, 1] -> (edited, change, motion): each crop warped by
        ``intensity`` times the model's motion, plus ``intensity`` times the smoothed texture change."""
        pairs = [self.edit_one(xi, intensity) for xi in x]
        warped = np.stack([p[0] for p in pairs])
        change = np.stack([p[1] for p in pairs])
        return warped + change, change, np.float32(intensity) * self.displacement_

    # ------------------------------------------------------------------ reports
    def facts(self) -> dict:
        return {
            "texture_sigma": self.texture_sigma,
            "lower_gain": self.lower_gain,
            "mirror": self.mirror,
            "photometric": self.photometric,
        }

    @classmethod
    def explain(cls, meta: dict[str, str]) -> str:
        return (
            "Method: **shape + texture** — a fixed warp learned from 478 face landmarks moves the "
            "person's own pixels (mouth corners, cheeks), then a masked regression on the warped face "
            f"adds the change of colour (teeth, shading), blurred by σ = {float(meta['texture_sigma']):g} px."
        )

    # ------------------------------------------------------------------ model files
    @classmethod
    def validate_metadata(cls, path: Path, meta: dict) -> None:
        _validate_metadata(path, meta)

    @classmethod
    def from_file(cls, path: Path, meta: dict, tensors: dict, backend: str = "numpy") -> ShapeTextureModel:
        return _from_file(path, meta, tensors, backend)


# ---------------------------------------------------------------------------------------- model files
def _validate_metadata(path: Path, meta: dict) -> None:
    """Check this method's fields of a model file's metadata (:class:`ModelFileError`)."""
    for key in ("texture_sigma", "lower_gain", "deadzone", "mirror"):
        if key not in meta:
            raise ModelFileError(f"{path}: shape-texture model metadata lacks {key}")
    try:
        values = [float(meta["texture_sigma"]), float(meta["lower_gain"])]
        values += [float(v) for v in meta["deadzone"].split(",")]
    except (TypeError, ValueError, AttributeError):
        raise ModelFileError(
            f"{path}: shape-texture metadata must be numbers (texture_sigma, lower_gain, deadzone)"
        ) from None
    if len(values) != 4 or not all(math.isfinite(v) and v >= 0 for v in values):
        raise ModelFileError(f"{path}: shape-texture metadata must be finite numbers >= 0")
    if meta["mirror"] not in ("true", "false"):
        raise ModelFileError(f"{path}: metadata mirror must be true or false, got {meta['mirror']!r}")
    # Lighting normalisation: absent in older files, which behave as before (off).
    photometric = meta.get("photometric", "false")
    if photometric not in ("true", "false"):
        raise ModelFileError(f"{path}: metadata photometric must be true or false, got {photometric!r}")
    if photometric == "true":
        _photometric_values(path, meta)


def _photometric_values(path: Path, meta: dict) -> tuple[np.ndarray, np.ndarray, float]:
    """The validated canonical mean, standard deviation (3 channels each) and gain cap of a file."""
    for key in ("photometric_mean", "photometric_std", "photometric_max_gain"):
        if key not in meta:
            raise ModelFileError(f"{path}: a photometric shape-texture model's metadata lacks {key}")
    try:
        mean = np.array([float(v) for v in meta["photometric_mean"].split(",")], dtype=np.float32)
        std = np.array([float(v) for v in meta["photometric_std"].split(",")], dtype=np.float32)
        gain = float(meta["photometric_max_gain"])
    except (TypeError, ValueError, AttributeError):
        raise ModelFileError(
            f"{path}: photometric metadata must be numbers (photometric_mean, photometric_std, "
            "photometric_max_gain)"
        ) from None
    if mean.shape != (3,) or std.shape != (3,):
        raise ModelFileError(f"{path}: photometric_mean and photometric_std must have 3 values (R, G, B)")
    if not (np.isfinite(mean).all() and (mean >= 0).all() and (mean <= 1).all()):
        raise ModelFileError(f"{path}: photometric_mean must be 3 numbers in [0, 1]")
    if not (np.isfinite(std).all() and (std > 0).all() and (std <= 1).all()):
        raise ModelFileError(f"{path}: photometric_std must be 3 numbers in (0, 1]")
    if not (math.isfinite(gain) and gain > 0):
        raise ModelFileError(f"{path}: photometric_max_gain must be a finite number > 0")
    return mean, std, gain


def _from_file(path: Path, meta: dict, tensors: dict, backend: str = "numpy") -> ShapeTextureModel:
    """The fitted model of a validated file's metadata and tensors."""
    h, w = int(meta["image_height"]), int(meta["image_width"])
    disp = tensors["displacement"]
    if disp.shape != (h, w, 2) or disp.dtype != np.float32 or not np.isfinite(disp).all():
        raise ModelFileError(f"{path}: the displacement tensor must be finite float32 of shape {(h, w, 2)}")
    if meta["scaling"] != "unit" or int(meta["channels"]) != 3 or not meta["template"]:
        raise ModelFileError(f"{path}: a shape-texture model must be RGB, /255-scaled and name its template")
    model = ShapeTextureModel(
        receptive_field=int(meta["receptive_field"]),
        lam=float(meta["lam"]),
        backend=backend,
        dtype=meta["dtype"],
        texture_sigma=float(meta["texture_sigma"]),
        lower_gain=float(meta["lower_gain"]),
        deadzone=tuple(float(v) for v in meta["deadzone"].split(",")),
        mirror=meta["mirror"] == "true",
        photometric=meta.get("photometric", "false") == "true",
        source=meta["source"],
        target=meta["target"],
        template=meta["template"],
        training_set=meta["training_set"],
    )
    texture = model._new_texture()
    n_texture = int(meta["n_pairs"]) * (2 if model.mirror else 1)
    texture._set_solution(tensors["weights"], tensors["bias"], n_texture)
    model.texture_ = texture
    model.displacement_ = disp
    model.photometric_mean_ = model.photometric_std_ = None
    if model.photometric:
        model.photometric_mean_, model.photometric_std_, model.photometric_max_gain = _photometric_values(
            path, meta
        )
    return model
