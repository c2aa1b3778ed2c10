"""Synthesis on top of the face pipeline and the methods: photos (:mod:`.photo`), videos (:mod:`.video`)."""

from .editing import editor_notes, make_editor, reference_scores
from .photo import MAX_INTENSITY, FaceResult, SynthesisResult, check_model_template, synthesize
from .video import (
    VIDEO_SUFFIXES,
    VideoInfo,
    VideoLimits,
    VideoOptions,
    VideoResult,
    probe_video,
    synthesize_video,
)

__all__ = [
    "MAX_INTENSITY",
    "VIDEO_SUFFIXES",
    "FaceResult",
    "SynthesisResult",
    "VideoInfo",
    "VideoLimits",
    "VideoOptions",
    "VideoResult",
    "check_model_template",
    "editor_notes",
    "make_editor",
    "probe_video",
    "reference_scores",
    "synthesize",
    "synthesize_video",
]
