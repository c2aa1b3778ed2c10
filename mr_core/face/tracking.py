"""Faces followed across the frames of a video: matching by position, One-Euro smoothing, fading.

Per-frame detection jitters by a pixel or two, which moves the aligned crop and makes an edited
video flicker and wobble.  :class:`FaceTracker` matches each frame's detections to the faces of
the previous frames by position, smooths their keypoints and boxes over time with a
:class:`OneEuroFilter` (strong smoothing when a face is still, little lag when it moves), keeps a
face that the detector misses for a few frames where it was last seen, and fades a face's edit in
when it appears and out when it is gone, so nothing jumps.

:meth:`FaceTracker.smooth` smooths any other per-face point array (e.g. dense landmarks) the same
way, under a name of the caller's choice.  :func:`interpolate_faces` gives the faces of a frame
between two frames whose faces were detected, so that the detector need not run on every frame.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import InvalidParameterError
from .align import DetectedFace

__all__ = ["FaceTracker", "OneEuroFilter", "TrackedFace", "interpolate_faces"]


class OneEuroFilter:
    """The One-Euro filter (Casiez, Roussel & Vogel, CHI 2012) on arrays of any shape.

    A first-order low-pass filter whose cutoff frequency rises with the signal's speed:
    ``cutoff = min_cutoff + beta * |speed| / scale`` (Hz), the speed itself low-passed at
    ``d_cutoff``.  ``scale`` expresses the speed in units that do not depend on the picture's
    resolution (for a face: its eye distance in pixels).  Times are in seconds.
    """

    def __init__(
        self, min_cutoff: float = 1.0, beta: float = 0.5, d_cutoff: float = 1.0, scale: float = 1.0
    ) -> None:
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0 or scale <= 0:
            raise InvalidParameterError(
                "OneEuroFilter needs min_cutoff > 0, d_cutoff > 0, beta >= 0 and scale > 0, got "
                f"{min_cutoff!r}, {d_cutoff!r}, {beta!r}, {scale!r}"
            )
        self.min_cutoff = float(min_cutoff)
        self.beta = float(beta)
        self.d_cutoff = float(d_cutoff)
        self.scale = float(scale)
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t: float | None = None

    @staticmethod
    def _alpha(cutoff, dt: float):
        tau = 1.0 / (2.0 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    def __call__(self, x, t: float) -> np.ndarray:
        """The filtered value of ``x`` observed at time ``t`` (a new float64 array)."""
        x = np.asarray(x, dtype=np.float64)
        if self._x is None or self._x.shape != x.shape or self._t is None or t <= self._t:
            # First sample (or a shape change, or time not moving forward): start from it.
            if self._x is not None and self._x.shape == x.shape and self._t is not None and t <= self._t:
                return self._x.copy()
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), float(t)
            return x.copy()
        dt = float(t) - self._t
        dx = (x - self._x) / dt
        a_d = self._alpha(self.d_cutoff, dt)
        self._dx = self._dx + a_d * (dx - self._dx)
        speed = np.abs(self._dx) / self.scale
        if speed.ndim >= 2:  # a point set moves as a whole: one speed per point
            speed = np.linalg.norm(self._dx, axis=-1, keepdims=True) / self.scale
        a = self._alpha(self.min_cutoff + self.beta * speed, dt)
        self._x = self._x + a * (x - self._x)
        self._t = float(t)
        return self._x.copy()


@dataclass
class TrackedFace:
    """A face of the current frame: smoothed ``face``, its track's id, and the edit's ``weight``.

    ``weight`` in [0, 1] fades the edit in when a track starts and out when it is lost;
    ``seen`` is False while the detector misses the face (it is then held where it was last).
    """

    track_id: int
    face: DetectedFace
    weight: float
    seen: bool


@dataclass
class _Track:
    track_id: int
    face: DetectedFace
    weight: float
    missed: int = 0
    filters: dict[str, OneEuroFilter] = field(default_factory=dict)


def _centre(face: DetectedFace) -> np.ndarray:
    return (face.keypoints[0] + face.keypoints[1]) / 2.0


class FaceTracker:
    """Follow the faces of a video's frames (call :meth:`update` once per frame, in order).

    ``hold``: frames a missed face is kept at full strength where it was last seen; ``fade``:
    frames over which an edit fades in (a face that appears after the first frame) and out (after
    the hold).  ``min_cutoff`` (Hz) and ``beta`` tune the One-Euro smoothing (lower cutoff:
    steadier; higher beta: less lag in fast motion).  A detection matches a track when the eye
    midpoints are less than ``match_distance`` eye distances apart.
    """

    def __init__(
        self,
        *,
        hold: int = 3,
        fade: int = 5,
        min_cutoff: float = 0.8,
        beta: float = 2.0,
        match_distance: float = 1.0,
    ) -> None:
        if hold < 0 or fade < 1 or match_distance <= 0:
            raise InvalidParameterError(
                f"FaceTracker needs hold >= 0, fade >= 1 and match_distance > 0, got {hold!r}, {fade!r}, "
                f"{match_distance!r}"
            )
        self.hold = int(hold)
        self.fade = int(fade)
        self.min_cutoff = float(min_cutoff)
        self.beta = float(beta)
        self.match_distance = float(match_distance)
        self._tracks: list[_Track] = []
        self._next_id = 0
        self._frames = 0

    @property
    def track_count(self) -> int:
        """How many distinct faces have been followed so far."""
        return self._next_id

    def smooth(self, track_id: int, points, t: float, name: str = "landmarks") -> np.ndarray:
        """``points`` (any array of (x, y) in pixels) smoothed over time for the face ``track_id``.

        Each ``name`` has its own filter; the speed is measured in the face's eye distances.
        Unknown ``track_id``: ``points`` are returned as they are.
        """
        for track in self._tracks:
            if track.track_id == track_id:
                filt = track.filters.get(name)
                if filt is None:
                    filt = OneEuroFilter(self.min_cutoff, self.beta, scale=max(track.face.eye_distance, 1.0))
                    track.filters[name] = filt
                return filt(points, t)
        return np.asarray(points, dtype=np.float64).copy()

    def _smoothed(self, track: _Track, face: DetectedFace, t: float) -> DetectedFace:
        kps = self.smooth(track.track_id, face.keypoints, t, name="keypoints")
        x, y, w, h = face.box
        corners = np.array([[x, y], [x + w, y + h]], dtype=np.float64)
        c = self.smooth(track.track_id, corners, t, name="box")
        box = (float(c[0, 0]), float(c[0, 1]), float(c[1, 0] - c[0, 0]), float(c[1, 1] - c[0, 1]))
        return DetectedFace(box=box, keypoints=kps, score=face.score)

    def update(self, faces: list[DetectedFace], t: float) -> list[TrackedFace]:
        """This frame's faces (detections at time ``t`` seconds), tracked and smoothed, largest first."""
        first_frame = self._frames == 0
        self._frames += 1
        # Greedy matching, closest pairs first.
        pairs = []
        for ti, track in enumerate(self._tracks):
            ref = _centre(track.face)
            limit = self.match_distance * max(track.face.eye_distance, 1.0)
            for di, face in enumerate(faces):
                d = float(np.linalg.norm(_centre(face) - ref))
                if d < limit:
                    pairs.append((d, ti, di))
        pairs.sort()
        used_t: set[int] = set()
        used_d: set[int] = set()
        seen: set[int] = set()
        for _, ti, di in pairs:
            if ti in used_t or di in used_d:
                continue
            used_t.add(ti)
            used_d.add(di)
            track = self._tracks[ti]
            track.face = self._smoothed(track, faces[di], t)
            track.missed = 0
            track.weight = min(1.0, track.weight + 1.0 / self.fade)
            seen.add(track.track_id)
        for di, face in enumerate(faces):
            if di in used_d:
                continue
            track = _Track(self._next_id, face, weight=1.0 if first_frame else 1.0 / self.fade)
            self._next_id += 1
            track.face = self._smoothed(track, face, t)
            self._tracks.append(track)
            seen.add(track.track_id)
        kept = []
        for track in self._tracks:
            if track.track_id not in seen:
                track.missed += 1
                if track.missed > self.hold:
                    track.weight -= 1.0 / self.fade
            if track.weight > 1e-6:
                kept.append(track)
        self._tracks = kept
        out = [
            TrackedFace(track.track_id, track.face, float(track.weight), track.track_id in seen)
            for track in self._tracks
        ]
        out.sort(key=lambda tf: tf.face.area, reverse=True)
        return out


