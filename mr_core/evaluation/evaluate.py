"""Evaluation of a model on paired source/target photos.

For every pair (same file name stem in the source and the target folder) the source
and the target are aligned with the project's face pipeline (or used as given when
they already are aligned crops), the model predicts the target expression from the
source crop, and these are measured:

``psnr``, ``ssim``
    of the output against the real target crop (float in [0, 1], output clipped).
``score_input``, ``score_output``, ``score_target``
    expression strength of the model's target expression, from the MediaPipe
    FaceLandmarker blendshapes (:func:`mr_core.face.landmarks.expression_score`; for a
    smile the mean of ``mouthSmileLeft`` and ``mouthSmileRight``, for neutral one minus
    that).
``fraction``
    the fraction of the real change the output achieves,
    ``(score_output - score_input) / (score_target - score_input)``; undefined (``None``)
    when the real change is smaller than :data:`MIN_REAL_CHANGE`.
``profile_ratio``
    the whole expression at once: the distance of the output's 52 blendshape scores to the real
    target's, divided by the input's distance to the real target (0: the output's profile is the
    real one's; 1: no closer than the input).  No single blendshape can satisfy it.
``changes``
    per key blendshape (:data:`PROFILE_KEYS`: mouthSmile, mouthUpperUp, jawOpen, cheekSquint,
    eyeSquint, mouthPress, each the mean of its left and right scores), the fraction of the real
    change the output achieves (``None`` when the real change is below :data:`MIN_KEY_CHANGE`);
    the summary also gives it from the means over the pairs.
``eye_ssim``
    identity kept: SSIM of the output against the input over the eye band, the box
    around both eyes and eyebrows (FaceLandmarker mesh points of the input crop) widened
    by a fifth of the distance between the eyes on every side.
``sharpness``
    detail kept: variance of the Laplacian of the output's gray crop divided by that of
    the input's.

The summary averages each metric over the pairs where it is defined and adds the
aggregate fraction ``(mean output - mean input) / (mean target - mean input)``, which
is not dominated by pairs with a small real change.

The summary, the JSON report and the contact sheet are in :mod:`.report`.  Nothing here prints;
:mod:`mr_core.cli.evaluate` is the command-line front end.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from ..data import _keyed, to_gray, to_uint8
from ..errors import DataError, FaceError, MRError
from ..face.landmarks import EXPRESSIONS, FaceAnalysis, Landmarker, expression_score
from . import metrics

#: Below this real change of the expression score the fraction of change is undefined.
MIN_REAL_CHANGE = 0.05
#: Below this real change of a key blendshape its fraction of change is undefined.
MIN_KEY_CHANGE = 0.02

#: Key blendshapes reported one by one (each the mean of the scores whose names start with it).
PROFILE_KEYS = ("mouthSmile", "mouthUpperUp", "jawOpen", "cheekSquint", "eyeSquint", "mouthPress")

#: FaceLandmarker mesh indices of both eyes and eyebrows (the eye band).
# fmt: off
EYE_LANDMARKS = (
    # left eye, right eye
    249, 263, 362, 373, 374, 380, 381, 382, 384, 385, 386, 387, 388, 390, 398, 466,
    7, 33, 133, 144, 145, 153, 154, 155, 157, 158, 159, 160, 161, 163, 173, 246,
    # left eyebrow, right eyebrow
    276, 282, 283, 285, 293, 295, 296, 300, 334, 336,
    46, 52, 53, 55, 63, 65, 66, 70, 105, 107,
)
# fmt: on
_EYE_CENTRES = ((33, 133), (263, 362))  # corners of each eye

#: Metrics in the order of the table and the report.
METRICS = (
    "psnr",
    "ssim",
    "score_input",
    "score_output",
    "score_target",
    "fraction",
    "profile_ratio",
    "eye_ssim",
    "sharpness",
)


@dataclass(frozen=True)
class Pair:
    """One evaluation pair: file name stem, source photo and target photo.

    Like :class:`mr_core.data.Pair`, except that a photo may be missing (``None``): such a pair is
    reported as failed instead of stopping the evaluation.
    """

    name: str
    source: Path | None
    target: Path | None


@dataclass
class PairResult:
    """Metrics of one pair (``None`` where undefined) or the reason it failed (``error``)."""

    name: str
    psnr: float | None = None
    ssim: float | None = None
    score_input: float | None = None
    score_output: float | None = None
    score_target: float | None = None
    fraction: float | None = None
    profile_ratio: float | None = None
    eye_ssim: float | None = None
    sharpness: float | None = None
    #: per key blendshape: {"input", "output", "target", "fraction"}
    changes: dict = field(default_factory=dict)
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    crops: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        return self.error is None

    def as_dict(self) -> dict:
        out = {"name": self.name}
        for key in METRICS:
            out[key] = json_number(getattr(self, key))
        if self.changes:
            out["changes"] = {k: {kk: json_number(vv) for kk, vv in v.items()} for k, v in self.changes.items()}
        if self.error is not None:
            out["error"] = self.error
        if self.notes:
            out["notes"] = list(self.notes)
        return out


# ----------------------------------------------------------------------------- pairing


def _images_by_stem(folder: Path) -> dict[str, Path]:
    """Image files of ``folder`` by file name stem (hidden files left out; a repeated stem raises)."""
    return _keyed(folder, lambda p: None if p.name.startswith(".") else p.stem)[0]


def find_pairs(
    source_dir: str | os.PathLike, target_dir: str | os.PathLike, subjects: Sequence[str] | None = None
) -> list[Pair]:
    """Pairs by identical file name stem.

    Without ``subjects``: every stem found in either folder, sorted; a file without a partner of
    the same stem in the other folder comes back with ``source`` or ``target`` set to ``None``, so
    that it is reported as a failed pair (raises :class:`DataError` when no file has a partner at
    all).  With ``subjects``: exactly those, in that order, missing ones likewise with ``None``.
    """
    src = _images_by_stem(Path(source_dir))
    tgt = _images_by_stem(Path(target_dir))
    if subjects is None:
        if not set(src) & set(tgt):
            raise DataError(f"{source_dir}: no image has a partner of the same name in {target_dir}")
        names = sorted(set(src) | set(tgt))
    else:
        names = list(dict.fromkeys(str(s) for s in subjects))
        if not names:
            raise DataError("the list of subjects to evaluate is empty")
    return [Pair(n, src.get(n), tgt.get(n)) for n in names]


# ----------------------------------------------------------------------------- crops and prediction


def _to_float(rgb: np.ndarray) -> np.ndarray:
    return np.asarray(rgb, dtype=np.float64) / 255.0


def fit_crop(rgb: np.ndarray, size: tuple[int, int], name: str = "image") -> np.ndarray:
    """A pre-aligned crop at the model size: returned as is, or resized when only its scale differs.

    A crop whose aspect ratio differs from the model's by more than 2 % raises
    :class:`DataError`, since resizing it would distort the face.
    """
    from PIL import Image

    h, w = (int(s) for s in size)
    ch, cw = rgb.shape[:2]
    if (ch, cw) == (h, w):
        return rgb
    if abs(cw / ch - w / h) > 0.02 * (w / h):
        raise DataError(f"{name}: the crop is {cw}x{ch} pixels, not of the model's aspect ratio ({w}x{h})")
    return np.asarray(Image.fromarray(rgb).resize((w, h), Image.LANCZOS))


def align(
    rgb: np.ndarray, size: tuple[int, int], name: str = "image", detector=None, template: str | None = None
) -> np.ndarray:
    """The aligned crop of the largest face (the project's pipeline); :class:`FaceError` if there is none."""
    from ..face import DEFAULT_TEMPLATE, align_photo

    return align_photo(
        rgb, size=tuple(size), detector=detector, template=template or DEFAULT_TEMPLATE, name=name
    )


def predict_crop(model, crop: np.ndarray) -> np.ndarray:
    """The model's edited crop (intensity 1) for one aligned uint8 RGB crop, as float H x W x 3 in [0, 1].

    The same function the photo pipeline uses (:func:`mr_core.methods.edit_crops`), so what is
    measured is what users get.
    """
    from ..methods import edit_crops

    return edit_crops(model, np.asarray(crop, dtype=np.uint8)[None]).crops[0].astype(np.float64) / 255.0


def as_rgb(x: np.ndarray) -> np.ndarray:
    """H x W x 1 or H x W float/uint8 image -> H x W x 3 (gray replicated)."""
    x = np.asarray(x)
    if x.ndim == 2:
        x = x[..., None]
    if x.shape[2] == 1:
        x = np.repeat(x, 3, axis=2)
    return x


# ----------------------------------------------------------------------------- metrics


def sharpness(x: np.ndarray) -> float:
    """Variance of the Laplacian of the gray image, in [0, 1] units.

    ``x``: a uint8 image, or a float one in [0, 1] (rounded to uint8 first: what is measured is
    what is written); RGB is turned into its luma (:func:`mr_core.data.to_gray`).
    """
    x = np.asarray(x)
    if x.dtype != np.uint8:
        x = to_uint8(x)
    if x.ndim == 3 and x.shape[2] == 3:
        x = to_gray(x)
    gray = x.reshape(x.shape[:2]).astype(np.float64) / 255.0
    return float(np.var(ndimage.laplace(gray, mode="reflect")))


def sharpness_ratio(output: np.ndarray, reference: np.ndarray) -> float | None:
    """``sharpness(output) / sharpness(reference)``; ``None`` for a flat reference."""
    ref = sharpness(reference)
    return None if ref <= 1e-12 else sharpness(output) / ref


def eye_box(landmarks: np.ndarray, shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) of the eye band in a crop of ``shape`` from its 478 landmarks."""
    pts = np.asarray(landmarks, dtype=np.float64)
    if pts.shape[0] <= max(EYE_LANDMARKS):
        return None
    band = pts[list(EYE_LANDMARKS)]
    centres = [pts[list(pair)].mean(axis=0) for pair in _EYE_CENTRES]
    pad = 0.2 * float(np.linalg.norm(centres[0] - centres[1]))
    h, w = shape
    top = max(0, int(math.floor(band[:, 1].min() - pad)))
    bottom = min(h, int(math.ceil(band[:, 1].max() + pad)))
    left = max(0, int(math.floor(band[:, 0].min() - pad)))
    right = min(w, int(math.ceil(band[:, 0].max() + pad)))
    if bottom - top < 8 or right - left < 8:
        return None
    return top, bottom, left, right


def eye_similarity(output: np.ndarray, reference: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """SSIM of ``output`` against ``reference`` (float images) inside ``box``."""
    top, bottom, left, right = box
    return metrics.ssim(np.clip(output[top:bottom, left:right], 0, 1), reference[top:bottom, left:right])


def change_fraction(
    score_input: float | None,
    score_output: float | None,
    score_target: float | None,
    min_change: float = MIN_REAL_CHANGE,
) -> float | None:
    """``(out - in) / (target - in)``, or ``None`` when a score is missing or the real change is tiny."""
    if score_input is None or score_output is None or score_target is None:
        return None
    real = score_target - score_input
    if abs(real) < min_change:
        return None
    return (score_output - score_input) / real


def key_scores(blendshapes: dict[str, float]) -> dict[str, float]:
    """The :data:`PROFILE_KEYS` scores of one face (mean of the left and right blendshapes)."""
    out = {}
    for key in PROFILE_KEYS:
        values = [v for name, v in blendshapes.items() if name.startswith(key)]
        if values:
            out[key] = float(np.mean(values))
    return out


def profile_ratio(b_in: dict, b_out: dict, b_target: dict) -> float | None:
    """Distance of the output's blendshape profile to the target's over the input's (``None`` when
    input and target have the same profile)."""
    names = sorted(set(b_in) & set(b_out) & set(b_target) - {"_neutral"})
    if not names:
        return None
    v_in, v_out, v_tgt = (np.array([b[n] for n in names]) for b in (b_in, b_out, b_target))
    base = float(np.linalg.norm(v_in - v_tgt))
    return None if base < 1e-6 else float(np.linalg.norm(v_out - v_tgt)) / base


def score_expression(model) -> str | None:
    """The expression name the scores measure: the model's target, when the landmarker can score it."""
    target = str(getattr(model, "target", "") or "").lower()
    return target if target in EXPRESSIONS else None


