"""One face pipeline for photos, videos, live streams and the editor: find, select, align, analyse.

A :class:`FacePipeline` holds what finding and measuring faces needs: the face detector, the dense
landmarkers (one without blendshape scores for methods that move faces by their landmarks, one with
them for methods that need the head's pose and the face's scores), the alignment template and the
smallest face that is edited.  The library takes one as an argument; the CLI and the demo each own
one.  What the pipeline created it closes in :meth:`FacePipeline.close` (or at the end of a ``with``
block): MediaPipe tasks are never left to the garbage collector (see ``_TASKS`` in :mod:`.landmarks`).
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from ..errors import FaceError, InvalidParameterError
from .align import (
    DEFAULT_TEMPLATE,
    MIN_EYE_DISTANCE,
    AlignedFace,
    DetectedFace,
    Template,
    align_face,
    get_template,
)
from .detect import FaceDetector
from .landmarks import FaceAnalysis, Landmarker

__all__ = ["FacePipeline", "FoundLandmarks", "check_pipeline", "own_pipeline"]


@dataclass
class FoundLandmarks:
    """The landmarker's finds for aligned faces: ``kept`` (indices of the faces with landmarks),
    their ``landmarks`` ((478, 2) each, in crop pixels), ``analyses`` (the full finds) and ``skipped``
    (one sentence per face left out)."""

    kept: list[int] = field(default_factory=list)
    landmarks: list[np.ndarray] = field(default_factory=list)
    analyses: list[FaceAnalysis] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


class FacePipeline:
    """The detector, landmarkers, template and options every synthesis uses to find its faces.

    ``detector``: a :class:`~mr_core.face.FaceDetector` (default: one of the pipeline's own, made on
    first use); ``landmarker`` and ``pose_landmarker``: :class:`~mr_core.face.landmarks.Landmarker`
    without and with blendshape scores (default: the pipeline's own).  ``template``: the alignment
    template; ``min_eye_distance``: faces whose eyes are fewer pixels apart are left as they are.
    Thread-safe (the detector and the landmarkers serialise their calls).
    """

    def __init__(
        self,
        detector: FaceDetector | None = None,
        *,
        landmarker: Landmarker | None = None,
        pose_landmarker: Landmarker | None = None,
        template: str | Template = DEFAULT_TEMPLATE,
        min_eye_distance: float = MIN_EYE_DISTANCE,
    ) -> None:
        self.template = get_template(template)
        try:
            self.min_eye_distance = float(min_eye_distance)
        except (TypeError, ValueError):
            raise InvalidParameterError(
                f"min_eye_distance must be a number, got {min_eye_distance!r}"
            ) from None
        if not self.min_eye_distance >= 0:
            raise InvalidParameterError(f"min_eye_distance must be >= 0, got {min_eye_distance!r}")
        self._detector = detector
        self._markers: dict[bool, Landmarker | None] = {False: landmarker, True: pose_landmarker}
        self._own: list = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FacePipeline(template={self.template.name!r}, min_eye_distance={self.min_eye_distance:g})"

    # ------------------------------------------------------------------ parts
    @property
    def detector(self) -> FaceDetector:
        with self._lock:
            if self._detector is None:
                self._detector = FaceDetector()
                self._own.append(self._detector)
            return self._detector

    def landmarker(self, pose: bool = False) -> Landmarker:
        """The landmarker with blendshape scores (``pose``) or without."""
        pose = bool(pose)
        with self._lock:
            marker = self._markers[pose]
            if marker is None:
                marker = self._markers[pose] = Landmarker(blendshapes=pose)
                self._own.append(marker)
            return marker

    def close(self) -> None:
        """Close the detector and landmarkers the pipeline made (those it was given stay open)."""
        with self._lock:
            own, self._own = self._own, []
            for part in own:
                part.close()
            self._detector = None if self._detector in own else self._detector
            for k, m in self._markers.items():
                if m in own:
                    self._markers[k] = None

    def __enter__(self) -> FacePipeline:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ steps
    def find(self, rgb: np.ndarray, largest_only: bool = False) -> list[DetectedFace]:
        """The faces of a photo, largest first: every face (the small ones of a group photo too, by
        tiles), or the largest alone (no tiles needed)."""
        det = self.detector
        find = getattr(det, "detect_all", None) if not largest_only else None
        faces = find(rgb) if find is not None else det.detect(rgb)
        return faces[:1] if largest_only else faces

    def select(
        self, rgb: np.ndarray, label: str, largest_only: bool = False, faces: list | None = None
    ) -> tuple[list[DetectedFace], list[str]]:
        """(usable faces, skipped): the photo's faces (``faces``, or found now) large enough to edit,
        and a sentence for each too small.  :class:`FaceError` naming ``label`` when none is usable."""
        if faces is None:
            faces = self.find(rgb, largest_only)
        elif largest_only:
            faces = faces[:1]
        if not faces:
            raise FaceError(f"{label}: no face found")
        least = self.min_eye_distance
        usable, skipped = [], []
        for i, face in enumerate(faces):
            if face.eye_distance < least:
                x, y, w, h = face.box
                skipped.append(
                    f"{label}: face {i + 1} at ({x:.0f}, {y:.0f}) is too small to align well "
                    f"(eyes {face.eye_distance:.0f} px apart, need {least:.0f}); left unchanged"
                )
            else:
                usable.append(face)
        if not usable:
            raise FaceError(
                f"{label}: no face large enough to edit ({len(faces)} found, eyes less than {least:.0f} px apart)"
            )
        return usable, skipped

    def align(self, rgb: np.ndarray, faces: list, size: tuple[int, int]) -> list[AlignedFace]:
        """The faces' aligned crops of ``size`` = (h, w) on the pipeline's template."""
        return [align_face(rgb, face, template=self.template, size=size) for face in faces]

    def landmarks(
        self,
        faces: list,
        aligned: list[AlignedFace],
        label: str,
        *,
        pose: bool = False,
        landmarks_filter=None,
    ) -> FoundLandmarks:
        """The landmarks of each aligned face (the analyses with blendshape scores when ``pose``).

        ``landmarks_filter(i, points)``: returns the (478, 2) points to use for the ``i``-th face given
        those found (``None`` when none were), e.g. smoothed over time; ``None`` skips the face."""
        marker = self.landmarker(pose)
        out = FoundLandmarks()
        for i, (face, al) in enumerate(zip(faces, aligned, strict=True)):
            found = marker.analyze(al.crop)
            points = found.landmarks if found is not None else None
            if landmarks_filter is not None:
                points = landmarks_filter(i, points)
            if points is None:
                x, y, w, h = face.box
                out.skipped.append(
                    f"{label}: face at ({x:.0f}, {y:.0f}) has no clear landmarks (turned away, covered "
                    "or blurred); left unchanged"
                )
                continue
            out.kept.append(i)
            out.landmarks.append(points)
            out.analyses.append(found)
        return out


def check_pipeline(pipeline) -> None:
    """Refuse what is not a :class:`FacePipeline` (or ``None``), naming what was given."""
    if pipeline is not None and not isinstance(pipeline, FacePipeline):
        raise InvalidParameterError(
            f"pipeline must be a FacePipeline (e.g. FacePipeline(detector)), got {type(pipeline).__name__}"
        )


@contextmanager
def own_pipeline(pipeline: FacePipeline | None):
    """``pipeline``, or a new one closed at the end of the ``with`` block when it is ``None``."""
    check_pipeline(pipeline)
    if pipeline is not None:
        yield pipeline
        return
    with FacePipeline() as own:
        yield own
