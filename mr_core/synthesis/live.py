"""Live expression synthesis: a camera's frames edited one by one as they arrive.

A video file can be read ahead (:mod:`.video` detects every other frame and interpolates the
faces between); a camera cannot: each frame must be edited from what came before it.
:class:`LiveEditor` keeps what one stream needs from frame to frame: a
:class:`~mr_core.face.FaceTracker` that follows the largest face, smooths its keypoints and box
over time (One-Euro filter: steady when the face is still, little lag when it moves), holds it for a
few frames when the detector misses it and fades the edit in and out; and the face's dense
landmarks, smoothed the same way, so the mesh warp does not jitter.  One editor per stream (it is
not shared between users); the model and the intensity are given with every frame, so they can
change while the stream runs.
"""

from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np

from ..errors import InvalidParameterError
from ..face import FaceTracker
from ..face.landmarks import Landmarker
from ..face.pipeline import FacePipeline, check_pipeline
from ..methods import method_of
from .photo import _check_intensity, _edit_faces, check_model_template

__all__ = ["LiveEditor"]

#: Finds of the landmarker over which a face's blendshape scores are averaged (exponentially), for methods
#: that move the face by the difference between asked and measured scores.
SCORE_FRAMES = 4


class LiveEditor:
    """Edit the frames of one live stream, in order (call :meth:`edit` once per frame).

    ``pipeline``: the :class:`~mr_core.face.FacePipeline` whose detector, template and smallest face are
    used (it is thread-safe and holds no per-stream state; default: one of the editor's own, closed by
    :meth:`reset`).  ``landmarker``: the dense landmarks' (default: one of the editor's own, in
    MediaPipe's VIDEO mode, which follows the face from frame to frame, about twice as fast as finding
    it again; closed by :meth:`reset`).  ``tracker``: how faces are
    followed and smoothed (default: a :class:`~mr_core.face.FaceTracker` with its defaults, as for
    videos).  Faces whose eyes are less than the pipeline's ``min_eye_distance`` pixels apart are left
    as they are.
    ``landmarks_every``: for methods that move the face by its landmarks, the landmarker runs on every
    n-th frame; between, the face's last smoothed landmarks are used in its new aligned crop (the crop
    follows the face, so they move with it; what the face does within 1/15 s is below the smoothing's
    own lag).  1: on every frame.  ``detect_every``: the detector runs at least on every n-th frame, and
    is skipped only on frames where the landmarker runs (the face's crop is then placed where the face
    was a frame before, and the landmarks found in it are the face's own now); 1: on every frame.
    """

    def __init__(
        self,
        pipeline: FacePipeline | None = None,
        *,
        landmarker: Landmarker | None = None,
        tracker: FaceTracker | None = None,
        landmarks_every: int = 2,
        detect_every: int = 2,
    ) -> None:
        check_pipeline(pipeline)
        self.pipeline = pipeline
        self.landmarker = landmarker
        self.tracker = tracker
        self.landmarks_every = landmarks_every
        self.detect_every = detect_every
        self._lock = threading.Lock()
        self._tracker: FaceTracker | None = None
        # track id -> (frame found, smoothed landmarks, the landmarker's analysis)
        self._held: dict[int, tuple[int, np.ndarray, object]] = {}
        self._last_t: float | None = None
        self._tracked: list = []  # the faces as last tracked, and the frame they were detected in
        self._detected_at = -1
        self._own_marker: Landmarker | None = None
        self._own_pipeline: FacePipeline | None = None
        self.frames = 0  # frames seen so far
        self.frames_with_face = 0
        self.landmark_runs = 0
        self.detector_runs = 0

    def reset(self) -> None:
        """Forget the faces followed so far (a new stream starts) and release the editor's own landmarker
        and pipeline."""
        with self._lock:
            self._forget()
            if self._own_pipeline is not None:
                self._own_pipeline.close()
                self._own_pipeline = None

    def _pipe(self) -> FacePipeline:
        if self.pipeline is not None:
            return self.pipeline
        if self._own_pipeline is None:
            self._own_pipeline = FacePipeline()
        return self._own_pipeline

    def _forget(self) -> None:
        self._tracker, self._held, self._last_t = None, {}, None
        self._tracked, self._detected_at = [], -1
        if self._own_marker is not None:
            self._own_marker.close()
            self._own_marker = None

    def edit(self, rgb: np.ndarray, model, intensity: float, t: float) -> np.ndarray:
        """The frame ``rgb`` (RGB uint8, H x W x 3) taken at ``t`` seconds, with the largest face given
        ``model``'s expression at ``intensity`` (a new array); a frame without a usable face comes back
        as it is.

        ``t`` must grow from frame to frame (a frame with an earlier time starts the stream anew).
        Raises :class:`~mr_core.errors.InvalidParameterError` for a frame that is not RGB uint8, an
        intensity outside [0, 1.5] or ``landmarks_every`` or ``detect_every`` below 1, and
        :class:`~mr_core.errors.FaceError` for a model aligned on another template.
        """
        a = _check_intensity(intensity)
        every = self.landmarks_every
        for name in ("landmarks_every", "detect_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InvalidParameterError(f"{name} must be an integer >= 1, got {v!r}")
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise InvalidParameterError(
                f"the frame: expected an RGB uint8 image (H, W, 3), got {rgb.dtype} {rgb.shape}"
            )
        t = float(t)
        with self._lock:
            pipe = self._pipe()
            check_model_template(model, pipe.template.name)
            if self._last_t is not None and t <= self._last_t:
                self._forget()
            self._last_t = t
            if self._tracker is None:
                self._tracker = self.tracker if self.tracker is not None else FaceTracker()
            frame = self.frames
            self.frames += 1
            tracked = self._track(rgb, t, frame, every, method_of(model).needs_landmarks)
            alive = {tf.track_id for tf in tracked}
            self._held = {k: v for k, v in self._held.items() if k in alive}
            usable = [tf for tf in tracked if tf.weight > 0 and tf.face.eye_distance >= pipe.min_eye_distance]
            if not usable:
                return rgb
            self.frames_with_face += 1
            if a == 0.0:
                return rgb
            face = usable[0]
            size = tuple(int(v) for v in getattr(model, "image_size_", (128, 128)))
            (aligned,) = pipe.align(rgb, [face.face], size)
            marks = poses = None
            method = method_of(model)
            if method.needs_landmarks:
                held = self._landmarks(face.track_id, aligned.crop, frame, t, every, method.needs_pose)
                if held is None:
                    return rgb
                marks = [held[1]]
                if method.needs_pose:  # the head's pose and the 3-D points, as last found
                    poses = [held[2]]
            out = rgb.copy()
            _edit_faces(out, model, a * face.weight, [aligned], marks, poses=poses)
            return out

    def _track(self, rgb: np.ndarray, t: float, frame: int, every: int, landmarks: bool) -> list:
        """The faces of this frame: detected and tracked, or those of the last detection on a frame where
        the landmarker runs on every usable face (see ``detect_every``).  While a face is missed (held,
        faded out) the detector runs on every frame: the tracker's hold and fade are counted in frames."""
        last = self._tracked
        if (
            last
            and landmarks
            and all(tf.seen for tf in last)
            and frame - self._detected_at < self.detect_every
            and all(
                tf.track_id not in self._held or frame - self._held[tf.track_id][0] >= every for tf in last
            )
        ):
            return last
        self._tracked = self._tracker.update(self._pipe().detector.detect(rgb), t)
        self._detected_at = frame
        self.detector_runs += 1
        return self._tracked

    def _landmarks(self, tid: int, crop: np.ndarray, frame: int, t: float, every: int, pose: bool):
        """``(frame, landmarks, analysis)`` of the face in its crop: found now and smoothed, or the last
        ones (found less than ``every`` frames ago, or when the landmarker misses the face briefly);
        ``None`` when it was never found.  ``pose``: the analysis's blendshape scores are averaged over
        :data:`SCORE_FRAMES` finds, for methods that need the head's pose."""
        held = self._held.get(tid)
        if held is not None and frame - held[0] < every:
            return held
        marker = self.landmarker
        if marker is None:
            if self._own_marker is None or self._own_marker.blendshapes != pose:
                if self._own_marker is not None:
                    self._own_marker.close()
                self._own_marker = Landmarker(blendshapes=pose, video=True)
            marker = self._own_marker
        found = marker.analyze(crop, t) if marker.video else marker.analyze(crop)
        self.landmark_runs += 1
        if found is None:
            return held
        points = self._tracker.smooth(tid, found.landmarks, t)
        analysis = found
        if pose:
            scores = dict(found.blendshapes)
            if (
                held is not None and held[2] is not None
            ):  # the scores steadied: the rig's motion does not flicker
                k = 1.0 / SCORE_FRAMES
                last = held[2].blendshapes
                scores = {n: (1 - k) * last.get(n, v) + k * v for n, v in scores.items()}
            analysis = replace(found, landmarks=points, blendshapes=scores)
        self._held[tid] = (frame, points, analysis)
        return self._held[tid]
