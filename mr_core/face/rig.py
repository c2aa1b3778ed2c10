"""An expression rig on MediaPipe's 478 landmarks: ARKit-style blendshapes as 3-D displacements per point.

The table ``assets/expression_rig.safetensors`` holds, for each of ICT-FaceKit Light's 53 expression
shapes (``jawOpen``, ``mouthSmile_L``, ``eyeBlink_R``, ...), the displacement of every landmark of
MediaPipe's canonical face (cm), transferred from ICT's face by ``scripts/build_expression_rig.py``
(ICT-FaceKit: MIT licence, USC Institute for Creative Technologies; ``assets/expression_rig.LICENSE``).

On a face, :func:`face_pose` fits the similarity (scale and rotation) that takes the canonical face onto
the face's own 3-D landmarks; :meth:`ExpressionRig.displacement` poses a weighted sum of the shapes with
it and projects it onto the image: the 2-D motion of each landmark, in the image's pixels.

The rig speaks MediaPipe's 52 blendshape names (``mouthSmileLeft``, ``browInnerUp``, ...), the scores
FaceLandmarker measures on any face.  Its *calibration* (``scripts/calibrate_expression_rig.py``,
stored in the same file) is the measured response of those scores to each shape's weight on real faces,
so that :meth:`ExpressionRig.weights_for` turns target scores into weights: a face whose
``jawOpen`` is measured at 0.1 and asked for 0.5 gets the weight that takes a face from 0.1 to 0.5.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from ..errors import InvalidParameterError, ModelFileError

ASSETS = Path(__file__).resolve().parents[1] / "assets"
RIG_PATH = ASSETS / "expression_rig.safetensors"
CHECKSUM_PATH = ASSETS / "expression_rig.sha256"

#: MediaPipe's 52 blendshape names (its ``_neutral`` category aside), in its order.
BLENDSHAPES = (
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight", "cheekPuff",
    "cheekSquintLeft", "cheekSquintRight", "eyeBlinkLeft", "eyeBlinkRight", "eyeLookDownLeft",
    "eyeLookDownRight", "eyeLookInLeft", "eyeLookInRight", "eyeLookOutLeft", "eyeLookOutRight",
    "eyeLookUpLeft", "eyeLookUpRight", "eyeSquintLeft", "eyeSquintRight", "eyeWideLeft", "eyeWideRight",
    "jawForward", "jawLeft", "jawOpen", "jawRight", "mouthClose", "mouthDimpleLeft", "mouthDimpleRight",
    "mouthFrownLeft", "mouthFrownRight", "mouthFunnel", "mouthLeft", "mouthLowerDownLeft",
    "mouthLowerDownRight", "mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthRight",
    "mouthRollLower", "mouthRollUpper", "mouthShrugLower", "mouthShrugUpper", "mouthSmileLeft",
    "mouthSmileRight", "mouthStretchLeft", "mouthStretchRight", "mouthUpperUpLeft", "mouthUpperUpRight",
    "noseSneerLeft", "noseSneerRight", "tongueOut",
)  # fmt: skip

#: MediaPipe's Left/Right and ICT's ``_L``/``_R`` are both the face's own sides (measured: ICT's
#: ``mouthSmile_L`` raises MediaPipe's ``mouthSmileLeft`` from 0.00 to 0.83, its ``...Right`` to 0.34).
SIDE = {"Left": "_L", "Right": "_R"}

#: Blendshapes the rig cannot show: the tongue is not in ICT's shapes, gaze moves the eyeballs (not
#: landmarks a warp of the skin can move), a puffed cheek is depth the landmarker hardly sees.
UNSUPPORTED = ("tongueOut",) + tuple(n for n in BLENDSHAPES if n.startswith("eyeLook"))


#: Least rise of a calibrated response for a key to count as measured by the landmarker.
MEASURABLE = 0.25
#: Largest weight of any shape (ICT's shapes are their full extent at 1): beyond it skin folds and
#: features stretch; eyelids may go a little further (a full blink), keys the landmarker hardly
#: measures up to their gain.
MAX_WEIGHT = 1.25
MAX_WEIGHT_OF = {"eyeBlink": 1.6, "browDown": 1.75}
#: Weight per unit of score for keys the landmarker hardly measures (frown, sneer, lower lip down, wide
#: eyes, cheek raise): their shapes look right at about twice ICT's unit weight.
UNMEASURED_GAIN = 2.0


def ict_shapes(key: str) -> tuple[str, ...]:
    """The ICT shapes that make MediaPipe's blendshape ``key`` (both sides for ``browInnerUp``, ``cheekPuff``)."""
    for side, suffix in SIDE.items():
        if key.endswith(side):
            return (key[: -len(side)] + suffix,)
    if key in ("browInnerUp", "cheekPuff"):
        return (key + "_L", key + "_R")
    return (key,)


