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
from functools import cache

import numpy as np

from .. import geometry
from ..core.params import OneOf, Satisfies
from ..errors import InvalidParameterError
from ..face import mesh
from ..face.rig import BLENDSHAPES, UNSUPPORTED, blendshape_keys, load_rig
from .base import Method

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

#: MediaPipe's eye contours (upper and lower lid, outer corner to inner), the face's right eye then left.
EYE_LIDS = (
    ((33, 246, 161, 160, 159, 158, 157, 173, 133), (33, 7, 163, 144, 145, 153, 154, 155, 133)),
    ((263, 466, 388, 387, 386, 385, 384, 398, 362), (263, 249, 390, 373, 374, 380, 381, 382, 362)),
)
#: Blendshapes that move the lids (every other key leaves the eye contours where they are).
EYE_KEYS = ("eyeBlink", "eyeSquint", "eyeWide", "cheekSquint", "browDown")
_EYE_POINTS = [p for up, lo in EYE_LIDS for p in up + lo]
#: The pinned ring around the face: the outline scaled by this much about the outline's centre.
RING_SCALE = 1.3


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


# ---------------------------------------------------------------------------------------- rendering
def _strip(upper, lower) -> list[tuple[int, int, int]]:
    """Triangles filling the opening between two contours that share their end points."""
    tris = []
    n = len(upper) - 1
    for i in range(n):
        a, b, c, d = upper[i], upper[i + 1], lower[i], lower[i + 1]
        if i == 0:
            tris.append((a, b, d))
        elif i == n - 1:
            tris.append((a, b, c))
        else:
            tris += [(a, b, d), (a, d, c)]
    return tris


def eye_triangles() -> np.ndarray:
    return np.array([t for up, lo in EYE_LIDS for t in _strip(up, lo)], dtype=np.int64)


def _ring(L: np.ndarray) -> np.ndarray:
    outline = L[list(mesh.face_outline())]
    c = outline.mean(axis=0)
    return c + RING_SCALE * (outline - c)


def _ring_triangles() -> np.ndarray:
    ring = list(mesh.face_outline())
    n = len(ring)
    tris = []
    for i in range(n):
        a, b = ring[i], ring[(i + 1) % n]
        ra, rb = 478 + i, 478 + (i + 1) % n
        tris += [(a, b, rb), (a, rb, ra)]
    return np.array(tris, dtype=np.int64)


def _signed_areas(P, tri):
    a, b, c = P[tri[:, 0]], P[tri[:, 1]], P[tri[:, 2]]
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


#: Lids whose gap shrinks below this fraction of their own meet: a nearly closed eye is closed (else a
#: pale slit of the eye's white stays between them).
SHUT = 0.25


def closed_lids(L: np.ndarray, La: np.ndarray) -> np.ndarray:
    """``La`` with the lids of each eye brought together where the edit leaves less than :data:`SHUT` of
    their gap: they meet a third of the way up from the lower lid (where a closed eye's lash line is)."""
    La = La.copy()
    for up, lo in EYE_LIDS:
        up, lo = list(up[1:-1]), list(lo[1:-1])
        gap0 = np.linalg.norm(L[up] - L[lo], axis=1)
        gap1 = np.linalg.norm(La[up] - La[lo], axis=1)
        if np.median(gap1 / np.maximum(gap0, 1e-6)) < SHUT:
            meet = La[lo] + (La[up] - La[lo]) / 3.0
            La[up], La[lo] = meet, meet
    return La


#: Least area a skin triangle of the mesh may keep (a fraction of its own); below it, or turned over, the
#: motion of its corners is halved until none is (the skin would fold and tear into jagged blocks).
MIN_AREA = 0.05


def unfolded(L: np.ndarray, La: np.ndarray, rounds: int = 8) -> np.ndarray:
    """``La`` with the motion limited where it would fold the skin of the upper face (above the nose's
    base, where brows move against the lids): the corners of every triangle there that would turn over or
    shrink below :data:`MIN_AREA` of its area move half as far, until none does (at most ``rounds`` times).
    The lower face folds where lips press together, which the renderer resolves (facing triangles last)."""
    tri = np.asarray(mesh.triangles()[: -len(mesh.mouth_triangles())])
    tri = tri[(L[tri, 1] < L[2, 1]).all(axis=1)]
    before = _signed_areas(L, tri)
    La = La.copy()
    for _ in range(rounds):
        bad = _signed_areas(La, tri) / np.where(np.abs(before) > 1e-9, before, 1e-9) < MIN_AREA
        bad &= np.abs(before) > 1e-6
        if not bad.any():
            break
        corners = np.unique(tri[bad])
        La[corners] = L[corners] + 0.5 * (La[corners] - L[corners])
    return La


