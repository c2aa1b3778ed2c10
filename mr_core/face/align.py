"""Face alignment: canonical templates, similarity transforms, and aligned crops.

Masked regression works on aligned face crops, and only on crops aligned the way its
training crops were.  :func:`align_face` maps a face onto a named canonical :class:`Template` with a
similarity transform (rotation, uniform scale, translation) fitted by least squares to keypoints that
do not move with the expression: both eyes and the nose tip, never the mouth.  The same function
aligns training photos and the photos a model is applied to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from ..errors import FaceError, InvalidParameterError

#: Names of BlazeFace's six keypoints, in the detector's order ("right" is the person's right).
KEYPOINT_NAMES = ("right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear", "left_ear")

#: Faces whose eye centres are closer than this (in photo pixels) are too small to align well.
MIN_EYE_DISTANCE = 20.0


# --------------------------------------------------------------------------- templates
@dataclass(frozen=True)
class Template:
    """A canonical face layout: where chosen detector keypoints land in the crop.

    ``points`` are (x, y) in crop units (0..1 across the width / height) for the detector
    keypoints listed in ``keypoints``.  ``mask`` is the paste-back ellipse
    (centre x, centre y, semi-axis x, semi-axis y, feather), also in crop units; the feather
    is the fraction of the ellipse radius over which the mask fades to zero.
    """

    name: str
    keypoints: tuple[int, ...]
    points: tuple[tuple[float, float], ...]
    mask: tuple[float, float, float, float, float]
    description: str = ""

    def points_px(self, size: tuple[int, int]) -> np.ndarray:
        """Template points in pixels of a crop of ``size`` = (height, width)."""
        h, w = size
        return np.asarray(self.points, dtype=np.float64) * np.array([w, h], dtype=np.float64)


TEMPLATES: dict[str, Template] = {
    "mp-eyes-nose-v1": Template(
        name="mp-eyes-nose-v1",
        keypoints=(0, 1, 2),  # right eye, left eye, nose tip: they do not move with the expression
        # Eye centres 0.30 crop widths apart on a horizontal line at 0.30 of the height, nose tip
        # 0.52 inter-ocular distances below their midpoint (the mean over the London set).  The
        # crop then spans from above the eyebrows to below the chin, ears at the edges.
        points=((0.35, 0.30), (0.65, 0.30), (0.50, 0.456)),
        mask=(0.50, 0.54, 0.36, 0.46, 0.25),
        description="MediaPipe BlazeFace eyes + nose tip, eyebrows to chin, version 1",
    ),
}

#: Name of the template used unless another is asked for (stored in every model file).
DEFAULT_TEMPLATE = "mp-eyes-nose-v1"


def get_template(template: str | Template) -> Template:
    """Look a template up by name (a :class:`Template` is returned as is)."""
    if isinstance(template, Template):
        return template
    try:
        return TEMPLATES[template]
    except (KeyError, TypeError):
        raise InvalidParameterError(
            f"unknown alignment template {template!r}; known: {', '.join(sorted(TEMPLATES))}"
        ) from None


def _check_size(size) -> tuple[int, int]:
    try:
        h, w = (int(v) for v in size)
    except (TypeError, ValueError):
        raise InvalidParameterError(f"size must be (height, width), not {size!r}") from None
    if h < 16 or w < 16 or h > 4096 or w > 4096:
        raise InvalidParameterError(f"size must be between 16 and 4096 pixels per side, not {size!r}")
    return h, w


@lru_cache(maxsize=32)
def _mask_cached(template_name: str, mask: tuple, h: int, w: int) -> np.ndarray:
    cx, cy, ax, ay, feather = mask
    ys = (np.arange(h, dtype=np.float32) + 0.5) / h
    xs = (np.arange(w, dtype=np.float32) + 0.5) / w
    r = np.sqrt(((xs[None, :] - cx) / ax) ** 2 + ((ys[:, None] - cy) / ay) ** 2)
    t = np.clip((1.0 - r) / feather, 0.0, 1.0)
    m = (t * t * (3.0 - 2.0 * t)).astype(np.float32)  # smoothstep: no visible edge
    m.setflags(write=False)
    return m


def face_mask(template: str | Template = DEFAULT_TEMPLATE, size: tuple[int, int] = (128, 128)) -> np.ndarray:
    """The feathered paste-back mask of a crop (float32 in [0, 1], read-only), 0 at the crop border."""
    t = get_template(template)
    h, w = _check_size(size)
    return _mask_cached(t.name, t.mask, h, w)


# --------------------------------------------------------------------------- geometry
def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity transform (Umeyama, no reflection) mapping ``src`` onto ``dst``.

    ``src`` and ``dst`` are (n, 2) point arrays, n >= 2.  Returns the 2 x 3 matrix ``M`` with
    ``dst ~= M[:, :2] @ src + M[:, 2]``.
    """
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or src.shape[0] < 2:
        raise InvalidParameterError(
            f"need two (n, 2) point arrays with n >= 2, got {src.shape} and {dst.shape}"
        )
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s0, d0 = src - mu_s, dst - mu_d
    var_s = (s0**2).sum() / len(src)
    if var_s <= 1e-12:
        raise FaceError("the face keypoints coincide; cannot align the face")
    cov = d0.T @ s0 / len(src)
    u, sig, vt = np.linalg.svd(cov)
    d = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[1] = -1.0
    rot = u @ np.diag(d) @ vt
    scale = (sig * d).sum() / var_s
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


