"""Errors a user can act on.

Every exception the library raises on purpose derives from :class:`MRError`; its
message is one sentence that names the file or field and the reason.  The command
line prints that sentence and exits non-zero, the web UI shows it in a ``gr.Error``.
"""

from __future__ import annotations


class MRError(Exception):
    """Base class: an error with a one-sentence, user-facing message."""


class InvalidParameterError(MRError, ValueError):
    """A constructor or function argument is out of range (names the valid choices)."""


class NotFittedError(MRError, RuntimeError):
    """``predict`` or ``save`` was called before ``fit``/``partial_fit``."""


class BackendError(MRError, RuntimeError):
    """A compute backend is unknown or cannot run on this machine."""


class ModelFileError(MRError, ValueError):
    """A model file is missing, corrupt, truncated or does not match what is asked of it."""


class DataError(MRError, ValueError):
    """Training/test data is missing, unpaired, unreadable or inconsistent."""


class ImageReadError(DataError):
    """One image file cannot be read (not an image, truncated, too large, ...)."""


class FaceError(MRError, ValueError):
    """No usable face was found in a photo, or a crop does not match the model's template."""


class VideoError(DataError):
    """A video file cannot be read or written (not a video, corrupt, no video stream, over a limit)."""
