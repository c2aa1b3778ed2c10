"""Expression strength from MediaPipe FaceLandmarker blendshape scores.

The evaluation measures how strong an expression is with the blendshape model of the
MediaPipe Face Landmarker (vendored as ``mr_core/assets/face_landmarker.task``, see
``face_landmarker.NOTICE``).  :class:`Landmarker` wraps it: the model is loaded on
first use, its SHA-256 is checked, and calls are serialised with a lock so one
instance can be shared between threads.

Aligned crops are scored as they are.  Measured on the 90 London pairs (smile score,
neutral / smiling photos, face cropped from the landmarks): the full 512 x 512 photos
give 0.040 / 0.550; 128 x 128 crops 0.031 / 0.531 (Pearson r = 0.993 with the full
photos, every smiling photo above its neutral one) and the same with bicubic
upscaling to 256 (0.030 / 0.530, r = 0.994); 64 x 64 crops 0.027 / 0.511 (r = 0.98);
32 x 32 crops 0.012 / 0.397 (r = 0.90, upscaling does not help).  No face was missed
at any of these sizes: the landmarker resizes its input internally, so upscaling
is off by default (``min_size``).  Landmarks are always returned in the pixel
coordinates of the image that was passed in.
"""

from __future__ import annotations

import atexit
import hashlib
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InvalidParameterError, ModelFileError
from ._mediapipe import aligned_copy, native_stderr_silenced

ASSETS = Path(__file__).resolve().parents[1] / "assets"
MODEL_PATH = ASSETS / "face_landmarker.task"
CHECKSUM_PATH = ASSETS / "face_landmarker.task.sha256"

#: Images whose shorter side is below this many pixels are upscaled (bicubic) to it
#: before analysis; 0: never (upscaling did not change the scores, see above).
DEFAULT_MIN_SIZE = 0

#: Expressions :func:`expression_score` knows, with the blendshapes each one reads.
EXPRESSIONS: dict[str, tuple[str, ...]] = {
    "smile": ("mouthSmileLeft", "mouthSmileRight"),
    "smiling": ("mouthSmileLeft", "mouthSmileRight"),
    "neutral": ("mouthSmileLeft", "mouthSmileRight"),
}


@dataclass(frozen=True)
class FaceAnalysis:
    """One face: 478 mesh landmarks (x, y) in pixels, the 52 blendshape scores in [0, 1], and the same
    landmarks in 3-D (x, y, z: z in the units of x, from the landmarker's own depth; for the face's pose)."""

    landmarks: np.ndarray
    blendshapes: dict[str, float]
    points3d: np.ndarray | None = None


def _expected_sha256() -> str:
    try:
        text = CHECKSUM_PATH.read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelFileError(
            f"{CHECKSUM_PATH}: cannot read the checksum file ({exc.strerror}); "
            "restore it with python scripts/vendor_face_landmarker.py"
        ) from None
    parts = text.split()
    if not parts or len(parts[0]) != 64:
        raise ModelFileError(f"{CHECKSUM_PATH}: the checksum file does not hold a SHA-256 digest")
    return parts[0].lower()