def evaluate_crops(
    name: str,
    model,
    crop_in: np.ndarray,
    crop_target: np.ndarray,
    landmarker: Landmarker | None,
    expression: str | None,
) -> PairResult:
    """All metrics of one pair of aligned uint8 RGB crops."""
    res = PairResult(name=name)
    out = predict_crop(model, crop_in)
    x_in = _to_float(crop_in)
    x_tgt = _to_float(crop_target)
    out_clipped = np.clip(out, 0.0, 1.0)
    res.psnr = metrics.psnr(out_clipped, x_tgt)
    res.ssim = metrics.ssim(out_clipped, x_tgt)
    crop_out = to_uint8(out_clipped)
    res.sharpness = sharpness_ratio(crop_out, crop_in)
    res.crops = (crop_in, crop_out, crop_target)

    analyses: dict[str, FaceAnalysis | None] = {}
    if landmarker is not None:
        for key, img in (("input", crop_in), ("output", crop_out), ("target", crop_target)):
            analyses[key] = landmarker.analyze(img)
            if analyses[key] is None:
                res.notes.append(f"the landmarker found no face in the {key} crop")
        if expression is not None:
            for key in ("input", "output", "target"):
                a = analyses[key]
                if a is not None:
                    setattr(res, f"score_{key}", expression_score(a.blendshapes, expression))
            res.fraction = change_fraction(res.score_input, res.score_output, res.score_target)
        if all(analyses.get(k) is not None for k in ("input", "output", "target")):
            shapes = [analyses[k].blendshapes for k in ("input", "output", "target")]
            res.profile_ratio = profile_ratio(*shapes)
            keyed = [key_scores(b) for b in shapes]
            for key in PROFILE_KEYS:
                if all(key in k for k in keyed):
                    i, o, t = (k[key] for k in keyed)
                    res.changes[key] = {
                        "input": i,
                        "output": o,
                        "target": t,
                        "fraction": change_fraction(i, o, t, MIN_KEY_CHANGE),
                    }
        a_in = analyses["input"]
        if a_in is not None:
            box = eye_box(a_in.landmarks, crop_in.shape[:2])
            if box is not None:
                res.eye_ssim = eye_similarity(out_clipped, x_in, box)
    return res


