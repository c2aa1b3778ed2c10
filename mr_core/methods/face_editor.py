"""The ``"face-editor"`` method: every expression from one rig - presets, blendshape targets, a reference face.

A :class:`FaceEditor` is configured, not trained.  It asks for **target scores of MediaPipe's blendshapes**
(``jawOpen=0.5``, ``mouthSmile=0.8``; a name without Left/Right sets both sides), from

* a **preset** (:data:`PRESETS`): the basic emotions as their published FACS prototypes (Ekman and
  Friesen's EMFACS; e.g. surprise = AU1 + AU2 + AU5 + AU26), turned into blendshapes through
  ICT-FaceKit's AU table (:data:`AU_TABLE`); a preset is a whole expression, so the keys it does not
  name are asked to be at rest; ``neutral`` asks every key to be at rest;
* explicit ``targets``, on top of the preset;
* the blendshape scores of a **reference** face (``reference``, with ``parts``: all, mouth or eyes).

Targets are absolute: each face's own scores are measured first, and the rig
(:mod:`mr_core.face.rig`, calibrated in closed loop) moves it by the weight between the measured and the
asked score, so a face that already smiles is not pushed past the asked value, and one that smiles more
than asked is brought down.  The landmarks move by the posed, projected rig displacements; the face is
warped piecewise-affinely over MediaPipe's mesh extended by a pinned ring around the outline (so the chin
can drop) and by strips across the eyes (closing lids collapse the eye as closing lips collapse the mouth).
A mouth that opens gets teeth and the mouth's inside from a mesh + MR model (``mouth_model``: by default
the shipped ``smile``): masked regression in its shape-normalised frame, warped to the new mouth.
``base``: a mesh + MR model (e.g. the learned ``smile``) whose own predicted motion is applied first, so
the learned expression and the rig combine.

Intensity ``a`` scales the whole edit (0 leaves the face unchanged, 1 is what was asked, up to 1.5).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..core.params import OneOf, Satisfies
from ..errors import InvalidParameterError
from ..face.rig import BLENDSHAPES, UNSUPPORTED, blendshape_keys, load_rig
from .base import Method
from .mesh_render import EYE_LIDS, render

NAME = "face-editor"

#: FACS action units -> MediaPipe blendshapes (ICT-FaceKit Light's table of its shapes' closest AUs).
AU_TABLE: dict[int, tuple[str, ...]] = {
    1: ("browInnerUp",),
    2: ("browOuterUpLeft", "browOuterUpRight"),
    4: ("browDownLeft", "browDownRight"),
    5: ("eyeWideLeft", "eyeWideRight"),
    6: ("cheekSquintLeft", "cheekSquintRight"),
    7: ("eyeSquintLeft", "eyeSquintRight"),
    9: ("noseSneerLeft", "noseSneerRight"),
    10: ("mouthShrugUpper",),
    11: ("mouthUpperUpLeft", "mouthUpperUpRight"),
    12: ("mouthSmileLeft", "mouthSmileRight"),
    14: ("mouthDimpleLeft", "mouthDimpleRight"),
    15: ("mouthFrownLeft", "mouthFrownRight"),
    16: ("mouthLowerDownLeft", "mouthLowerDownRight"),
    17: ("mouthShrugLower",),
    18: ("mouthPucker",),
    20: ("mouthStretchLeft", "mouthStretchRight"),
    22: ("mouthFunnel",),
    24: ("mouthPressLeft", "mouthPressRight"),
    26: ("jawOpen",),
    27: ("jawOpen",),
    45: ("eyeBlinkLeft", "eyeBlinkRight"),
}

#: The basic emotions' FACS prototypes (EMFACS), AU -> intensity (0..1; FACS B ~ 0.4, C ~ 0.6, D ~ 0.8).
#: ``sad`` is AU1 + AU15 + AU17 (EMFACS's 1 + 4 + 15 + 17 without AU4, which on the rig lowers the very
#: brows AU1 raises and reads as anger).
#: ``contempt`` is one-sided (the face's own right: MediaPipe's ``...Left``); ``neutral`` rests every key.
PRESET_AUS: dict[str, dict[int | str, float]] = {
    "happy": {6: 0.6, 12: 0.8},
    "sad": {1: 0.8, 15: 0.7, 17: 0.3},
    "surprised": {1: 0.8, 2: 0.8, 5: 0.7, 26: 0.35},
    "afraid": {1: 0.8, 2: 0.5, 4: 0.4, 5: 0.8, 20: 0.6, 26: 0.25},
    "angry": {4: 0.9, 5: 0.4, 7: 0.6, 24: 0.6},
    "disgusted": {9: 0.6, 10: 0.5, 15: 0.4},
    "contempt": {"mouthSmileLeft": 0.5, "mouthDimpleLeft": 0.7},
    "neutral": {},
}
PRESETS = tuple(PRESET_AUS)
#: Presets whose mouth the learned smile (the ``mouth_model``, a mesh + MR model trained on real smiles)
#: moves in place of the rig's lip corners: a real smile's lips, teeth and cheeks, learned from pairs.
LEARNED_MOUTH = {"happy": ("mouthSmileLeft", "mouthSmileRight")}

#: ``parts`` of a reference face to copy: which blendshapes each takes.
PARTS = ("all", "mouth", "eyes")
_MOUTH_KEYS = tuple(k for k in BLENDSHAPES if k.startswith(("mouth", "jaw", "cheek")))
_EYE_KEYS = tuple(k for k in BLENDSHAPES if k.startswith(("eye", "brow")))

#: Blendshapes that move the lids (every other key leaves the eye contours where they are).
EYE_KEYS = ("eyeBlink", "eyeSquint", "eyeWide", "cheekSquint", "browDown")
_EYE_POINTS = [p for up, lo in EYE_LIDS for p in up + lo]


def preset_targets(name: str) -> dict[str, float]:
    """The blendshape targets of a preset: the prototype's AUs, every other supported key at rest."""
    key = str(name).strip().lower()
    if key not in PRESET_AUS:
        shown = key if len(key) <= 40 else key[:40] + "..."
        raise InvalidParameterError(f"unknown preset {shown!r}; valid: {', '.join(PRESETS)}")
    rig = load_rig()
    out = {k: 0.0 for k in BLENDSHAPES if rig.supported(k)}
    for au, value in PRESET_AUS[key].items():
        for k in AU_TABLE[au] if isinstance(au, int) else (au,):
            out[k] = max(out.get(k, 0.0), float(value))
    return out