#: The band along the crop's edges over which the motion fades out (a fraction of the crop's side).
EDGE_BAND = 0.06


@cache
def _edge_ramp(h: int, w: int) -> np.ndarray:
    """1 inside the crop, falling smoothly to 0 at its edges over :data:`EDGE_BAND` of its side."""

    def ramp(n: int) -> np.ndarray:
        band = max(1.0, EDGE_BAND * n)
        d = np.minimum(np.arange(n), np.arange(n)[::-1]) / band
        t = np.clip(d, 0.0, 1.0)
        return t * t * (3.0 - 2.0 * t)

    out = np.outer(ramp(h), ramp(w)).astype(np.float32)
    out.setflags(write=False)
    return out


def render(x: np.ndarray, L: np.ndarray, La: np.ndarray, mouth_model=None, fade: float = 1.0):
    """Warp a float crop (h, w, 3) from landmarks ``L`` to ``La`` (478, 2) and fill a mouth that opens.

    Returns (moved, change, displacement) like the mesh + MR method's edit.
    """
    import cv2

    h, w = x.shape[:2]
    La = closed_lids(L, unfolded(L, La))
    eyes_move = any(np.abs(La[list(up + lo)] - L[list(up + lo)]).max() > 1e-3 for up, lo in EYE_LIDS)
    tri = [mesh.triangles(), _ring_triangles()] + ([eye_triangles()] if eyes_move else [])
    tri = np.concatenate(tri)
    P = np.vstack([L, _ring(L)])
    Pa = np.vstack([La, _ring(L)])
    back = _signed_areas(Pa, tri) * np.sign(_signed_areas(P, tri)) < 0
    tri = np.concatenate([tri[back], tri[~back]])  # folded triangles first: those facing cover the pixels
    raster = geometry.prepare_raster(*geometry.rasterize_triangles(Pa - 0.5, tri, (h, w), step=2), tri)
    moving = raster.map(P - 0.5, (h, w))
    # inside each new eye opening the eye keeps its own pixels: closing lids cover the iris, they do
    # not squash it (the lids' skin is what the warp moves), and an edit that leaves the lids where
    # they are leaves every pixel of the eye as it was
    keep = np.zeros((h, w), dtype=np.float32)
    for up, lo in EYE_LIDS:
        poly = np.round(np.vstack([La[list(up)], La[list(lo)][::-1]]) * 16).astype(np.int32)
        cv2.fillPoly(keep, [poly], 1.0, lineType=cv2.LINE_AA, shift=4)
    ident = geometry.identity_map((h, w))
    moving = moving + keep[..., None] * (ident - moving)
    # the motion fades out towards the crop's edges, so the photo around the crop meets it without a seam
    moving = ident + (moving - ident) * _edge_ramp(h, w)[..., None]
    moved = geometry.warp_image(x, moving)
    change = np.zeros_like(moved)
    opened = mesh.mouth_opening(La[None])[0] - mesh.mouth_opening(L[None])[0]
    if mouth_model is not None and opened > MIN_OPENING:
        ref = np.asarray(mouth_model.reference_shape_, dtype=np.float64)
        content = mouth_fill(mouth_model.mouth_content(x, L), ref, La, x)
        mouth = np.zeros((h, w), dtype=np.float32)
        poly = np.round(La[list(mesh.INNER_LIP)] * 16).astype(np.int32)
        cv2.fillPoly(mouth, [poly], 1.0, lineType=cv2.LINE_AA, shift=4)
        mouth = cv2.GaussianBlur(cv2.dilate(mouth, np.ones((3, 3), np.uint8)), (0, 0), max(0.5, w / 256.0))
        change = (fade * mouth[..., None] * (content - moved)).astype(np.float32)
    return moved, change, (moving - geometry.identity_map((h, w))).astype(np.float32)


#: Least growth of the mouth's opening (inner-lip gap over width) that is filled with the mouth model's
#: teeth and inside; below it the lips' own pixels stay between them.
MIN_OPENING = 0.04
#: Least height of the upper and lower teeth shown in an opened mouth (fraction of the mouth's width).
TEETH_HEIGHT = (0.13, 0.07)
UPPER_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LOWER_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)


