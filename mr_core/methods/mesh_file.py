"""The mesh + MR method's model files: the fields beyond the appearance model's, checked when read."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import ModelFileError
from ..face import mesh
from .mesh_mouth import BANK_TENSORS, KEY_POINTS, MOUTH_TENSORS

#: Tensors of its model files beyond ``weights`` and ``bias`` (those of the appearance model).
EXTRA_TENSORS = ("shape_mean", "shape_delta", "shape_weights", "reference_shape")


def extra_tensors(meta: dict) -> tuple[str, ...]:
    """The tensors beyond ``weights`` and ``bias`` of a mesh-mr model file with metadata ``meta``."""
    bank = BANK_TENSORS if meta.get("mouth_bank") == "true" else ()
    return EXTRA_TENSORS + (MOUTH_TENSORS if meta.get("mouth_model") == "true" else ()) + bank


def metadata_of(model) -> dict[str, str]:
    """The method's fields of a fitted model's file metadata."""
    return {
        "format_version": "4" if getattr(model, "shape_frame_", "crop") == "similarity" else "3",
        "shape_frame": getattr(model, "shape_frame_", "crop"),
        "shape_lam": repr(float(model.shape_lam_)),
        "open_threshold": repr(float(model.open_threshold)),
        "open_only": "true" if model.open_only_ else "false",
        "mirror": "true" if model.mirror else "false",
        "motion_gain": repr(float(model.motion_gain)),
        "mouth_gain": repr(float(getattr(model, "mouth_gain", 1.0))),
        "lid_gain": repr(float(getattr(model, "lid_gain", 1.0))),
        "lid_sink": repr(float(getattr(model, "lid_sink", 0.0))),
        "shading_gain": repr(float(getattr(model, "shading_gain", 1.0))),
        "n_shape_pairs": str(int(model.n_shape_pairs_)),
        "mouth_model": "true" if model._mouth_model()[0] is not None else "false",
        "mouth_bank": "true" if getattr(model, "mouth_bank_", None) is not None else "false",
    }


def tensors_of(model) -> dict[str, np.ndarray]:
    """The tensors of a fitted model's file beyond ``weights`` and ``bias``."""
    out = {
        "shape_mean": np.ascontiguousarray(model.shape_mean_, dtype=np.float32),
        "shape_delta": np.ascontiguousarray(model.shape_delta_, dtype=np.float32),
        "shape_weights": np.ascontiguousarray(model.shape_weights_, dtype=np.float32),
        "reference_shape": np.ascontiguousarray(model.reference_shape_, dtype=np.float32),
    }
    colour, detail = model._mouth_model()
    if colour is not None:
        out["mouth_colour"] = np.ascontiguousarray(colour, dtype=np.float32)
        out["mouth_detail"] = np.ascontiguousarray(detail, dtype=np.float32)
    if getattr(model, "mouth_bank_", None) is not None:
        out["mouth_bank"] = np.ascontiguousarray(model.mouth_bank_, dtype=np.float32)
        out["mouth_keys"] = np.ascontiguousarray(model.mouth_keys_, dtype=np.float32)
        out["mouth_white"] = np.ascontiguousarray(model.mouth_white_, dtype=np.float32)
    return out


def validate_metadata(path: Path, meta: dict) -> None:
    """Check this method's fields of a model file's metadata (:class:`ModelFileError`)."""
    for key in ("shape_lam", "open_threshold", "open_only", "mirror", "n_shape_pairs"):
        if key not in meta:
            raise ModelFileError(f"{path}: mesh-mr model metadata lacks {key}")
    try:
        lam, thr, n = float(meta["shape_lam"]), float(meta["open_threshold"]), int(meta["n_shape_pairs"])
    except (TypeError, ValueError):
        raise ModelFileError(
            f"{path}: mesh-mr metadata shape_lam, open_threshold and n_shape_pairs must be numbers"
        ) from None
    if not (math.isfinite(lam) and lam > 0 and math.isfinite(thr) and thr >= 0 and n >= 2):
        raise ModelFileError(
            f"{path}: mesh-mr metadata out of range (shape_lam > 0, open_threshold >= 0, n_shape_pairs >= 2)"
        )
    try:
        gain = float(meta.get("motion_gain", "1.0"))
    except ValueError:
        raise ModelFileError(f"{path}: mesh-mr metadata motion_gain must be a number") from None
    try:
        mouth = float(meta.get("mouth_gain", "1.0"))
    except ValueError:
        raise ModelFileError(f"{path}: mesh-mr metadata mouth_gain must be a number") from None
    try:
        lid = float(meta.get("lid_gain", "1.0"))
    except ValueError:
        raise ModelFileError(f"{path}: mesh-mr metadata lid_gain must be a number") from None
    if not all(math.isfinite(g) and 0 < g <= 10 for g in (gain, mouth)) or not (
        math.isfinite(lid) and 0 <= lid <= 10
    ):
        raise ModelFileError(
            f"{path}: mesh-mr metadata motion_gain and mouth_gain must be in (0, 10], lid_gain in [0, 10]"
        )
    try:
        sink, shade = float(meta.get("lid_sink", "0.0")), float(meta.get("shading_gain", "1.0"))
    except ValueError:
        raise ModelFileError(f"{path}: mesh-mr metadata lid_sink and shading_gain must be numbers") from None
    if not (math.isfinite(sink) and 0 <= sink <= 1 and math.isfinite(shade) and 0 <= shade <= 10):
        raise ModelFileError(f"{path}: mesh-mr metadata lid_sink must be in [0, 1], shading_gain in [0, 10]")
    if meta.get("shape_frame", "crop") not in ("crop", "similarity"):
        raise ModelFileError(f"{path}: metadata shape_frame must be crop or similarity")
    if meta.get("mouth_bank", "false") not in ("true", "false"):
        raise ModelFileError(f"{path}: metadata mouth_bank must be true or false")
    if meta.get("mouth_model", "false") not in ("true", "false"):
        raise ModelFileError(f"{path}: metadata mouth_model must be true or false")
    for key in ("open_only", "mirror"):
        if meta[key] not in ("true", "false"):
            raise ModelFileError(f"{path}: metadata {key} must be true or false")


