"""Face detection with MediaPipe's BlazeFace detectors, and detect-then-align for whole photos.

:class:`FaceDetector` finds faces with the detectors vendored in ``mr_core/assets`` (checked against
their SHA-256 when loaded; nothing is downloaded); :func:`align_photo` aligns the largest face of a photo.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import threading
import weakref
from pathlib import Path

import cv2
import numpy as np

from ..errors import FaceError, InvalidParameterError, ModelFileError
from ._mediapipe import aligned_copy, native_stderr_silenced
from .align import (
    DEFAULT_TEMPLATE,
    MIN_EYE_DISTANCE,
    DetectedFace,
    Template,
    _as_rgb,
    align_face,
)

ASSETS_DIR = Path(__file__).resolve().parents[1] / "assets"

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


# --------------------------------------------------------------------------- detection
_live_detectors: weakref.WeakSet = weakref.WeakSet()
#: Every MediaPipe detector task not closed yet, held here so that none is ever closed by the garbage
#: collector (a FaceDetector dropped without close(), e.g. a page's pipeline): MediaPipe's finaliser can
#: deadlock, as for the landmarker (``_TASKS`` in :mod:`.landmarks`); such tasks are closed at exit.
_TASKS: set = set()
_atexit_registered = False
_registry_lock = threading.Lock()


def _close_all_detectors() -> None:
    for det in list(_live_detectors):
        det.close()
    with _registry_lock:
        tasks = list(_TASKS)
        _TASKS.clear()
    for task in tasks:
        task.close()


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
            _TASKS.add(task)
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

    def detect_all(self, image) -> list[DetectedFace]:
        """Every face of a photo, also the small ones of a group photo: :meth:`detect` on the whole
        photo, then the full-range model on overlapping tiles (see :func:`tile_grid`), each face
        kept once (the best-scored of those that overlap), largest first.  Several times slower than
        :meth:`detect` on a large photo (tens of tiles); meant for photos, not for video frames."""
        rgb = _as_rgb(image)
        h, w = rgb.shape[:2]
        found = self.detect(rgb)
        with self._lock:
            if self._closed:
                raise InvalidParameterError("this FaceDetector has been closed")
            for x0, y0, side in tile_grid(w, h):
                tile = rgb[y0 : y0 + side, x0 : x0 + side]
                scale = min(1.0, TILE_INPUT / side)
                small = (
                    tile
                    if scale == 1.0
                    else cv2.resize(
                        tile,
                        (max(1, round(tile.shape[1] * scale)), max(1, round(tile.shape[0] * scale))),
                        interpolation=cv2.INTER_AREA,
                    )
                )
                th, tw = tile.shape[:2]
                for det in self._run("full", small):
                    face = _face_of(det, tw, th, x0, y0, tw / small.shape[1])
                    if face is None or _touches_inner_edge(face, x0, y0, tw, th, w, h):
                        continue  # a face cut by the tile's edge: the neighbouring tile has it whole
                    found.append(face)
        return _one_each(found)

    def close(self) -> None:
        """Release the MediaPipe tasks (idempotent)."""
        with self._lock:
            self._closed = True
            tasks, self._tasks = self._tasks, {}
            if tasks:
                with _registry_lock:
                    _TASKS.difference_update(tasks.values())
                with native_stderr_silenced():
                    for task in tasks.values():
                        task.close()


#: Tiles of :meth:`FaceDetector.detect_all`: the smallest tile side (pixels of the photo; faces of
#: about a tenth of it and more are found), the factor between tile sizes, their overlap (a face up to
#: this fraction of a tile lies whole in one of them), and the side a tile is scaled down to first.
TILE_MIN, TILE_STEP, TILE_OVERLAP, TILE_INPUT = 480, 3, 0.35, 640
#: Tiles at least this fraction of the photo's long side are replaced by the whole photo.
TILE_WHOLE = 0.8
#: Detections whose boxes overlap by more than this (intersection over union) are one face.
SAME_FACE_IOU = 0.3


def tile_grid(width: int, height: int) -> list[tuple[int, int, int]]:
    """``(x, y, side)`` of the square tiles :meth:`FaceDetector.detect_all` looks at: sides
    ``TILE_MIN * TILE_STEP**k`` smaller than the photo's long side, overlapping by ``TILE_OVERLAP``."""
    tiles = []
    side = TILE_MIN
    longest = max(width, height)
    while side < longest:
        if side >= TILE_WHOLE * longest:
            # tiles nearly the photo's size: one look at the whole photo sees as much, at a quarter of
            # the cost (a 512x512 portrait: 1 full-range pass, not 4)
            tiles.append((0, 0, longest))
            break
        stride = max(1, int(side * (1 - TILE_OVERLAP)))
        xs = list(range(0, max(1, width - side), stride)) + [max(0, width - side)]
        ys = list(range(0, max(1, height - side), stride)) + [max(0, height - side)]
        tiles += [(x, y, side) for y in sorted(set(ys)) for x in sorted(set(xs))]
        side *= TILE_STEP
    return tiles


def _face_of(det, tw: int, th: int, x0: int, y0: int, sx: float) -> DetectedFace | None:
    """A MediaPipe detection on a tile (keypoints relative to it, the box in pixels of the tile as
    scaled by ``1 / sx``) in photo pixels."""
    kps = np.array([[x0 + kp.x * tw, y0 + kp.y * th] for kp in det.keypoints], dtype=np.float64)
    if kps.shape != (6, 2) or not np.all(np.isfinite(kps)):
        return None
    bb = det.bounding_box
    box = (x0 + bb.origin_x * sx, y0 + bb.origin_y * sx, bb.width * sx, bb.height * sx)
    score = float(det.categories[0].score) if det.categories else 0.0
    return DetectedFace(box=box, keypoints=kps, score=score)


def _touches_inner_edge(face: DetectedFace, x0: int, y0: int, tw: int, th: int, w: int, h: int) -> bool:
    x, y, bw, bh = face.box
    margin = 2.0
    return (
        (x0 > 0 and x < x0 + margin)
        or (y0 > 0 and y < y0 + margin)
        or (x0 + tw < w and x + bw > x0 + tw - margin)
        or (y0 + th < h and y + bh > y0 + th - margin)
    )


def _iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def _one_each(faces: list[DetectedFace]) -> list[DetectedFace]:
    """One detection per face (the best-scored of those overlapping), largest first."""
    kept: list[DetectedFace] = []
    for face in sorted(faces, key=lambda f: f.score, reverse=True):
        if all(_iou(face.box, k.box) <= SAME_FACE_IOU for k in kept):
            kept.append(face)
    kept.sort(key=lambda f: f.area, reverse=True)
    return kept


_default_detector: FaceDetector | None = None
_default_lock = threading.Lock()


def default_detector() -> FaceDetector:
    """The process-wide shared :class:`FaceDetector` (created on first call)."""
    global _default_detector
    with _default_lock:
        if _default_detector is None or _default_detector._closed:
            _default_detector = FaceDetector()
        return _default_detector


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
        from ..imageio import read_image

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
