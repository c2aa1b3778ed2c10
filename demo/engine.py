"""What the web demo does, without the web: model catalogue, photo synthesis, live frames.

Nothing here knows Gradio; every failure a user can act on is an :class:`~mr_core.errors.MRError`
with a one-sentence message (``demo.ui`` turns it into a ``gr.Error``).  Objects shared between
requests (the model cache, the face detector) are never mutated per request, so concurrent users
do not see each other's settings.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from mr_core.core.backend import available_backends, describe_backend
from mr_core.core.modelfile import MODELS_DIR, shipped_models
from mr_core.core.regression import MaskedRegression
from mr_core.errors import BackendError, FaceError, InvalidParameterError, ModelFileError
from mr_core.face import FacePipeline
from mr_core.face.landmarks import expression_score, shared_landmarker
from mr_core.imageio import LoadedImage, read_image
from mr_core.methods import get_method, load_model, read_metadata
from mr_core.synthesis import MAX_INTENSITY, synthesize

__all__ = [
    "MAX_INTENSITY",
    "MAX_PIXELS",
    "ModelCatalog",
    "ModelEntry",
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

#: Smile score (the mean of the FaceLandmarker's mouthSmile blendshapes on the aligned face) below which
#: a face already looks neutral, and above which it already smiles.  On the London set's 90 pairs: 83%
#: of the neutral photos and 9% of the smiling ones score below 0.05; 62% of the smiling photos and 1
#: of the 90 neutral ones above 0.5.
LOOKS_NEUTRAL = 0.05
LOOKS_SMILING = 0.5
#: How the status line says that a face already shows an expression (the names models use).
_ALREADY = {
    "neutral": ("looks neutral", "look neutral"),
    "smiling": ("smiles", "smile"),
    "smile": ("smiles", "smile"),
}


def already_there(entry: ModelEntry, crops) -> str | None:
    """A sentence when the faces (their aligned crops, uint8) already show the expression ``entry``
    makes, e.g. the ``neutral`` model on a face that does not smile; ``None`` otherwise, or when the
    model's expressions are not ones the blendshapes can score (a user's "surprised")."""
    target, source = entry.target.lower(), entry.source.lower()
    if target not in _ALREADY or source not in _ALREADY or not crops:
        return None
    there = 0
    for crop in crops:
        face = shared_landmarker(blendshapes=True).analyze(crop)
        if face is None or not face.blendshapes:
            continue
        smile = expression_score(face.blendshapes, "smile")
        there += smile < LOOKS_NEUTRAL if target == "neutral" else smile > LOOKS_SMILING
    if not there:
        return None
    who = "this face" if len(crops) == 1 else f"{there} of the {len(crops)} faces"
    verb = _ALREADY[target][0 if there == 1 else 1]
    return f"Note: {who} already {verb}; the '{entry.name}' model expects a {source} face."


@dataclass(frozen=True)
class ModelEntry:
    """A model file found in the models folder and what its metadata says."""

    name: str
    path: Path
    source: str
    target: str
    n_pairs: int
    training_set: str
    metadata: dict

    @classmethod
    def from_metadata(cls, name: str, path: Path, meta: dict) -> ModelEntry:
        """The entry of the model file ``path`` from its validated metadata."""
        return cls(
            name=name,
            path=path,
            source=meta["source"],
            target=meta["target"],
            n_pairs=int(meta["n_pairs"]),
            training_set=meta["training_set"],
            metadata=meta,
        )

    @property
    def label(self) -> str:
        """What the expression menu shows, e.g. ``smile — for neutral faces: neutral → smiling, 90 pairs``
        (the expression the model expects as input comes first: applied to another, it can go wrong)."""
        pairs = f"{self.n_pairs} pair" + ("" if self.n_pairs == 1 else "s")
        return f"{self.name} — for {self.source} faces: {self.source} → {self.target}, {pairs}, {self.method_label}"

    @property
    def method(self):
        """The class of the model's method (its file's metadata was validated, so it is installed)."""
        return get_method(self.metadata.get("method", "mr"))

    @property
    def method_label(self) -> str:
        return self.method.label

    def describe(self) -> str:
        """One paragraph of Markdown about the model (for the "how it works" panel)."""
        m = self.metadata
        rf = int(m["receptive_field"])
        chans = "RGB" if m["channels"] == "3" else "grayscale"
        lines = [
            f"**{self.name}**: {self.source} → {self.target}, learned from {self.n_pairs} photo pairs"
            + (f" ({self.training_set})" if self.training_set else "")
            + ".",
            self.method.explain(m),
            f"Receptive field {rf}×{rf}, ridge λ = {float(m['lam']):g}, "
            f"{m['image_width']}×{m['image_height']} {chans} face crops"
            + (f" aligned with template `{m['template']}`" if m.get("template") else "")
            + f", {m['dtype']}, file `{self.path.name}` ({self.path.stat().st_size / 1e6:.1f} MB).",
        ]
        return "\n\n".join(lines)


class ModelCatalog:
    """The expression models of a folder (default: the repository's ``models/``).

    The folder is scanned once; each model is loaded on first use and kept (one copy per
    backend), so requests share read-only models.  Files that cannot be read are listed in
    :attr:`problems` instead of stopping the demo.
    """

    def __init__(self, models_dir: str | os.PathLike | None = None) -> None:
        self.models_dir = Path(models_dir) if models_dir is not None else MODELS_DIR
        self.entries: dict[str, ModelEntry] = {}
        self.problems: list[str] = []
        for name, path in shipped_models(self.models_dir).items():
            try:
                meta = read_metadata(path)
            except ModelFileError as exc:
                log.warning("skipping model file: %s", exc)
                self.problems.append(str(exc))
                continue
            self.entries[name] = ModelEntry.from_metadata(name, path, meta)
        self._models: dict[tuple[str, str], MaskedRegression] = {}
        self._lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        return list(self.entries)

    def default(self) -> str | None:
        """The model offered first: one that starts from a neutral face (what most photos show),
        a method with a shape part (it moves the face's own pixels) before the paper's MR."""
        ranked = sorted(
            self.entries.values(),
            key=lambda e: (e.source != "neutral", not e.method.trains_on_landmarks, e.name),
        )
        return ranked[0].name if ranked else None

    def choices(self) -> list[tuple[str, str]]:
        """(label, short name) pairs for a menu."""
        return [(e.label, e.name) for e in self.entries.values()]

    def entry(self, name) -> ModelEntry:
        """The entry called ``name``; a :class:`ModelFileError` listing the valid names otherwise."""
        if isinstance(name, str) and name in self.entries:
            return self.entries[name]
        if not self.entries:
            raise ModelFileError(
                f"no expression model is installed: {self.models_dir} has no *.safetensors model files"
            )
        raise ModelFileError(f"unknown expression {shown_name(name)}; available: {', '.join(self.entries)}")

    def model(self, name, backend: str = "numpy") -> MaskedRegression:
        """The loaded model ``name`` on ``backend`` (loaded once, then shared)."""
        entry = self.entry(name)
        check_backend(backend)
        key = (str(entry.path), backend)
        with self._lock:
            model = self._models.get(key)
            if model is None:
                model = self._models[key] = load_model(entry.path, backend=backend)
        return model


def shown_name(name) -> str:
    """A name a request sent, quoted and cut to a readable length (it may be megabytes long)."""
    text = repr(name)
    return text if len(text) <= 60 else text[:59] + "…"


def check_backend(backend) -> str:
    """``backend`` when it runs on this machine; a :class:`BackendError` naming the choices otherwise."""
    names = available_backends()
    if backend not in names:
        raise BackendError(f"backend {backend!r} is not available here; choose one of {', '.join(names)}")
    return backend


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
    crops = None
    if res.faces:
        crops = face_before_after(loaded.rgb, res.image, res.faces[0].region)
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
    note = already_there(entry, [face.crop_in for face in res.faces])
    if note:
        status += f" {note}"
    return PhotoResult(image=image, crops=crops, status=status, seconds=seconds)


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