def interpolate_faces(
    before: list[DetectedFace], after: list[DetectedFace], w: float, match_distance: float = 1.0
) -> list[DetectedFace] | None:
    """The faces of a frame between two frames' detections, moved linearly (``w`` = 0: ``before``,
    1: ``after``), largest first.

    Each face of ``after`` must match one face of ``before`` (eye midpoints less than
    ``match_distance`` eye distances apart) and the other way round; otherwise (a face comes, goes
    or jumps) ``None``: the frame in between must be detected itself.
    """
    if len(before) != len(after):
        return None
    w = float(min(max(w, 0.0), 1.0))
    out = []
    used: set[int] = set()
    for face in after:
        centre = _centre(face)
        best, best_d = None, math.inf
        for i, other in enumerate(before):
            d = float(np.linalg.norm(_centre(other) - centre))
            limit = match_distance * max(min(other.eye_distance, face.eye_distance), 1.0)
            if i not in used and d < limit and d < best_d:
                best, best_d = i, d
        if best is None:
            return None
        used.add(best)
        a = before[best]
        box = tuple(float((1.0 - w) * p + w * q) for p, q in zip(a.box, face.box, strict=True))
        kps = (1.0 - w) * np.asarray(a.keypoints, dtype=np.float64) + w * np.asarray(
            face.keypoints, dtype=np.float64
        )
        out.append(DetectedFace(box=box, keypoints=kps, score=(1.0 - w) * a.score + w * face.score))
    out.sort(key=lambda f: f.area, reverse=True)
    return out
