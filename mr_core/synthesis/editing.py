"""The face editor's requests: a reference photo's expression, and an editor built from what was asked.

:func:`reference_scores` measures the blendshape scores of a photo's largest face (aligned as the
pipeline aligns faces); :func:`make_editor` turns a preset, ``KEY=VALUE`` targets and a reference into a
:class:`~mr_core.methods.face_editor.FaceEditor`, on top of a learned model when one is given (whose motion
comes first and whose masked regression fills an opened mouth), else with the shipped ``smile``'s mouth.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cache

import numpy as np

from ..errors import FaceError, InvalidParameterError
from ..face import align_photo
from ..face.pipeline import FacePipeline, own_pipeline
from ..face.rig import blendshape_keys
from ..methods import load_model, method_of
from ..methods.face_editor import PARTS, PRESETS, FaceEditor, parse_targets

__all__ = [
    "editor_notes",
    "PreparedPhoto",
    "edit_prepared",
    "make_editor",
    "prepare_photo",
    "reference_scores",
]

#: The crop size a reference face is measured at (the shipped models').
REFERENCE_SIZE = (256, 256)


def reference_scores(
    image, pipeline: FacePipeline | None = None, *, name: str | None = None
) -> dict[str, float]:
    """The 52 blendshape scores of the largest face of a photo (array, LoadedImage or path), found and
    measured by ``pipeline`` (by default one made and closed for this photo)."""
    if name is None:
        name = (
            str(image)
            if isinstance(image, str | os.PathLike)
            else getattr(image, "name", "the reference photo")
        )
    label = name
    with own_pipeline(pipeline) as pipe:
        crop = align_photo(
            image,
            REFERENCE_SIZE,
            detector=pipe.detector,
            template=pipe.template,
            min_eye_distance=pipe.min_eye_distance,
            name=label,
        )
        found = pipe.landmarker(pose=True).analyze(crop)
    if found is None or not found.blendshapes:
        raise FaceError(f"{label}: the reference face's expression could not be measured (no clear face)")
    return found.blendshapes


@cache
def _shipped_smile():
    """The shipped ``smile`` (read once per process; models are read-only once loaded)."""
    from ..core.modelfile import resolve_model

    return load_model(resolve_model(expression="smile"))


def make_editor(
    model=None,
    *,
    preset: str | None = None,
    targets: str | dict | None = None,
    reference: dict[str, float] | None = None,
    parts: str = "all",
    refine: int = 1,
) -> FaceEditor | None:
    """A :class:`FaceEditor` for what was asked, or ``None`` when nothing was (then ``model`` alone edits).

    ``model``: a learned model applied first (mesh + MR: the rig's motion is added to its own); ``targets``:
    a ``"KEY=VALUE,..."`` string or a dict.  Unknown presets, parts and keys raise naming the valid ones.
    """
    if preset is not None:
        preset = str(preset).strip().lower()
        if preset not in PRESETS:
            shown = preset if len(preset) <= 40 else preset[:40] + "..."
            raise InvalidParameterError(f"unknown preset {shown!r}; valid: {', '.join(PRESETS)}")
    if parts not in PARTS:
        raise InvalidParameterError(f"parts must be one of {', '.join(PARTS)}, got {str(parts)[:40]!r}")
    if isinstance(targets, str):
        targets = parse_targets(targets) or None
    if not (preset or targets or reference):
        return None
    base = mouth = None
    if model is not None:
        if not hasattr(model, "predict_landmarks"):
            raise InvalidParameterError(
                f"the face editor combines only with mesh + MR models (like the shipped smile), not with a "
                f"{method_of(model).label} model"
            )
        base = mouth = model
    if mouth is None or not hasattr(mouth, "mouth_content"):
        mouth = _shipped_smile()
    return FaceEditor(
        targets=targets,
        preset=preset,
        reference=reference,
        parts=parts,
        base=base,
        mouth_model=mouth,
        refine=refine,
    )


@dataclass
class PreparedPhoto:
    """A photo's faces found, aligned and analysed once, to be edited again and again (e.g. while a
    slider moves): ``analyses`` hold each face's landmarks, 3-D points and blendshape scores."""

    rgb: np.ndarray
    alpha: np.ndarray | None
    name: str
    aligned: list = field(default_factory=list)
    analyses: list = field(default_factory=list)
    boxes: list = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def scores(self) -> dict[str, float]:
        """The largest face's blendshape scores (what the face shows now)."""
        return dict(self.analyses[0].blendshapes) if self.analyses else {}


