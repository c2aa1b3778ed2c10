"""Photo-level expression synthesis: detect, align, edit, and put the edit back into the photo.

For every face in a photo (or only the largest) the aligned crop is edited by
:func:`mr_core.methods.edit_crops` at an intensity ``a`` in [0, 1.5] (plain MR:
``x + a * (MR(x) - x)``).  A model that moves pixels (shape-texture) has its motion carried over to the
photo and applied there at the photo's own resolution (:func:`mr_core.face.move_pixels`); the change
of colour is then added through the feathered face mask (:func:`mr_core.face.paste_back`).  Pixels
away from the face stay bit-identical; ``a = 0`` returns the photo unchanged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..errors import FaceError, InvalidParameterError, ModelFileError
from ..face import DEFAULT_TEMPLATE, move_pixels, paste_back
from ..face.align import _check_size
from ..face.pipeline import FacePipeline, own_pipeline
from ..methods import edit_crops, method_of
from .clock import StageClock

__all__ = ["MAX_INTENSITY", "FaceResult", "SynthesisResult", "check_model_template", "synthesize"]

#: Largest accepted intensity (1 is the model's own prediction; above extrapolates).
MAX_INTENSITY = 1.5


@dataclass
class FaceResult:
    """One face that was edited: its box in the photo, the aligned input and output crops."""

    box: tuple[float, float, float, float]
    crop_in: np.ndarray
    crop_out: np.ndarray
    score: float = 0.0
    eye_distance: float = 0.0
    #: (x0, y0, x1, y1): the face's region in the photo (the aligned crop's area), to show the edit
    #: at the photo's own resolution: ``image[y0:y1, x0:x1]``.
    region: tuple[int, int, int, int] = (0, 0, 0, 0)


@dataclass
class SynthesisResult:
    """``image``: the edited photo (uint8 H x W x 3, the input's size); ``alpha``: passed through."""

    image: np.ndarray
    alpha: np.ndarray | None
    faces: list[FaceResult] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    name: str = ""


def check_model_template(model, template: str = DEFAULT_TEMPLATE) -> None:
    """Refuse a model trained on crops aligned with another template (FaceError naming both), or on
    crops of a size the face pipeline cannot align to (ModelFileError)."""
    size = getattr(model, "image_size_", None)
    if size is not None:
        h, w = (int(v) for v in size)
        try:
            _check_size((h, w))
        except InvalidParameterError:
            raise ModelFileError(
                f"the model works on {h}x{w} crops, but faces are aligned to crops of 16 to 4096 pixels "
                "per side; train it on aligned face crops (train --align)"
            ) from None
    model_template = getattr(model, "template", None)
    if model_template is not None and model_template != template:
        raise FaceError(
            f"the model was trained on crops aligned with template {model_template!r}, but this pipeline "
            f"aligns faces with {template!r}; retrain the model with --align"
        )


def _check_intensity(intensity) -> float:
    try:
        a = float(intensity)
    except (TypeError, ValueError):
        raise InvalidParameterError(
            f"intensity must be a number in [0, {MAX_INTENSITY}], not {intensity!r}"
        ) from None
    if not 0.0 <= a <= MAX_INTENSITY:
        raise InvalidParameterError(f"intensity must be in [0, {MAX_INTENSITY}], not {intensity!r}")
    return a


def _edit_faces(
    out: np.ndarray,
    model,
    a: float,
    aligned: list,
    landmarks=None,
    *,
    crops_in=None,
    clock: StageClock | None = None,
    poses=None,
) -> np.ndarray:
    """Edit the aligned faces ``aligned`` of the photo ``out`` (uint8, written in place) at intensity
    ``a`` > 0 with their crops' ``landmarks`` (one (478, 2) array per face, for methods that need them).

    The crops are edited by :func:`~mr_core.methods.edit_crops`; pixels then move in the photo itself
    (full resolution) and the colour change is added on top.  Returns the edited crops.  ``clock``: the
    time spent is added to its ``"edit"`` (the crops) and ``"paste"`` (the photo) stages.
    """
    t0 = time.perf_counter()
    if crops_in is None:
        crops_in = np.stack([al.crop for al in aligned])
    edit = edit_crops(model, crops_in, a, landmarks=landmarks, poses=poses)
    t1 = time.perf_counter()
    texture = np.rint(np.clip(crops_in / np.float32(255.0) + edit.change, 0.0, 1.0) * 255.0).astype(np.uint8)
    for i, (al, tex) in enumerate(zip(aligned, texture, strict=True)):
        if edit.motion is not None:
            motion = edit.motion[i] if edit.motion.ndim == 4 else edit.motion
            move_pixels(out, motion, al, inplace=True)
        paste_back(out, tex, al, inplace=True)
    if clock is not None:
        clock.add("edit", t1 - t0)
        clock.since("paste", t1)
    return edit.crops


def synthesize(
    image,
    model,
    intensity: float = 1.0,
    largest_only: bool = False,
    pipeline: FacePipeline | None = None,
    *,
    name: str | None = None,
    faces: list | None = None,
    landmarks_filter=None,
) -> SynthesisResult:
    """Apply ``model`` to every face of a photo (RGB uint8 array or :class:`~mr_core.imageio.LoadedImage`).

    ``pipeline``: how faces are found, aligned and measured (:class:`~mr_core.face.FacePipeline`; a
    caller that edits many photos passes its own; by default one is made and closed for this photo).
    Faces whose eyes are less than the pipeline's ``min_eye_distance`` pixels apart are left as they
    are and listed in ``SynthesisResult.skipped``.  Raises :class:`~mr_core.errors.FaceError` when the
    photo has no face (or none large enough) and when the model's alignment template differs
    from the pipeline's; :class:`~mr_core.errors.InvalidParameterError` for an intensity outside
    [0, 1.5].  ``faces``: the photo's faces, already found (e.g. tracked and smoothed over the
    frames of a video), in place of running the detector.  ``landmarks_filter(i, points)``: for
    methods that move each face by its own landmarks, a function that returns the (478, 2) points of
    the ``i``-th usable face to use (e.g. smoothed over time), given those the landmarker found, or
    ``None`` when it found none (the filter may then return earlier ones, or ``None`` to skip the face);
    they are in the face's aligned crop's pixels.
    """
    a = _check_intensity(intensity)
    with own_pipeline(pipeline) as pipe:
        check_model_template(model, pipe.template.name)
        rgb = getattr(image, "rgb", image)
        alpha = getattr(image, "alpha", None)
        label = name or getattr(image, "name", None) or "the photo"
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise InvalidParameterError(
                f"{label}: expected an RGB uint8 image (H, W, 3), got {rgb.dtype} {rgb.shape}"
            )
        size = tuple(int(v) for v in getattr(model, "image_size_", (128, 128)))
        usable, skipped = pipe.select(rgb, label, largest_only, faces)
        aligned = pipe.align(rgb, usable, size)
        marks = poses = None
        method = method_of(model)
        if a != 0.0 and method.needs_landmarks:
            # methods that need the head's pose get the landmarker's full analysis (3-D points, scores)
            found = pipe.landmarks(
                usable, aligned, label, pose=method.needs_pose, landmarks_filter=landmarks_filter
            )
            skipped += found.skipped
            if not found.kept:
                raise FaceError(
                    f"{label}: no face clear enough to edit; use a photo with a sharp, front-facing face"
                )
            usable = [usable[i] for i in found.kept]
            aligned = [aligned[i] for i in found.kept]
            marks, poses = found.landmarks, (found.analyses if method.needs_pose else None)
        crops_in = np.stack([al.crop for al in aligned])
        out = rgb.copy()
        if a == 0.0:
            crops_out = crops_in.copy()
        else:
            crops_out = _edit_faces(out, model, a, aligned, marks, crops_in=crops_in, poses=poses)
    results = [
        FaceResult(
            box=face.box,
            crop_in=c_in,
            crop_out=c_out,
            score=face.score,
            eye_distance=face.eye_distance,
            region=al.region,
        )
        for face, al, c_in, c_out in zip(usable, aligned, crops_in, crops_out, strict=True)
    ]
    return SynthesisResult(image=out, alpha=alpha, faces=results, skipped=skipped, name=label)