def evaluate_pair(
    model,
    pair: Pair,
    *,
    crops: bool = False,
    landmarker: Landmarker | None = None,
    detector=None,
    expression: str | None = None,
    template: str | None = None,
) -> PairResult:
    """Read, align, predict and measure one pair; a failure (unreadable photo, no face, ...)
    is returned as a :class:`PairResult` with ``error`` set, never raised."""
    from ..imageio import read_image

    if pair.source is None or pair.target is None:
        missing = "source" if pair.source is None else "target"
        present = pair.target if pair.source is None else pair.source
        error = f"no {missing} image named {pair.name}"
        if present is not None:
            error += f" for {present}"
        return PairResult(name=pair.name, error=error)
    size = tuple(int(s) for s in model.image_size_)
    try:
        src = read_image(pair.source).rgb
        tgt = read_image(pair.target).rgb
        if crops:
            crop_in = fit_crop(src, size, str(pair.source))
            crop_tgt = fit_crop(tgt, size, str(pair.target))
        else:
            crop_in = align(src, size, str(pair.source), detector, template)
            crop_tgt = align(tgt, size, str(pair.target), detector, template)
        return evaluate_crops(pair.name, model, crop_in, crop_tgt, landmarker, expression)
    except MRError as exc:
        return PairResult(name=pair.name, error=str(exc))


