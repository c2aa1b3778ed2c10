"""A clip's faces: detected on keyframes, followed by the tracker, interpolated between, and the
edits of each frame planned (:class:`KeyframeEditor`; :func:`edit_frame` does them)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np

from ..face import interpolate_faces
from ..face.align import _invert_affine
from ..methods import method_of
from .clock import StageClock
from .live import SCORE_FRAMES
from .photo import _edit_faces


@dataclass(eq=False)
class Frame:
    """One decoded frame on its way through the editor."""

    rgb: np.ndarray | None  # upright RGB, edited in place
    pts: int | None
    time_base: Fraction | None
    t: float  # seconds
    fast: bool  # converted by OpenCV: converted back the same way
    faces: list | None = None  # detected (or interpolated) faces, before tracking
    tracked: list = field(default_factory=list)
    edits: list = field(default_factory=list)  # (TrackedFace, AlignedFace) of the faces to edit
    marks: dict = field(default_factory=dict)  # track id -> landmarks in its crop (as found)
    photo_marks: dict = field(default_factory=dict)  # track id -> the same in frame pixels
    jobs: list = field(
        default_factory=list
    )  # (intensity, aligned faces, landmarks or None, analyses or None)


def crop_to_frame(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Landmarks in crop pixels (the landmarker's convention: pixel centres at +0.5) -> frame pixels."""
    inv = _invert_affine(matrix)
    return (points - 0.5) @ inv[:, :2].T + inv[:, 2]


