"""Synthesis on top of the face pipeline and the methods: photos (:mod:`.photo`)."""

from .photo import MAX_INTENSITY, FaceResult, SynthesisResult, check_model_template, synthesize

__all__ = ["MAX_INTENSITY", "FaceResult", "SynthesisResult", "check_model_template", "synthesize"]