def iter_evaluate(
    model, pairs: Iterable[Pair], *, crops: bool = False, landmarker: Landmarker | None = None, detector=None
) -> Iterator[PairResult]:
    """Evaluate the pairs one by one (lazily, so that a caller can show progress).

    ``landmarker`` defaults to a new :class:`Landmarker` (closed at the end); ``detector``
    to the face pipeline's shared detector.  Photos are aligned with the model's template
    (the pipeline's default when the model does not name one); a template this version
    does not know raises :class:`FaceError` (unless ``crops``).
    """
    template = None
    if not crops:
        from ..face import TEMPLATES

        template = getattr(model, "template", None) or None
        if template is not None and template not in TEMPLATES:
            raise FaceError(
                f"the model's crops were aligned with the template {template!r}, which this version does "
                f"not know (known: {', '.join(sorted(TEMPLATES))})"
            )
    own = landmarker is None
    if own:
        landmarker = Landmarker()
    expression = score_expression(model)
    try:
        for pair in pairs:
            yield evaluate_pair(
                model,
                pair,
                crops=crops,
                landmarker=landmarker,
                detector=detector,
                expression=expression,
                template=template,
            )
    finally:
        if own:
            landmarker.close()


def json_number(v):
    """``v`` as a float for JSON, ``None`` when missing or not finite."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None