def frame_to_crop(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    m = np.asarray(matrix, dtype=np.float64)
    return points @ m[:, :2].T + m[:, 2] + 0.5


class KeyframeEditor:
    """Detect, follow, align and find the landmarks of the faces of a clip's frames, in order, and
    say how to edit each frame (its ``jobs``; :func:`edit_frame` does them).

    The detector and the landmarker run on every ``every``-th frame (a keyframe) and on the
    frames between only where they must: there the faces and the landmarks are interpolated
    linearly from the keyframes on either side (the landmarks in frame pixels, then drawn into the
    frame's own crop), which is what the tracker's smoothing makes of them anyway.  A frame between
    keyframes whose faces do not match one to one (one comes, goes or jumps) is detected itself, and
    a face the landmarker missed on either side gets its own landmarks.  The frames between wait
    for the next keyframe (at most ``every - 1`` of them), so nothing is extrapolated.
    """

    def __init__(self, model, a, pipeline, tracker, *, largest_only: bool, every: int, clock: StageClock):
        self.model, self.a, self.pipeline, self.tracker = model, a, pipeline, tracker
        self.detector = pipeline.detector
        self.largest_only, self.min_eye = largest_only, pipeline.min_eye_distance
        self.every = max(1, int(every))
        self.clock = clock
        self.size = tuple(int(v) for v in getattr(model, "image_size_", (128, 128)))
        self.landmarks = a != 0.0 and method_of(model).needs_landmarks
        # methods that need the head's pose get the landmarker's analysis (3-D points, scores)
        self.pose = self.landmarks and method_of(model).needs_pose
        self.marker = pipeline.landmarker(self.pose) if self.landmarks else None
        self.analysis: dict = {}  # track id -> last analysis, its scores averaged (self.pose only)
        self.pending: list[Frame] = []
        self.key: Frame | None = None  # the last keyframe
        self.held: dict[int, np.ndarray] = {}  # track id -> last landmarks used

    def _time(self, stage: str, t0: float) -> float:
        return self.clock.since(stage, t0)

    def push(self, frame: Frame) -> list[Frame]:
        """Take the next frame; returns the frames now edited (in order, possibly none)."""
        if self.key is not None and len(self.pending) < self.every - 1:
            self.pending.append(frame)
            return []
        t0 = time.perf_counter()
        frame.faces = self.detector.detect(frame.rgb)
        self._time("detect", t0)
        return self._run(frame)

    def finish(self) -> list[Frame]:
        """The frames still waiting (the clip ended between keyframes), edited."""
        return self._run(None)

    def _run(self, key: Frame | None) -> list[Frame]:
        prev, between = self.key, self.pending
        frames = between + ([key] if key is not None else [])
        t0 = time.perf_counter()
        for f in between:
            f.faces = None
            if prev is not None and key is not None:
                span = key.t - prev.t
                w = (f.t - prev.t) / span if span > 0 else 0.5
                f.faces = interpolate_faces(prev.faces, key.faces, w, self.tracker.match_distance)
            if f.faces is None:
                f.faces = self.detector.detect(f.rgb)
        for f in frames:
            f.tracked = self.tracker.update(f.faces, f.t)
        t0 = self._time("detect", t0)
        if self.a != 0.0:
            for f in frames:
                faces = [tf for tf in f.tracked if tf.weight > 0 and tf.face.eye_distance >= self.min_eye]
                if self.largest_only:
                    faces = faces[:1]
                crops = self.pipeline.align(f.rgb, [tf.face for tf in faces], self.size)
                f.edits = list(zip(faces, crops, strict=True))
            t0 = self._time("align", t0)
        if self.landmarks:
            if key is not None:
                for tf, al in key.edits:
                    found = self.marker.analyze(al.crop)
                    if found is not None:
                        self._keep_analysis(tf.track_id, found)
                        key.marks[tf.track_id] = found.landmarks
                        key.photo_marks[tf.track_id] = crop_to_frame(found.landmarks, al.matrix)
            for f in between:
                for tf, al in f.edits:
                    tid = tf.track_id
                    if (
                        key is not None
                        and prev is not None
                        and tid in prev.photo_marks
                        and tid in key.photo_marks
                    ):
                        span = key.t - prev.t
                        w = (f.t - prev.t) / span if span > 0 else 0.5
                        pts = (1.0 - w) * prev.photo_marks[tid] + w * key.photo_marks[tid]
                        f.marks[tid] = frame_to_crop(pts, al.matrix)
                    else:
                        found = self.marker.analyze(al.crop)
                        if found is not None:
                            self._keep_analysis(tid, found)
                            f.marks[tid] = found.landmarks
            self._time("landmarks", t0)
        for f in frames:
            self._plan(f)
        self.pending = []
        if key is not None:
            # what the next run reads of it (not its pixels)
            self.key = Frame(None, None, None, key.t, False, faces=key.faces, photo_marks=key.photo_marks)
        return frames

    def _keep_analysis(self, tid: int, found) -> None:
        """Keep a face's analysis for methods that need the pose, its blendshape scores averaged over
        :data:`SCORE_FRAMES` finds (what the rig moves the face by then does not flicker)."""
        if not self.pose:
            return
        last = self.analysis.get(tid)
        scores = dict(found.blendshapes)
        if last is not None:
            k = 1.0 / SCORE_FRAMES
            scores = {n: (1 - k) * last.blendshapes.get(n, v) + k * v for n, v in scores.items()}
        self.analysis[tid] = replace(found, blendshapes=scores)

    def _plan(self, f: Frame) -> None:
        """The frame's edits (``f.jobs``): its faces with their landmarks (smoothed over time, or held
        when briefly missed), grouped by intensity (``a`` times each face's fade weight)."""
        groups: dict[float, tuple[list, list, list]] = {}
        t0 = time.perf_counter()
        for tf, al in f.edits:
            points = None
            if self.landmarks:
                tid = tf.track_id
                points = f.marks.get(tid)
                if points is not None:
                    points = self.held[tid] = self.tracker.smooth(tid, points, f.t)
                else:
                    points = self.held.get(tid)  # briefly missed: the last ones, so the face does not jump
                if points is None:
                    continue
            aligned, marks, poses = groups.setdefault(round(tf.weight, 4), ([], [], []))
            aligned.append(al)
            marks.append(points)
            poses.append(self.analysis.get(tf.track_id))
        self._time("landmarks", t0)
        f.jobs = [
            (self.a * w, aligned, marks if self.landmarks else None, poses if self.pose else None)
            for w, (aligned, marks, poses) in groups.items()
        ]


def edit_frame(model, f: Frame, clock: StageClock) -> None:
    """Do a frame's edits (:meth:`KeyframeEditor._plan`) in place."""
    for a, aligned, marks, poses in f.jobs:
        _edit_faces(f.rgb, model, a, aligned, marks, clock=clock, poses=poses)