def parse_targets(text: str) -> dict[str, float]:
    """``"jawOpen=0.5,mouthSmile=0.8"`` -> targets by MediaPipe name (both sides for a name without
    Left/Right); values must be numbers in [0, 1]."""
    out: dict[str, float] = {}
    for item in str(text).split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        if not sep:
            raise InvalidParameterError(f"expected KEY=VALUE, got {item[:60]!r}")
        try:
            v = float(value)
        except ValueError:
            raise InvalidParameterError(
                f"{name.strip()[:40]}: the value must be a number in 0..1, got {value[:20]!r}"
            ) from None
        if not 0.0 <= v <= 1.0:
            raise InvalidParameterError(f"{name.strip()[:40]}: the value must be in 0..1, got {v:g}")
        for k in blendshape_keys(name):
            out[k] = v
    return out


def reference_targets(blendshapes: dict[str, float], parts: str = "all") -> dict[str, float]:
    """A reference face's scores as targets, for ``parts`` (all, mouth or eyes)."""
    if parts not in PARTS:
        raise InvalidParameterError(f"parts must be one of {', '.join(PARTS)}, got {str(parts)[:40]!r}")
    keys = {"all": BLENDSHAPES, "mouth": _MOUTH_KEYS, "eyes": _EYE_KEYS}[parts]
    return {k: float(blendshapes[k]) for k in keys if k in blendshapes and k not in UNSUPPORTED}


def _is_scores(v) -> bool:
    return v is None or (isinstance(v, dict) and all(isinstance(k, str) for k in v))


def _is_model(v) -> bool:
    return v is None or hasattr(v, "predict_landmarks")