def blendshape_keys(name: str) -> tuple[str, ...]:
    """The blendshape names a user's key stands for: itself, or both sides for a name without Left/Right
    (``mouthSmile`` -> ``mouthSmileLeft``, ``mouthSmileRight``).  Unknown names raise, listing the valid."""
    key = str(name).strip()
    if key in BLENDSHAPES:
        return (key,)
    both = tuple(k for k in (key + "Left", key + "Right") if k in BLENDSHAPES)
    if both:
        return both
    shown = key if len(key) <= 40 else key[:40] + "..."
    sided = sorted({k[: -len(s)] for k in BLENDSHAPES for s in ("Left", "Right") if k.endswith(s)})
    raise InvalidParameterError(
        f"unknown blendshape {shown!r}; valid: {', '.join(BLENDSHAPES)} (or without Left/Right for both "
        f"sides: {', '.join(sided)})"
    )


@dataclass(frozen=True)
class FacePose:
    """The similarity taking the canonical face (cm) onto a face's 3-D landmarks (pixels): ``s R``."""

    scale: float
    rotation: np.ndarray  # (3, 3)

    @property
    def projection(self) -> np.ndarray:
        """(2, 3): a canonical-frame displacement (cm) -> the image's (x, y) pixels."""
        return self.scale * self.rotation[:2]


def _similarity(X: np.ndarray, Y: np.ndarray) -> tuple[float, np.ndarray]:
    mx, my = X.mean(0), Y.mean(0)
    A, B = X - mx, Y - my
    U, S, Vt = np.linalg.svd(B.T @ A / len(X))
    d = np.array([1.0, 1.0, np.sign(np.linalg.det(U @ Vt))])
    R = (U * d) @ Vt
    return float((S * d).sum() / (A**2).sum(1).mean()), R


class ExpressionRig:
    """The vendored rig: ``deltas`` (53, 478, 3) cm per ICT shape, the ``canonical`` face (468, 3), the ICT
    ``shapes`` names, and the calibration (``curve_weights`` (g,), ``curve_scores`` (52, g)) when present."""

    def __init__(self, deltas, canonical, shapes, curve_weights=None, curve_scores=None) -> None:
        self.deltas = deltas
        self.canonical = canonical
        self.shapes = tuple(shapes)
        self.curve_weights = curve_weights
        self.curve_scores = curve_scores
        self._index = {n: i for i, n in enumerate(self.shapes)}

    @property
    def calibrated(self) -> bool:
        return self.curve_scores is not None

    def supported(self, key: str) -> bool:
        return key not in UNSUPPORTED and all(s in self._index for s in ict_shapes(key))

    def pose(self, points3d) -> FacePose:
        """The face's pose from its FaceLandmarker points (478, 3): x, y in pixels, z in the same units."""
        P = np.asarray(points3d, dtype=np.float64)
        if P.shape != (478, 3) or not np.isfinite(P).all():
            raise InvalidParameterError(f"the face's 3-D landmarks must be finite (478, 3), got {P.shape}")
        s, R = _similarity(self.canonical.astype(np.float64), P[: len(self.canonical)])
        return FacePose(scale=s, rotation=R)

    def shape_motion(self, weights: dict[str, float]) -> np.ndarray:
        """The canonical-frame displacement (478, 3) cm of blendshape ``weights`` (MediaPipe names)."""
        total = np.zeros((478, 3), dtype=np.float64)
        for key, w in weights.items():
            if w == 0 or not self.supported(key):
                continue
            for shape in ict_shapes(key):
                total += float(w) * self.deltas[self._index[shape]]
        return total

    def displacement(self, weights: dict[str, float], pose: FacePose) -> np.ndarray:
        """The image-plane motion (478, 2) pixels of blendshape ``weights`` on a face of pose ``pose``."""
        return self.shape_motion(weights) @ pose.projection.T

    # ------------------------------------------------------------------ calibration
    def measurable(self, key: str) -> bool:
        """Whether the landmarker's score of ``key`` follows the rig's shape (its calibrated response
        rises by at least :data:`MEASURABLE` over the calibrated weights)."""
        if not self.calibrated:
            return True
        curve = self.curve_scores[BLENDSHAPES.index(key)]
        return bool(curve.max() - curve[0] >= MEASURABLE)

    def max_weight(self, key: str) -> float:
        """The largest weight the rig gives ``key``'s shape: :data:`MAX_WEIGHT` (or the key's own in
        :data:`MAX_WEIGHT_OF`), and no more than the weight of the calibrated response's peak."""
        base = key.removesuffix("Left").removesuffix("Right")
        cap = MAX_WEIGHT_OF.get(base, MAX_WEIGHT)
        if not self.calibrated:
            return cap
        if not self.measurable(key):
            return max(cap, UNMEASURED_GAIN)
        curve = self.curve_scores[BLENDSHAPES.index(key)]
        return min(cap, float(self.curve_weights[int(np.argmax(curve))]))

    def weight_of(self, key: str, score: float) -> float:
        """The weight of ``key``'s shape whose calibrated response is ``score``: 0 at or below the neutral
        faces' own score, :meth:`max_weight` at or above its response there (the range is limited: beyond
        it the shape distorts the face more than the landmarker sees it grow).  A key the landmarker does
        not measure (see :meth:`measurable`) gets :data:`UNMEASURED_GAIN` times the score."""
        if not self.calibrated:
            return float(score)
        curve = self.curve_scores[BLENDSHAPES.index(key)]
        if not self.measurable(key):
            return min(UNMEASURED_GAIN * max(float(score) - float(curve[0]), 0.0), self.max_weight(key))
        top = int(np.argmax(curve))
        xp = curve[: top + 1] + np.arange(top + 1) * 1e-9  # strictly increasing for interp
        return min(float(np.interp(score, xp, self.curve_weights[: top + 1])), self.max_weight(key))

    def reachable(self, key: str) -> float:
        """The highest score of ``key`` the calibrated rig reaches within its range (1 when not calibrated)."""
        if not self.calibrated:
            return 1.0
        return float(np.interp(self.max_weight(key), self.curve_weights, self.curve_scores[BLENDSHAPES.index(key)]))

    def weights_for(self, targets: dict[str, float], current: dict[str, float]) -> dict[str, float]:
        """Shape weights that take a face measured at ``current`` scores to the ``targets`` (both by
        MediaPipe names): the difference of the two scores' calibrated weights, per key."""
        out = {}
        for key, t in targets.items():
            if not self.supported(key):
                continue
            out[key] = self.weight_of(key, float(t)) - self.weight_of(key, float(current.get(key, 0.0)))
        return out


