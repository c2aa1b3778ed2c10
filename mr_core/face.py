"""Face detection, alignment and paste-back.

Masked regression works on aligned face crops, and only on crops aligned the way its
training crops were.  This module turns a photo into such crops and puts edited crops back:

* :class:`FaceDetector` finds faces with MediaPipe's BlazeFace detectors (vendored in
  ``mr_core/assets``, checked against their SHA-256 when loaded; nothing is downloaded).
* :func:`align_face` maps a face onto a named canonical :class:`Template` with a similarity
  transform (rotation, uniform scale, translation) fitted by least squares to keypoints that
  do not move with the expression: both eyes and the nose tip, never the mouth.  The same
  function aligns training photos and the photos a model is applied to.
* :func:`paste_back` warps an edited crop back into the photo under a feathered elliptical
  mask whose width scales with the face; every pixel outside the mask stays bit-identical.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import threading
import weakref
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from ._mediapipe import aligned_copy, native_stderr_silenced
from .errors import FaceError, InvalidParameterError, ModelFileError

__all__ = [
    "ASSETS_DIR",
    "DEFAULT_TEMPLATE",
    "DETECTOR_MODELS",
    "MIN_EYE_DISTANCE",
    "TEMPLATES",
    "AlignedFace",
    "DetectedFace",
    "FaceDetector",
    "Template",
    "align_face",
    "align_photo",
    "default_detector",
    "estimate_similarity",
    "face_mask",
    "get_template",
    "paste_back",
]

ASSETS_DIR = Path(__file__).resolve().parent / "assets"

#: Detector name -> (file in ASSETS_DIR, size in bytes, SHA-256).  See assets/face_detector.NOTICE.
DETECTOR_MODELS = {
    "short": (
        "face_detector_short_range.tflite",
        229_714,
        "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
    ),
    "full": (
        "face_detector_full_range_sparse.tflite",
        676_746,
        "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
    ),
}

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


# --------------------------------------------------------------------------- detection
_live_detectors: weakref.WeakSet = weakref.WeakSet()
_atexit_registered = False
_registry_lock = threading.Lock()


def _close_all_detectors() -> None:
    for det in list(_live_detectors):
        det.close()


def _load_asset(kind: str, assets_dir: Path) -> bytes:
    filename, size, digest = DETECTOR_MODELS[kind]
    path = assets_dir / filename
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelFileError(
            f"{path}: face detector model is missing; restore it with python scripts/vendor_face_detector.py"
        ) from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot read the face detector model ({exc.strerror})") from None
    if len(data) != size or hashlib.sha256(data).hexdigest() != digest:
        raise ModelFileError(
            f"{path}: face detector model is corrupt (expected {size} bytes with sha256 {digest}); "
            "restore it with python scripts/vendor_face_detector.py"
        )
    return data


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


class FaceDetector:
    """Thread-safe MediaPipe BlazeFace detector on the vendored models.

    ``model``: ``"auto"`` (short-range model, then the full-range sparse model when the first
    finds nothing), ``"short"`` or ``"full"``.  Photos whose long side exceeds ``max_side`` are
    detected on a downscaled copy (results are mapped back to the full-size photo).
    The MediaPipe tasks are created on first use; :meth:`close` releases them.  ``quiet``
    silences the native libraries' log lines on stderr while they run.
    """

    def __init__(
        self,
        model: str = "auto",
        min_confidence: float = 0.5,
        max_side: int = 1280,
        assets_dir: str | os.PathLike | None = None,
        quiet: bool = True,
    ) -> None:
        if model not in ("auto", "short", "full"):
            raise InvalidParameterError(f"detector model must be 'auto', 'short' or 'full', not {model!r}")
        if not 0.0 < float(min_confidence) < 1.0:
            raise InvalidParameterError(f"min_confidence must be in (0, 1), not {min_confidence!r}")
        if int(max_side) < 128:
            raise InvalidParameterError(f"max_side must be at least 128 pixels, not {max_side!r}")
        self.model = model
        self.min_confidence = float(min_confidence)
        self.max_side = int(max_side)
        self.assets_dir = Path(assets_dir) if assets_dir is not None else ASSETS_DIR
        self.quiet = bool(quiet)
        self._tasks: dict[str, object] = {}
        self._lock = threading.RLock()
        self._closed = False

    def __enter__(self) -> FaceDetector:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _task(self, kind: str):
        task = self._tasks.get(kind)
        if task is not None:
            return task
        data = _load_asset(kind, self.assets_dir)
        from mediapipe.tasks.python.core.base_options import BaseOptions
        from mediapipe.tasks.python.vision import FaceDetector as _MPFaceDetector
        from mediapipe.tasks.python.vision import FaceDetectorOptions, RunningMode

        options = FaceDetectorOptions(
            base_options=BaseOptions(model_asset_buffer=data),
            running_mode=RunningMode.IMAGE,
            min_detection_confidence=self.min_confidence,
        )
        with native_stderr_silenced(self.quiet):
            try:
                task = _MPFaceDetector.create_from_options(options)
            except (RuntimeError, ValueError) as exc:
                raise ModelFileError(
                    f"{self.assets_dir / DETECTOR_MODELS[kind][0]}: cannot load the face detector ({exc})"
                ) from None
        self._tasks[kind] = task
        global _atexit_registered
        with _registry_lock:
            _live_detectors.add(self)
            if not _atexit_registered:
                # MediaPipe runs its native calls on a thread pool that Python stops before the
                # ordinary atexit handlers run; close the tasks while it still works (quietly).
                register = getattr(threading, "_register_atexit", None) or atexit.register
                register(_close_all_detectors)
                _atexit_registered = True
        return task

    def _run(self, kind: str, rgb: np.ndarray) -> list:
        import mediapipe as mp

        task = self._task(kind)
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=aligned_copy(rgb))
        # LiteRT may log (e.g. a memory-alignment warning) on any run, depending on the image: keep
        # it off the user's terminal.  The redirection of descriptor 2 is process-wide and lasts
        # only the few milliseconds of the native call.
        with native_stderr_silenced(self.quiet):
            return list(task.detect(image).detections)

    def detect(self, image) -> list[DetectedFace]:
        """Faces in an RGB uint8 photo (or a :class:`~mr_core.imageio.LoadedImage`), largest first."""
        rgb = _as_rgb(image)
        h, w = rgb.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        if scale < 1.0:
            sw, sh = max(1, round(w * scale)), max(1, round(h * scale))
            small = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA)
        else:
            sw, sh, small = w, h, rgb
        kinds = ("short", "full") if self.model == "auto" else (self.model,)
        with self._lock:
            if self._closed:
                raise InvalidParameterError("this FaceDetector has been closed")
            detections: list = []
            for kind in kinds:
                detections = self._run(kind, small)
                if detections:
                    break
        fx, fy = w / sw, h / sh
        faces = []
        for det in detections:
            bb = det.bounding_box
            box = (bb.origin_x * fx, bb.origin_y * fy, bb.width * fx, bb.height * fy)
            kps = np.array([[kp.x * w, kp.y * h] for kp in det.keypoints], dtype=np.float64)
            if kps.shape != (6, 2) or not np.all(np.isfinite(kps)):
                continue
            score = float(det.categories[0].score) if det.categories else 0.0
            faces.append(DetectedFace(box=box, keypoints=kps, score=score))
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces

    def close(self) -> None:
        """Release the MediaPipe tasks (idempotent)."""
        with self._lock:
            self._closed = True
            tasks, self._tasks = self._tasks, {}
            if tasks:
                with native_stderr_silenced():
                    for task in tasks.values():
                        task.close()


_default_detector: FaceDetector | None = None
_default_lock = threading.Lock()


def default_detector() -> FaceDetector:
    """The process-wide shared :class:`FaceDetector` (created on first call)."""
    global _default_detector
    with _default_lock:
        if _default_detector is None or _default_detector._closed:
            _default_detector = FaceDetector()
        return _default_detector


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


def align_photo(
    image,
    size: tuple[int, int] = (128, 128),
    detector: FaceDetector | None = None,
    template: str | Template = DEFAULT_TEMPLATE,
    *,
    min_eye_distance: float = MIN_EYE_DISTANCE,
    name: str | None = None,
) -> np.ndarray:
    """The aligned crop (uint8 h x w x 3) of the largest face in a photo.

    ``image`` is an RGB uint8 array, a :class:`~mr_core.imageio.LoadedImage` or a path.
    Raises :class:`~mr_core.errors.FaceError` naming the photo when no face is found or
    the largest face is too small to align well.
    """
    if isinstance(image, (str, os.PathLike)):
        from .imageio import read_image

        image = read_image(image)
    label = name or getattr(image, "name", None) or "the photo"
    rgb = _as_rgb(image)
    det = detector if detector is not None else default_detector()
    faces = det.detect(rgb)
    if not faces:
        raise FaceError(f"{label}: no face found")
    face = faces[0]
    if face.eye_distance < min_eye_distance:
        raise FaceError(
            f"{label}: the face is too small to align well (eyes {face.eye_distance:.0f} px apart, "
            f"need {min_eye_distance:.0f})"
        )
    return align_face(rgb, face, template=template, size=size).crop


# --------------------------------------------------------------------------- paste-back
def move_pixels(
    image, displacement: np.ndarray, aligned: AlignedFace, *, inplace: bool = False
) -> np.ndarray:
    """Warp the photo around a face by a displacement field given in the aligned crop's frame.

    ``displacement`` (h, w, 2), in crop pixels, says where each crop pixel samples from (relative to
    itself); it is carried over to the photo at the photo's own resolution, so the person's pixels
    move (e.g. the mouth corners up) without passing through the 128-pixel crop.  Pixels the field
    does not move, and everything outside the crop, stay bit-identical.
    """
    from .enhance import photo_sampling_map, warp_image

    rgb = _as_rgb(image)
    h, w = aligned.size
    if np.asarray(displacement).shape != (h, w, 2):
        raise InvalidParameterError(
            f"the displacement must have shape {(h, w, 2)}, got {np.shape(displacement)}"
        )
    if inplace and not rgb.flags.writeable:
        raise InvalidParameterError("move_pixels(inplace=True) needs a writable image")
    out = rgb if inplace else rgb.copy()
    x0, y0, x1, y1 = _roi_of_crop(_invert_affine(aligned.matrix), (h, w), rgb.shape, pad=2.0)
    if x1 <= x0 or y1 <= y0:
        return out
    sampling = photo_sampling_map(displacement, aligned.matrix, (x0, y0, x1, y1))
    out[y0:y1, x0:x1] = warp_image(rgb[y0:y1, x0:x1].copy(), sampling)
    return out


def paste_back(
    image, crop_out: np.ndarray, aligned: AlignedFace, *, mode: str = "delta", inplace: bool = False
) -> np.ndarray:
    """Put an edited crop back into the photo it was aligned from; returns a new uint8 image.

    ``mode="delta"`` (default) adds the change ``crop_out - aligned.crop`` to the photo, so the
    photo keeps its own resolution and colours wherever the crop was not changed;
    ``mode="replace"`` blends in the crop itself.  Either way the change is faded out by the
    template's feathered ellipse (its width scales with the face) and every pixel outside it
    is returned bit-identical.  ``inplace=True`` writes into ``image`` itself and returns it.
    """
    rgb = _as_rgb(image)
    if mode not in ("delta", "replace"):
        raise InvalidParameterError(f"paste-back mode must be 'delta' or 'replace', not {mode!r}")
    h, w = aligned.size
    crop_out = np.asarray(crop_out)
    if crop_out.shape != (h, w, 3):
        raise InvalidParameterError(f"the edited crop must have shape {(h, w, 3)}, got {crop_out.shape}")
    if aligned.photo_shape and tuple(aligned.photo_shape[:2]) != rgb.shape[:2]:
        raise InvalidParameterError(
            f"the crop was aligned on a {aligned.photo_shape[1]}x{aligned.photo_shape[0]} photo, "
            f"not this {rgb.shape[1]}x{rgb.shape[0]} one"
        )
    if inplace and not rgb.flags.writeable:
        raise InvalidParameterError("paste_back(inplace=True) needs a writable image")
    out = rgb if inplace else rgb.copy()
    m = np.asarray(aligned.matrix, dtype=np.float64)
    inv = _invert_affine(m)
    crop_mask = face_mask(aligned.template, (h, w))
    ys, xs = np.nonzero(crop_mask)
    if len(xs) == 0:
        return out
    support = (xs.min() - 1, ys.min() - 1, xs.max() + 2, ys.max() + 2)
    x0, y0, x1, y1 = _roi_of_crop(inv, (h, w), rgb.shape, pad=2.0, box=support)
    if x1 <= x0 or y1 <= y0:
        return out
    # ROI pixel q -> crop pixel: M (q + offset)
    m_roi = m.copy()
    m_roi[:, 2] = m[:, 2] + m[:, :2] @ np.array([x0, y0], dtype=np.float64)
    dsize = (x1 - x0, y1 - y0)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    mask = cv2.warpAffine(crop_mask, m_roi, dsize, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if not mask.any():
        return out
    region = out[y0:y1, x0:x1]
    if mode == "delta":
        delta = crop_out.astype(np.float32) - np.asarray(aligned.crop, dtype=np.float32)
        change = cv2.warpAffine(delta, m_roi, dsize, flags=flags, borderMode=cv2.BORDER_REPLICATE)
    else:
        moved = cv2.warpAffine(
            crop_out.astype(np.float32), m_roi, dsize, flags=flags, borderMode=cv2.BORDER_REPLICATE
        )
        change = cv2.subtract(moved, region, dtype=cv2.CV_32F)
    change *= mask[:, :, None]
    # Saturating, rounding uint8 + float add.  Where the mask is 0 the change is exactly 0, so those
    # pixels come back bit-identical; only pixels under the mask are written.
    result = cv2.add(region, change, dtype=cv2.CV_8U)
    np.copyto(region, result, where=(mask > 0)[:, :, None])
    return out
