"""The face editor's requests: a reference photo's expression, and an editor built from what was asked.

:func:`reference_scores` measures the blendshape scores of a photo's largest face (aligned as the
pipeline aligns faces); :func:`make_editor` turns a preset, ``KEY=VALUE`` targets and a reference into a
:class:`~mr_core.methods.face_editor.FaceEditor`, on top of a learned model when one is given (whose motion
comes first and whose masked regression fills an opened mouth), else with the shipped ``smile``'s mouth.
"""

from __future__ import annotations

import os

from ..errors import FaceError, InvalidParameterError
from ..face import DEFAULT_TEMPLATE, align_photo
from ..face.landmarks import shared_landmarker
from ..methods import load_model, method_of
from ..methods.face_editor import PARTS, PRESETS, FaceEditor, parse_targets

__all__ = ["make_editor", "reference_scores"]

#: The crop size a reference face is measured at (the shipped models').
REFERENCE_SIZE = (256, 256)


def reference_scores(image, detector=None, *, name: str | None = None) -> dict[str, float]:
    """The 52 blendshape scores of the largest face of a photo (array, LoadedImage or path)."""
    if name is None:
        name = str(image) if isinstance(image, str | os.PathLike) else getattr(image, "name", "the reference photo")
    label = name
    crop = align_photo(image, REFERENCE_SIZE, detector=detector, template=DEFAULT_TEMPLATE, name=label)
    found = shared_landmarker(blendshapes=True).analyze(crop)
    if found is None or not found.blendshapes:
        raise FaceError(f"{label}: the reference face's expression could not be measured (no clear face)")
    return found.blendshapes


def _shipped_smile():
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
        targets=targets, preset=preset, reference=reference, parts=parts, base=base, mouth_model=mouth, refine=refine
    )
