"""Whether faces already show an expression, from the FaceLandmarker's blendshape scores.

A model that makes a face smile expects a face that does not smile yet, and a model that makes it
neutral one that smiles; applied to a face that already shows its target the edit changes little or
overshoots.  :func:`already_showing` counts such faces, with thresholds measured on the London set's 90
pairs: 83 % of the neutral photos and 9 % of the smiling ones score below :data:`LOOKS_NEUTRAL`; 62 % of
the smiling photos and 1 of the 90 neutral ones above :data:`LOOKS_SMILING`.
"""

from __future__ import annotations

from .landmarks import Landmarker, expression_score, shared_landmarker

__all__ = ["LOOKS_NEUTRAL", "LOOKS_SMILING", "SCORED", "already_showing", "already_showing_note"]

#: Smile score (mean of the mouthSmile blendshapes on the aligned face) below which a face looks neutral.
LOOKS_NEUTRAL = 0.05
#: Smile score above which a face already smiles.
LOOKS_SMILING = 0.5
#: The expressions the blendshapes can judge, with how a sentence says a face shows it (one, many).
SCORED: dict[str, tuple[str, str]] = {
    "neutral": ("looks neutral", "look neutral"),
    "smiling": ("smiles", "smile"),
    "smile": ("smiles", "smile"),
}


def already_showing(target: str, crops, landmarker: Landmarker | None = None) -> int:
    """How many of the aligned face ``crops`` (RGB uint8) already show ``target`` (0 for an expression
    the blendshapes cannot judge, e.g. a user's "surprised")."""
    target = str(target).lower()
    if target not in SCORED or not crops:
        return 0
    marker = landmarker if landmarker is not None else shared_landmarker(blendshapes=True)
    there = 0
    for crop in crops:
        face = marker.analyze(crop)
        if face is None or not face.blendshapes:
            continue
        smile = expression_score(face.blendshapes, "smile")
        there += smile < LOOKS_NEUTRAL if target == "neutral" else smile > LOOKS_SMILING
    return there


def already_showing_note(
    model_name: str, source: str, target: str, crops, landmarker: Landmarker | None = None
) -> str | None:
    """A sentence when faces already show the ``target`` of a ``source`` → ``target`` model called
    ``model_name``, e.g. "this face already smiles; the 'smile' model expects a neutral face"; ``None``
    otherwise, or when either expression is not one the blendshapes can judge."""
    if str(source).lower() not in SCORED:
        return None
    there = already_showing(target, crops, landmarker)
    if not there:
        return None
    who = "this face" if len(crops) == 1 else f"{there} of the {len(crops)} faces"
    verb = SCORED[str(target).lower()][0 if there == 1 else 1]
    return f"{who} already {verb}; the '{model_name}' model expects a {source} face"