def _expected(checksum: Path) -> str:
    try:
        return checksum.read_text(encoding="utf-8").split()[0].lower()
    except (OSError, IndexError):
        raise ModelFileError(
            f"{checksum}: cannot read the expression rig's checksum; restore it with "
            "python scripts/build_expression_rig.py"
        ) from None


@cache
def load_rig(path: str | Path = RIG_PATH, checksum: str | Path | None = CHECKSUM_PATH) -> ExpressionRig:
    """Read and check a rig file (its SHA-256 against ``checksum``, tensor shapes, finite values)."""
    from safetensors.numpy import load

    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read the expression rig ({exc.strerror})") from None
    if checksum is not None and hashlib.sha256(data).hexdigest() != _expected(Path(checksum)):
        raise ModelFileError(
            f"{path}: the expression rig is corrupt (its sha256 does not match {Path(checksum).name}); "
            "restore it with python scripts/build_expression_rig.py"
        )
    meta = {}
    try:
        tensors = load(data)
        header_len = int.from_bytes(data[:8], "little")
        meta = json.loads(data[8 : 8 + header_len]).get("__metadata__", {})
        shapes = json.loads(meta["shapes"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{path}: not an expression rig file ({exc})") from None
    deltas, canonical = tensors.get("deltas"), tensors.get("canonical")
    if (
        deltas is None
        or canonical is None
        or deltas.shape != (len(shapes), 478, 3)
        or canonical.shape != (468, 3)
        or not (np.isfinite(deltas).all() and np.isfinite(canonical).all())
        or float(np.abs(deltas).max()) > 10.0
    ):
        raise ModelFileError(f"{path}: the expression rig's tensors have the wrong shape or values")
    cw, cs = tensors.get("calibration_weights"), tensors.get("calibration_scores")
    if cw is not None:
        if cs is None or cs.shape != (len(BLENDSHAPES), len(cw)) or not np.isfinite(cs).all():
            raise ModelFileError(f"{path}: the expression rig's calibration has the wrong shape or values")
        cw, cs = cw.astype(np.float64), cs.astype(np.float64)
    return ExpressionRig(deltas.astype(np.float64), canonical.astype(np.float64), shapes, cw, cs)