def prepare_photo(
    image,
    pipeline: FacePipeline | None = None,
    *,
    size: tuple[int, int] = REFERENCE_SIZE,
    largest_only: bool = False,
    name: str | None = None,
) -> PreparedPhoto:
    """Find, align and analyse every face of a photo (RGB uint8 array or LoadedImage) for the editor,
    with ``pipeline`` (by default one made and closed for this photo), as :func:`~.photo.synthesize` does.

    Raises :class:`FaceError` naming the photo when no face can be edited; faces too small or without
    clear landmarks are listed in ``skipped``.
    """
    rgb = np.asarray(getattr(image, "rgb", image))
    label = name or getattr(image, "name", None) or "the photo"
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InvalidParameterError(
            f"{label}: expected an RGB uint8 image (H, W, 3), got {rgb.dtype} {rgb.shape}"
        )
    with own_pipeline(pipeline) as pipe:
        usable, skipped = pipe.select(rgb, label, largest_only)
        aligned = pipe.align(rgb, usable, size)
        found = pipe.landmarks(usable, aligned, label, pose=True)
    if not found.kept:
        raise FaceError(f"{label}: no face clear and large enough to edit; use a sharp, front-facing face")
    return PreparedPhoto(
        rgb=rgb,
        alpha=getattr(image, "alpha", None),
        name=label,
        aligned=[aligned[i] for i in found.kept],
        analyses=found.analyses,
        boxes=[usable[i].box for i in found.kept],
        skipped=skipped + found.skipped,
    )


def edit_prepared(prepared: PreparedPhoto, editor, intensity: float = 1.0):
    """The prepared photo with every face edited by ``editor`` (a :class:`SynthesisResult`)."""
    from .photo import FaceResult, SynthesisResult, _check_intensity, _edit_faces

    a = _check_intensity(intensity)
    out = prepared.rgb.copy()
    crops_in = np.stack([al.crop for al in prepared.aligned])
    if a == 0.0:
        crops_out = crops_in.copy()
    else:
        marks = [an.landmarks for an in prepared.analyses]
        crops_out = _edit_faces(
            out, editor, a, prepared.aligned, marks, crops_in=crops_in, poses=prepared.analyses
        )
    faces = [
        FaceResult(box=box, crop_in=ci, crop_out=co, region=al.region)
        for box, al, ci, co in zip(prepared.boxes, prepared.aligned, crops_in, crops_out, strict=True)
    ]
    return SynthesisResult(
        image=out, alpha=prepared.alpha, faces=faces, skipped=list(prepared.skipped), name=prepared.name
    )


def editor_notes(editor) -> list[str]:
    """Sentences about what an editor asks that the rig cannot give: keys it does not render, targets
    past the range it reaches on most faces (the calibration's average face), keys the landmarker does
    not measure (shown with a fixed weight)."""
    from ..face.rig import load_rig

    if editor is None:
        return []
    rig = load_rig()
    asked: dict[str, float] = {}
    for name, value in (
        editor.targets or {}
    ).items():  # both sides asked alike: said once, by the pair's name
        base = name.removesuffix("Left").removesuffix("Right")
        other = base + ("Right" if name.endswith("Left") else "Left")
        if base != name and (editor.targets or {}).get(other) == value:
            asked[base] = value
        else:
            asked[name] = value
    notes, past, fixed = [], [], []
    for name, value in asked.items():
        keys = blendshape_keys(name)
        if not all(rig.supported(k) for k in keys):
            notes.append(
                f"{name} is not rendered by the rig (gaze and the tongue are not skin it can move); ignored"
            )
            continue
        if not all(rig.measurable(k) for k in keys):
            fixed.append(name)
            continue
        reach = min(rig.reachable(k) for k in keys)
        if float(value) > reach + 0.05:
            past.append(f"{name}={float(value):g} (about {reach:.2f})")
    if past:
        notes.append(
            "past what the rig reaches on most faces, so the edit stops short: "
            + ", ".join(past)
            + " (beyond, the skin would stretch or fold)"
        )
    if fixed:
        notes.append(
            ", ".join(fixed)
            + ": shown with a fixed strength; the landmarker hardly measures "
            + ("it" if len(fixed) == 1 else "them")
            + ", so it cannot be matched to the value asked"
        )
    return notes
