"""The face pipeline: detection (:mod:`.detect`), alignment on canonical templates (:mod:`.align`),
paste-back (:mod:`.paste`), landmarks with expression scores (:mod:`.landmarks`), and the
:class:`FacePipeline` that holds them for synthesis (:mod:`.pipeline`)."""

from .align import (
    DEFAULT_TEMPLATE,
    KEYPOINT_NAMES,
    MIN_EYE_DISTANCE,
    TEMPLATES,
    AlignedFace,
    DetectedFace,
    Template,
    _check_size,  # noqa: F401  (the CLI checks a model's crop size with it)
    align_face,
    estimate_similarity,
    face_mask,
    get_template,
)
from .detect import ASSETS_DIR, DETECTOR_MODELS, FaceDetector, align_photo, default_detector
from .paste import move_pixels, paste_back
from .pipeline import FacePipeline, FoundLandmarks, own_pipeline
from .tracking import FaceTracker, OneEuroFilter, TrackedFace, interpolate_faces

__all__ = [
    "ASSETS_DIR",
    "DEFAULT_TEMPLATE",
    "DETECTOR_MODELS",
    "KEYPOINT_NAMES",
    "MIN_EYE_DISTANCE",
    "TEMPLATES",
    "AlignedFace",
    "DetectedFace",
    "FaceDetector",
    "FacePipeline",
    "FaceTracker",
    "FoundLandmarks",
    "OneEuroFilter",
    "Template",
    "TrackedFace",
    "align_face",
    "align_photo",
    "default_detector",
    "estimate_similarity",
    "face_mask",
    "get_template",
    "interpolate_faces",
    "move_pixels",
    "own_pipeline",
    "paste_back",
]