def load_model_bytes(path: str | Path = MODEL_PATH) -> bytes:
    """Read the vendored landmarker bundle and check it against its SHA-256 file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelFileError(
            f"{path}: cannot read the face landmarker model ({exc.strerror}); "
            "restore it with python scripts/vendor_face_landmarker.py"
        ) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != _expected_sha256():
        raise ModelFileError(
            f"{path}: face landmarker model is corrupt (sha256 {digest} does not match "
            f"{CHECKSUM_PATH.name}); restore it with python scripts/vendor_face_landmarker.py"
        )
    return data


def _as_rgb_uint8(rgb: np.ndarray) -> np.ndarray:
    arr = np.asarray(rgb)
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise InvalidParameterError(f"the landmarker needs an H x W x 3 RGB image, got shape {arr.shape}")
    if arr.shape[2] == 1:
        arr = np.repeat(arr, 3, axis=2)
    elif arr.shape[2] == 4:
        arr = arr[..., :3]
    if arr.dtype != np.uint8:
        raise InvalidParameterError(f"the landmarker needs a uint8 image, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr)


_LIVE: weakref.WeakSet = weakref.WeakSet()
#: Every MediaPipe task not closed yet, held here so that none is ever closed by the garbage collector:
#: MediaPipe's own finaliser can then deadlock (it waits on its dispatcher from whatever thread the
#: collector runs in).  A Landmarker that is dropped without close() keeps its task until exit.
_TASKS: set = set()
_TASKS_LOCK = threading.Lock()


@atexit.register
def _close_all() -> None:
    # MediaPipe's own finaliser fails when it runs during interpreter teardown; close first.
    for lm in list(_LIVE):
        lm.close()
    with _TASKS_LOCK:
        tasks = list(_TASKS)
        _TASKS.clear()
    for task in tasks:
        task.close()


class Landmarker:
    """Lazy, thread-safe wrapper of the MediaPipe Tasks FaceLandmarker (IMAGE mode).

    ``min_size``: images whose shorter side is smaller are upscaled to it before analysis
    (0 disables).  ``min_confidence``: detection and presence thresholds of the landmarker.
    ``blendshapes``: also score the 52 blendshapes (the evaluation needs them; editing does not, and
    is faster without).  ``video``: the images are one stream's frames, in order (MediaPipe's VIDEO
    mode: the face is followed from the previous frame instead of found again, about twice as fast);
    such a landmarker belongs to one stream.
    """

    def __init__(
        self,
        min_size: int = DEFAULT_MIN_SIZE,
        min_confidence: float = 0.5,
        model_path: str | Path = MODEL_PATH,
        blendshapes: bool = True,
        video: bool = False,
    ) -> None:
        if not 0.0 < float(min_confidence) <= 1.0:
            raise InvalidParameterError(f"min_confidence must be in (0, 1], got {min_confidence}")
        if int(min_size) < 0:
            raise InvalidParameterError(f"min_size must be 0 or more, got {min_size}")
        self.min_size = int(min_size)
        self.min_confidence = float(min_confidence)
        self.model_path = Path(model_path)
        self.blendshapes = bool(blendshapes)
        self.video = bool(video)
        self._lock = threading.Lock()
        self._task = None
        self._last_ms = -1
        _LIVE.add(self)

    def _ensure(self):
        if self._task is None:
            data = load_model_bytes(self.model_path)
            from mediapipe.tasks.python import BaseOptions, vision

            options = vision.FaceLandmarkerOptions(
                base_options=BaseOptions(model_asset_buffer=data),
                running_mode=vision.RunningMode.VIDEO if self.video else vision.RunningMode.IMAGE,
                num_faces=1,
                min_face_detection_confidence=self.min_confidence,
                min_face_presence_confidence=self.min_confidence,
                output_face_blendshapes=self.blendshapes,
            )

            try:
                with native_stderr_silenced():
                    self._task = vision.FaceLandmarker.create_from_options(options)
                with _TASKS_LOCK:
                    _TASKS.add(self._task)
            except (RuntimeError, ValueError) as exc:
                raise ModelFileError(
                    f"{self.model_path}: cannot load the face landmarker model ({exc})"
                ) from None
        return self._task

    def analyze(self, rgb: np.ndarray, t: float | None = None) -> FaceAnalysis | None:
        """Landmarks and blendshapes of the most prominent face, or ``None`` when there is none.

        ``t``: for a ``video`` landmarker, the frame's time in seconds (times that do not grow are moved
        just after the previous frame's; ``None``: 1/30 s after it)."""
        import mediapipe as mp

        arr = _as_rgb_uint8(rgb)
        h, w = arr.shape[:2]
        scale = 1.0
        if self.min_size and min(h, w) < self.min_size:
            import cv2

            scale = self.min_size / min(h, w)
            arr = cv2.resize(arr, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_CUBIC)
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=aligned_copy(arr))
        with self._lock:
            task = self._ensure()
            # MediaPipe/LiteRT may log on any inference (set-up, memory alignment): keep it off the terminal.
            with native_stderr_silenced():
                if self.video:
                    ms = self._last_ms + 33 if t is None else int(round(float(t) * 1000.0))
                    self._last_ms = ms = max(ms, self._last_ms + 1)
                    result = task.detect_for_video(image, ms)
                else:
                    result = task.detect(image)
        if not result.face_landmarks:
            return None
        height, width = arr.shape[:2]
        pts3 = np.array(
            [(p.x * width, p.y * height, p.z * width) for p in result.face_landmarks[0]], dtype=np.float64
        )
        pts3 /= scale
        pts = np.ascontiguousarray(pts3[:, :2])
        shapes = {}
        if result.face_blendshapes:
            shapes = {c.category_name: float(c.score) for c in result.face_blendshapes[0]}
        return FaceAnalysis(landmarks=pts, blendshapes=shapes, points3d=pts3)

    def close(self) -> None:
        with self._lock:
            if self._task is not None:
                with _TASKS_LOCK:
                    _TASKS.discard(self._task)
                self._task.close()
                self._task = None
                self._last_ms = -1

    def __enter__(self) -> Landmarker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_shared: dict[bool, Landmarker] = {}
_shared_lock = threading.Lock()


def shared_landmarker(blendshapes: bool = False) -> Landmarker:
    """The process-wide :class:`Landmarker` of its kind (editing: no blendshapes; scoring: with them),
    created on first call."""
    with _shared_lock:
        if blendshapes not in _shared:
            _shared[blendshapes] = Landmarker(blendshapes=blendshapes)
        return _shared[blendshapes]


def expression_score(blendshapes: dict[str, float], expression: str) -> float:
    """Strength of ``expression`` in [0, 1] from blendshape scores.

    ``smile`` / ``smiling``: mean of ``mouthSmileLeft`` and ``mouthSmileRight``.
    ``neutral``: 1 minus the smile score (a neutral face is one that does not smile).
    """
    key = str(expression).lower()
    if key not in EXPRESSIONS:
        raise InvalidParameterError(
            f"unknown expression {expression!r} for scoring; valid: {', '.join(sorted(EXPRESSIONS))}"
        )
    names = EXPRESSIONS[key]
    missing = [n for n in names if n not in blendshapes]
    if missing:
        raise InvalidParameterError(f"the blendshape scores lack {', '.join(missing)}")
    smile = float(np.mean([blendshapes[n] for n in names]))
    return 1.0 - smile if key == "neutral" else smile