def _invert_affine(m: np.ndarray) -> np.ndarray:
    return cv2.invertAffineTransform(np.asarray(m, dtype=np.float64))


def _compose(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The affine map ``x -> a(b(x))``."""
    out = np.empty((2, 3))
    out[:, :2] = a[:, :2] @ b[:, :2]
    out[:, 2] = a[:, :2] @ b[:, 2] + a[:, 2]
    return out


def _roi_of_crop(
    inv: np.ndarray, size: tuple[int, int], shape: tuple[int, ...], pad: float, box: tuple | None = None
) -> tuple[int, int, int, int]:
    """Bounding box (x0, y0, x1, y1), clipped to the photo, of a crop (or of ``box`` = (x0, y0, x1, y1)
    in crop pixels) mapped back by ``inv``."""
    h, w = size
    bx0, by0, bx1, by1 = box if box is not None else (0, 0, w, h)
    corners = np.array([[bx0, by0], [bx1, by0], [bx0, by1], [bx1, by1]], dtype=np.float64) - 0.5
    pts = corners @ inv[:, :2].T + inv[:, 2]
    x0 = int(np.floor(pts[:, 0].min() - pad))
    y0 = int(np.floor(pts[:, 1].min() - pad))
    x1 = int(np.ceil(pts[:, 0].max() + pad)) + 1
    y1 = int(np.ceil(pts[:, 1].max() + pad)) + 1
    return max(x0, 0), max(y0, 0), min(x1, shape[1]), min(y1, shape[0])


# --------------------------------------------------------------------------- data classes
@dataclass
class DetectedFace:
    """One detected face, in pixels of the photo passed to :meth:`FaceDetector.detect`.

    ``box`` is (x, y, width, height); ``keypoints`` is (6, 2) (x, y) in :data:`KEYPOINT_NAMES`
    order; ``score`` is the detector's confidence in [0, 1].
    """

    box: tuple[float, float, float, float]
    keypoints: np.ndarray
    score: float

    @property
    def eye_distance(self) -> float:
        """Distance between the eye centres in pixels (the face's scale)."""
        return float(np.linalg.norm(self.keypoints[1] - self.keypoints[0]))

    @property
    def area(self) -> float:
        return float(self.box[2] * self.box[3])


@dataclass
class AlignedFace:
    """A face crop and the transform that made it.

    ``matrix`` (2 x 3) maps photo pixel coordinates to crop pixel coordinates.
    """

    crop: np.ndarray
    matrix: np.ndarray
    template: str
    size: tuple[int, int]
    face: DetectedFace | None = None
    photo_shape: tuple[int, ...] = field(default=())

    @property
    def scale(self) -> float:
        """Crop pixels per photo pixel."""
        return float(np.sqrt(abs(np.linalg.det(self.matrix[:, :2]))))

    @property
    def region(self) -> tuple[int, int, int, int]:
        """(x0, y0, x1, y1): the photo region the crop covers, clipped to the photo (``photo_shape``)."""
        return _roi_of_crop(_invert_affine(self.matrix), self.size, self.photo_shape, pad=0.0)


def _as_rgb(image) -> np.ndarray:
    rgb = getattr(image, "rgb", image)
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InvalidParameterError(
            f"expected an RGB uint8 image of shape (H, W, 3), got {rgb.dtype} {rgb.shape}"
        )
    if rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise InvalidParameterError(f"the image is empty ({rgb.shape[1]}x{rgb.shape[0]} pixels)")
    return rgb


# --------------------------------------------------------------------------- alignment
def align_face(
    image,
    face: DetectedFace,
    template: str | Template = DEFAULT_TEMPLATE,
    size: tuple[int, int] = (128, 128),
) -> AlignedFace:
    """Crop ``face`` out of ``image`` (RGB uint8) aligned on ``template``, at ``size`` = (h, w)."""
    rgb = _as_rgb(image)
    tpl = get_template(template)
    h, w = _check_size(size)
    src = np.asarray(face.keypoints, dtype=np.float64)[list(tpl.keypoints)]
    m = estimate_similarity(src, tpl.points_px((h, w)))
    scale = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    if scale < 0.5:
        # Large face, small crop: shrink just the face's region with area averaging first, so the
        # final bilinear warp does not alias (and a huge photo is never resampled as a whole).
        inv = _invert_affine(m)
        x0, y0, x1, y1 = _roi_of_crop(inv, (h, w), rgb.shape, pad=2.0 / scale)
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            roi = rgb[y0:y1, x0:x1]
            f = min(1.0, 1.5 * scale)
            rw, rh = max(1, round((x1 - x0) * f)), max(1, round((y1 - y0) * f))
            small = cv2.resize(roi, (rw, rh), interpolation=cv2.INTER_AREA)
            fx, fy = rw / (x1 - x0), rh / (y1 - y0)
            # small pixel q -> photo pixel p = (q + 0.5) / f - 0.5 + offset
            to_photo = np.array([[1 / fx, 0, 0.5 / fx - 0.5 + x0], [0, 1 / fy, 0.5 / fy - 0.5 + y0]])
            crop = cv2.warpAffine(
                small, _compose(m, to_photo), (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
            )
            return AlignedFace(
                crop=crop, matrix=m, template=tpl.name, size=(h, w), face=face, photo_shape=rgb.shape
            )
    crop = cv2.warpAffine(rgb, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return AlignedFace(crop=crop, matrix=m, template=tpl.name, size=(h, w), face=face, photo_shape=rgb.shape)