class FaceEditor(Method):
    """Edit faces to blendshape targets with the expression rig (configured, not trained).

    Parameters
    ----------
    targets : dict of MediaPipe blendshape name -> value in [0, 1], or None
        Asked scores (on top of the preset's); a name without Left/Right sets both sides.
    preset : str or None
        One of :data:`PRESETS`.
    reference : dict of blendshape scores, or None
        A reference face's scores (e.g. ``Landmarker().analyze(photo).blendshapes``) to copy.
    parts : {"all", "mouth", "eyes"}
        What of the reference to copy.
    base : MeshRegressionModel or None
        A learned expression applied first (its predicted landmark motion), e.g. the shipped ``smile``.
    mouth_model : MeshRegressionModel or None
        The model whose masked regression fills a mouth the edit opens (the shipped ``smile``).
    refine : int in 0..3
        Closed-loop corrections per face: measure the edited face and correct each asked key's weight
        (each costs a landmarker pass and a warp, about 15 ms on a 256-pixel crop).

    ``edit(x, intensity, landmarks, poses)``: ``poses`` are the crops' FaceLandmarker analyses with
    blendshape scores (:class:`~mr_core.face.landmarks.FaceAnalysis`: 3-D points for the head's pose,
    the face's own scores for absolute targets); ``landmarks`` (478, 2) per crop, when given, replace the
    analyses' own (e.g. smoothed over the frames of a video).
    """

    name = NAME
    label = "face editor"
    description = (
        "Moves each face's 478 landmarks by ARKit-style blendshapes (from ICT-FaceKit, posed with the "
        "face's own head pose) to the asked scores, and warps the photo over the face mesh; an opened "
        "mouth gets teeth from a mesh + MR model."
    )
    needs_landmarks = True
    needs_pose = True
    trained_from_pairs = False
    crop_size = (256, 256)
    _parameter_constraints = {
        "targets": Satisfies(_is_scores, "a dict of blendshape names to values in 0..1, or None"),
        "preset": OneOf(None, *PRESETS),
        "reference": Satisfies(_is_scores, "a dict of blendshape scores, or None"),
        "parts": OneOf(*PARTS),
        "base": Satisfies(_is_model, "a mesh + MR model or None"),
        "mouth_model": Satisfies(_is_model, "a mesh + MR model or None"),
        "refine": OneOf(0, 1, 2, 3),
    }

    def __init__(
        self, targets=None, preset=None, reference=None, parts="all", base=None, mouth_model=None, refine=1
    ):
        self.targets = targets
        self.preset = preset
        self.reference = reference
        self.parts = parts
        self.base = base
        self.mouth_model = mouth_model
        self.refine = refine

    @property
    def image_size_(self) -> tuple[int, int]:
        """The crop size faces are aligned to: the mouth model's, or :attr:`crop_size`."""
        size = getattr(self.mouth_model, "image_size_", None) or getattr(self.base, "image_size_", None)
        return tuple(int(v) for v in size) if size is not None else self.crop_size

    @property
    def template(self) -> str | None:
        return getattr(self.mouth_model, "template", None) or getattr(self.base, "template", None)

    def asked(self) -> dict[str, float]:
        """Every target, by MediaPipe name: the preset's, then the reference's, then the explicit ones."""
        self._validate_params()
        out: dict[str, float] = {}
        if self.preset:
            out.update(preset_targets(self.preset))
        if self.reference:
            out.update(reference_targets(self.reference, self.parts))
        for name, value in (self.targets or {}).items():
            v = float(value)
            if not (0.0 <= v <= 1.0):
                raise InvalidParameterError(f"{name}: a target must be in 0..1, got {v:g}")
            for k in blendshape_keys(name):
                out[k] = v
        return out

    # ------------------------------------------------------------------ geometry
    def _learned_mouth(self) -> tuple[str, ...]:
        """The keys the learned smile moves in place of the rig (a preset in :data:`LEARNED_MOUTH`)."""
        if self.base is not None or self.mouth_model is None:
            return ()
        return LEARNED_MOUTH.get(str(self.preset).strip().lower(), ())

    def weights(self, analysis, asked=None) -> dict[str, float]:
        """The rig weights (by MediaPipe name) that take this face from its measured scores to the asked."""
        asked = self.asked() if asked is None else asked
        learned = self._learned_mouth()
        asked = {k: v for k, v in asked.items() if k not in learned}
        return load_rig().weights_for(asked, analysis.blendshapes)

    def motion(self, analysis, weights: dict[str, float]) -> np.ndarray:
        """The landmarks' motion (478, 2) of rig ``weights`` (plus the base model's, if any)."""
        rig = load_rig()
        L = np.asarray(analysis.landmarks, dtype=np.float64)
        pose = rig.pose(analysis.points3d)
        eyes = {k: w for k, w in weights.items() if k.startswith(EYE_KEYS)}
        rest = {k: w for k, w in weights.items() if k not in eyes}
        motion = rig.displacement(rest, pose) if rest else np.zeros_like(L)
        motion[_EYE_POINTS] = 0.0  # only what closes, narrows or widens the eyes moves their lids
        if eyes:
            motion += rig.displacement(eyes, pose)
        base = self.base if self.base is not None else (self.mouth_model if self._learned_mouth() else None)
        if base is not None:
            motion = motion + (base.predict_landmarks(L, 1.0) - L)
        return motion

    def target_landmarks(self, analysis, intensity: float = 1.0, asked=None) -> np.ndarray:
        """The face's edited landmarks (478, 2) for a FaceLandmarker ``analysis`` of its crop."""
        L = np.asarray(analysis.landmarks, dtype=np.float64)
        return L + float(intensity) * self.motion(analysis, self.weights(analysis, asked))

    def edit(self, x: np.ndarray, intensity: float = 1.0, landmarks=None, poses=None):
        """Float crops (n, h, w, 3) in [0, 1] -> (edited, change, motion (n, h, w, 2)); see the class.

        A crop without an analysis (no face found) is returned unchanged.
        """
        x = np.asarray(x, dtype=np.float32)
        n, h, w = x.shape[:3]
        if poses is None:
            from ..face.landmarks import shared_landmarker

            marker = shared_landmarker(blendshapes=True)
            crops = np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)
            poses = [marker.analyze(c) for c in crops]
        out, change = x.copy(), np.zeros_like(x)
        motion = np.zeros((n, h, w, 2), dtype=np.float32)
        asked = self.asked()
        for i in range(n):
            analysis = poses[i]
            if analysis is None or getattr(analysis, "points3d", None) is None:
                continue
            if landmarks is not None and landmarks[i] is not None:
                analysis = replace(analysis, landmarks=np.asarray(landmarks[i], dtype=np.float64))
            moved, change[i], motion[i] = self.edit_one(x[i], analysis, intensity, asked)
            out[i] = moved + change[i]
        return out, change, motion

    def edit_one(self, x: np.ndarray, analysis, intensity: float = 1.0, asked=None):
        """One float crop (h, w, 3) in [0, 1] and its analysis -> (moved, change, displacement).

        With ``refine`` > 0 the result is measured again (the landmarker's scores of the edited crop) and
        each asked key's weight corrected by the secant of its own response on this face, ``refine`` times.
        """
        asked = self.asked() if asked is None else asked
        L = np.asarray(analysis.landmarks, dtype=np.float64)
        a = float(intensity)
        weights = self.weights(analysis, asked)
        result = render(x, L, L + a * self.motion(analysis, weights), self.mouth_model, min(a, 1.0))
        for _ in range(int(self.refine or 0) if a > 0 else 0):
            weights = _refined(weights, asked, analysis.blendshapes, result[0] + result[1])
            if weights is None:
                break
            result = render(x, L, L + a * self.motion(analysis, weights), self.mouth_model, min(a, 1.0))
        return result


def _refined(weights, asked, current, edited) -> dict[str, float] | None:
    """Weights corrected by each key's measured response on the edited crop (None: nothing to correct)."""
    from ..face.landmarks import shared_landmarker

    img = np.rint(np.clip(edited, 0.0, 1.0) * 255.0).astype(np.uint8)
    found = shared_landmarker(blendshapes=True).analyze(img)
    if found is None:
        return None
    rig = load_rig()
    out, changed = dict(weights), False
    for key, w in weights.items():
        if key not in asked or not rig.measurable(key):
            continue
        t, m = float(asked[key]), float(found.blendshapes.get(key, 0.0))
        if abs(m - t) < 0.03:
            continue
        # what the calibrated (average) face needs to go from the measured score to the asked one: robust
        # where a face's response is steep or flat (the landmarker's scores are far from linear)
        limit = rig.max_weight(key)
        out[key] = float(np.clip(w + rig.weight_of(key, t) - rig.weight_of(key, m), -limit, limit))
        changed = True
    return out if changed else None