def from_file(cls, path: Path, meta: dict, tensors: dict, backend: str = "numpy"):
    """The fitted model (of class ``cls``) of a validated file's metadata and tensors."""
    h, w = int(meta["image_height"]), int(meta["image_width"])
    if meta["scaling"] != "unit" or int(meta["channels"]) != 3 or not meta["template"]:
        raise ModelFileError(f"{path}: a mesh-mr model must be RGB, /255-scaled and name its template")
    k2 = mesh.N_POINTS * 2
    want = {
        "shape_mean": (k2,),
        "shape_delta": (k2,),
        "shape_weights": (k2, k2),
        "reference_shape": (mesh.N_POINTS, 2),
    }
    for name, shape in want.items():
        t = tensors[name]
        if t.shape != shape or t.dtype != np.float32 or not np.isfinite(t).all():
            raise ModelFileError(f"{path}: the {name} tensor must be finite float32 of shape {shape}")
    gain = float(meta.get("motion_gain", "1.0"))
    model = cls(
        receptive_field=int(meta["receptive_field"]),
        lam=float(meta["lam"]),
        backend=backend,
        dtype=meta["dtype"],
        shape_lam=float(meta["shape_lam"]),
        open_threshold=float(meta["open_threshold"]),
        mirror=meta["mirror"] == "true",
        source=meta["source"],
        target=meta["target"],
        template=meta["template"],
        training_set=meta["training_set"],
    )
    model._size = (h, w)
    model.shape_lam_ = float(meta["shape_lam"])
    model.open_only_ = meta["open_only"] == "true"
    model.shape_frame_ = meta.get("shape_frame", "crop")
    model.motion_gain = gain
    model.mouth_gain = float(meta.get("mouth_gain", "1.0"))
    model.lid_gain = float(meta.get("lid_gain", "1.0"))
    model.lid_sink = float(meta.get("lid_sink", "0.0"))
    model.shading_gain = float(meta.get("shading_gain", "1.0"))
    model.n_shape_pairs_ = int(meta["n_shape_pairs"])
    model.shape_mean_, model.shape_delta_ = tensors["shape_mean"], tensors["shape_delta"]
    model.shape_weights_, model.reference_shape_ = tensors["shape_weights"], tensors["reference_shape"]
    model._reference_raster = model._facing = None
    model._mouth_masks = None
    model.mouth_colour_ = model.mouth_detail_ = None
    if meta.get("mouth_model") == "true":
        colour, detail = tensors["mouth_colour"], tensors["mouth_detail"]
        for name, t, shape in (("mouth_colour", colour, (3,)), ("mouth_detail", detail, (h, w, 3))):
            if t.shape != shape or t.dtype != np.float32 or not np.isfinite(t).all():
                raise ModelFileError(f"{path}: the {name} tensor must be finite float32 of shape {shape}")
        model.mouth_colour_, model.mouth_detail_ = colour, detail
    model.mouth_bank_ = model.mouth_keys_ = model.mouth_white_ = None
    if meta.get("mouth_bank") == "true":
        if meta.get("mouth_model") != "true":
            raise ModelFileError(f"{path}: a mouth bank needs the mouth model (mouth_model: true)")
        bank, keys, white = tensors["mouth_bank"], tensors["mouth_keys"], tensors["mouth_white"]
        _, _, (y0, y1, x0, x1) = model._mouth()
        m = bank.shape[0] if bank.ndim == 4 else -1
        want = {
            "mouth_bank": (bank, (m, y1 - y0, x1 - x0, 3)),
            "mouth_keys": (keys, (m, 2 * len(KEY_POINTS))),
            "mouth_white": (white, (m, 3)),
        }
        for name, (t, shape) in want.items():
            if m < 1 or t.shape != shape or t.dtype != np.float32 or not np.isfinite(t).all():
                raise ModelFileError(f"{path}: the {name} tensor must be finite float32 of shape {shape}")
        model.mouth_bank_, model.mouth_keys_, model.mouth_white_ = bank, keys, white
    texture = model._new_texture()
    texture._set_solution(tensors["weights"], tensors["bias"], int(meta["n_pairs"]))
    model.texture_ = texture
    return model
