"""What the web demo does, without the web: photo synthesis and live frames (the models: :mod:`.catalog`).

Nothing here knows Gradio; every failure a user can act on is an :class:`~mr_core.errors.MRError`
with a one-sentence message (``demo.ui`` turns it into a ``gr.Error``).  Objects shared between
requests (the model cache, the face detector) are never mutated per request, so concurrent users
do not see each other's settings.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mr_core.core.backend import available_backends, describe_backend
from mr_core.errors import FaceError, InvalidParameterError
from mr_core.face import FacePipeline
from mr_core.face.expressions import already_showing_note
from mr_core.imageio import LoadedImage, read_image
from mr_core.synthesis import MAX_INTENSITY, synthesize

from .catalog import ModelCatalog

__all__ = [
    "MAX_INTENSITY",
    "MAX_PIXELS",
    "PhotoResult",
    "backend_choices",
    "live_frame",
    "load_photo",
    "synthesize_photo",
]

log = logging.getLogger("demo")

#: Largest photo the demo accepts (width x height): 50 megapixels covers every phone camera's
#: normal output while keeping a request's memory bounded on a small server.
MAX_PIXELS = 50_000_000

#: Side (pixels) of the before/after crops shown to the user (the model works at its own size).
CROP_DISPLAY = 256

def backend_choices() -> list[tuple[str, str]]:
    """(description, name) of the backends that really run here, e.g. ("CPU (NumPy 2.4, x86_64)", "numpy")."""
    return [(describe_backend(name), name) for name in available_backends()]


def as_rgb(image) -> tuple[np.ndarray, np.ndarray | None]:
    """An RGB uint8 array (and alpha or None) from a gray, RGB or RGBA array of any numeric type."""
    arr = np.asarray(image)
    if arr.dtype.kind not in "uif" or arr.ndim not in (2, 3) or arr.size == 0:
        raise InvalidParameterError(f"expected an image array, got {arr.dtype} {arr.shape}")
    if arr.dtype != np.uint8:
        if arr.dtype.kind == "f" and np.nanmax(arr) <= 1.0:
            arr = arr * 255.0
        arr = np.clip(np.nan_to_num(arr), 0, 255).round().astype(np.uint8)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    channels = arr.shape[2]
    if channels == 1:
        return np.repeat(arr, 3, axis=2), None
    if channels == 2:  # gray + alpha
        return np.repeat(arr[:, :, :1], 3, axis=2), np.ascontiguousarray(arr[:, :, 1])
    if channels == 3:
        return np.ascontiguousarray(arr), None
    if channels == 4:
        return np.ascontiguousarray(arr[:, :, :3]), np.ascontiguousarray(arr[:, :, 3])
    raise InvalidParameterError(f"expected 1 to 4 colour channels, got {channels}")


def load_photo(source, name: str | None = None) -> LoadedImage:
    """Read a photo given as a path, bytes or an array; refuses non-images and huge images."""
    if source is None:
        raise InvalidParameterError("no photo was given: upload one or take one with the webcam first")
    if isinstance(source, np.ndarray):
        rgb, alpha = as_rgb(source)
        if rgb.shape[0] * rgb.shape[1] > MAX_PIXELS:
            raise InvalidParameterError(
                f"{name or 'the photo'}: image is too large ({rgb.shape[1]}x{rgb.shape[0]} pixels, "
                f"limit {MAX_PIXELS})"
            )
        return LoadedImage(rgb=rgb, alpha=alpha, name=name or "the photo")
    if isinstance(source, (str, os.PathLike)) and name is None:
        name = Path(source).name
    return read_image(source, name=name, max_pixels=MAX_PIXELS)


@dataclass
class PhotoResult:
    """What the photo tab shows."""

    image: np.ndarray  # RGB or RGBA uint8, the input's size
    crops: tuple[np.ndarray, np.ndarray] | None  # largest face's region of the photo: before / after
    face_crops: list[tuple[np.ndarray, np.ndarray]]  # every changed face's, the largest first
    status: str
    seconds: float


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def face_before_after(before: np.ndarray, after: np.ndarray, region) -> tuple[np.ndarray, np.ndarray]:
    """The face's region of the photo before and after, at the photo's own resolution (a region
    smaller than :data:`CROP_DISPLAY` is enlarged to it so that a small face can be seen)."""
    x0, y0, x1, y1 = region
    pair = before[y0:y1, x0:x1], after[y0:y1, x0:x1, :3]
    return tuple(_display_crop(np.ascontiguousarray(p)) for p in pair)


def _display_crop(crop: np.ndarray) -> np.ndarray:
    h, w = crop.shape[:2]
    scale = CROP_DISPLAY / max(h, w)
    if scale <= 1:
        return crop
    return cv2.resize(crop, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)


def synthesize_photo(
    catalog: ModelCatalog,
    photo,
    expression,
    intensity=1.0,
    backend: str = "numpy",
    *,
    pipeline: FacePipeline | None = None,
) -> PhotoResult:
    """Give every face in ``photo`` (path, bytes or array) the expression of model ``expression``."""
    entry = catalog.entry(expression)
    model = catalog.model(entry.name, backend)
    loaded = photo if isinstance(photo, LoadedImage) else load_photo(photo)
    start = time.perf_counter()
    res = synthesize(loaded, model, intensity=intensity, pipeline=pipeline)
    seconds = time.perf_counter() - start
    image = res.image if res.alpha is None else np.dstack([res.image, res.alpha])
    faces = sorted(res.faces, key=lambda f: -(f.region[2] - f.region[0]) * (f.region[3] - f.region[1]))
    face_crops = [face_before_after(loaded.rgb, res.image, face.region) for face in faces]
    found = len(res.faces) + len(res.skipped)
    changed = len(res.faces)
    if changed == found:
        what = f"{_plural(found, 'face')} found and changed to {entry.target}"
    else:
        what = f"{_plural(found, 'face')} found, {changed} changed to {entry.target} ({found - changed} too small)"
    status = (
        f"{what} by '{entry.name}' ({entry.method_label}) at intensity {float(intensity):g} in {seconds * 1000:.0f} ms "
        f"on {describe_backend(backend)}; {loaded.rgb.shape[1]}×{loaded.rgb.shape[0]} photo."
    )
    marker = pipeline.landmarker(pose=True) if pipeline is not None else None  # the one with blendshapes
    note = already_showing_note(
        entry.name, entry.source, entry.target, [face.crop_in for face in res.faces], marker
    )
    if note:
        status += f" Note: {note}."
    return PhotoResult(
        image=image,
        crops=face_crops[0] if face_crops else None,
        face_crops=face_crops,
        status=status,
        seconds=seconds,
    )


def live_frame(
    catalog: ModelCatalog,
    frame,
    expression,
    intensity=1.0,
    backend: str = "numpy",
    *,
    pipeline: FacePipeline | None = None,
) -> np.ndarray | None:
    """One webcam frame through the model (largest face only); a frame without a face comes back as is."""
    if frame is None:
        return None
    rgb, _ = as_rgb(frame)
    if rgb.shape[0] * rgb.shape[1] > MAX_PIXELS:  # the Photo tab's limit: one for every way a photo arrives
        raise InvalidParameterError(
            f"the frame is too large ({rgb.shape[1]}x{rgb.shape[0]} pixels, limit {MAX_PIXELS})"
        )
    if expression not in catalog.entries:
        return rgb
    model = catalog.model(expression, backend)
    try:
        return synthesize(
            rgb, model, intensity=intensity, largest_only=True, pipeline=pipeline, name="the frame"
        ).image
    except FaceError:
        return rgb