def mouth_fill(content: np.ndarray, ref: np.ndarray, La: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The inside of the mouth opening of ``La`` from a mouth model's content in its reference frame.

    The reference opening's upper half (upper teeth) is laid under the new upper lip and its lower half
    over the new lower lip, each as tall as in the reference (scaled by the mouth's width) but at least
    :data:`TEETH_HEIGHT` of the mouth's width, so teeth keep their size in a mouth opened wider than the
    reference; what is left between them is the mouth's inside: the reference opening's darkest tenth
    above, shading into the colour of the face's own lips, darkened, where the tongue lies.
    """
    import cv2

    h, w = x.shape[:2]
    U, D = La[list(UPPER_INNER)], La[list(LOWER_INNER)]
    Ur, Dr = ref[list(UPPER_INNER)], ref[list(LOWER_INNER)]
    Mr = 0.5 * (Ur + Dr)
    width = float(np.linalg.norm(La[308] - La[78]))
    scale = width / max(float(np.linalg.norm(ref[308] - ref[78])), 1e-6)
    half = 0.5 * np.linalg.norm(Dr - Ur, axis=1) * scale
    # teeth bands: the reference's, or at least a fraction of the mouth's width, tapering at the corners
    taper = np.sin(np.linspace(0.0, np.pi, len(U)))
    top = np.maximum(half, TEETH_HEIGHT[0] * width * taper)
    bottom = np.maximum(half, TEETH_HEIGHT[1] * width * taper)
    gap = D - U
    G = np.linalg.norm(gap, axis=1)
    unit = gap / np.maximum(G, 1e-9)[:, None]
    share = np.minimum(1.0, G / np.maximum(top + bottom, 1e-9))
    Up = U + (top * share)[:, None] * unit
    Dp = D - (bottom * share)[:, None] * unit
    out_pts = np.vstack([U, Up, Dp, D])
    src_pts = np.vstack([Ur, Mr, Mr, Dr])
    n = len(U)
    tris, band_of = [], []
    for band, (a, b) in enumerate(((0, 1), (1, 2), (2, 3))):
        for i in range(n - 1):
            p, q, r, t = a * n + i, a * n + i + 1, b * n + i, b * n + i + 1
            tris += [(p, q, t), (p, t, r)]
            band_of += [band, band]
    tris = np.array(tris, dtype=np.int64)
    index, bary = geometry.rasterize_triangles(out_pts - 0.5, tris, (h, w))
    m = geometry.piecewise_affine_map(index, bary, tris, src_pts - 0.5, (h, w))
    filled = geometry.warp_image(content, m, "linear")
    inside = np.zeros((h, w), dtype=np.uint8)
    cv2.fillPoly(inside, [np.round(np.vstack([Ur, Dr[::-1]])).astype(np.int32)], 1)
    lips = np.zeros((h, w), dtype=np.uint8)
    cv2.fillPoly(lips, [np.round(La[list(mesh.OUTER_LIP)]).astype(np.int32)], 1)
    cv2.fillPoly(lips, [np.round(La[list(mesh.INNER_LIP)]).astype(np.int32)], 0)
    lip = x[lips.astype(bool)].mean(axis=0) if lips.any() else np.array([0.6, 0.35, 0.35])
    if inside.any():
        vals = content[inside.astype(bool)]
        lum = vals.mean(axis=1)
        dark = vals[lum <= np.quantile(lum, 0.1)].mean(axis=0) * 0.8
    else:
        dark = lip * 0.25
    tongue = lip * 0.55
    cavity = np.zeros((h, w), dtype=np.float32)
    depth = np.zeros((h, w), dtype=np.float32)  # 0 under the upper teeth .. 1 over the lower ones
    sel = index >= 0
    middle = np.asarray(band_of)[index[sel]] == 1
    cavity[sel] = middle
    rows = np.nonzero(sel)[0].astype(np.float64)
    y_top = np.interp(np.nonzero(sel)[1], Up[:, 0], Up[:, 1])
    y_bot = np.interp(np.nonzero(sel)[1], Dp[:, 0], Dp[:, 1])
    depth[sel] = np.clip((rows - y_top) / np.maximum(y_bot - y_top, 1e-6), 0.0, 1.0)
    colour = dark[None, None] + (depth**2)[..., None] * (tongue - dark)[None, None]
    cavity = cv2.GaussianBlur(cavity, (0, 0), max(0.7, w / 200.0))
    return (filled * (1 - cavity[..., None]) + cavity[..., None] * colour).astype(np.float32)
