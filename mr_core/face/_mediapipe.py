"""Small helpers shared by the MediaPipe tasks (face detector, face landmarker)."""

from __future__ import annotations

import contextlib
import os
import sys
import threading

import numpy as np

_silence_lock = threading.Lock()
_silence_depth = 0
_silence_saved_fd: int | None = None


@contextlib.contextmanager
def native_stderr_silenced(enabled: bool = True):
    """Silence the native libraries' log lines (written straight to file descriptor 2).

    MediaPipe/LiteRT print INFO and WARNING lines (model loading, memory alignment) that mean
    nothing to a user.  The redirection is process-wide, so it is reference-counted: nested or
    concurrent sections share one redirection and the last one out restores stderr.
    """
    global _silence_depth, _silence_saved_fd
    if not enabled:
        yield
        return
    with _silence_lock:
        if _silence_depth == 0:
            try:
                if sys.stderr is not None:
                    sys.stderr.flush()
                saved = os.dup(2)
                devnull = os.open(os.devnull, os.O_WRONLY)
                try:
                    os.dup2(devnull, 2)
                finally:
                    os.close(devnull)
                _silence_saved_fd = saved
            except (OSError, ValueError):
                _silence_saved_fd = None
        _silence_depth += 1
    try:
        yield
    finally:
        with _silence_lock:
            _silence_depth -= 1
            if _silence_depth == 0 and _silence_saved_fd is not None:
                os.dup2(_silence_saved_fd, 2)
                os.close(_silence_saved_fd)
                _silence_saved_fd = None


def aligned_copy(rgb: np.ndarray, alignment: int = 64) -> np.ndarray:
    """A C-contiguous copy starting on an ``alignment``-byte boundary (what LiteRT wants)."""
    buf = np.empty(rgb.nbytes + alignment, dtype=np.uint8)
    offset = (-buf.ctypes.data) % alignment
    out = buf[offset : offset + rgb.nbytes].reshape(rgb.shape)
    out[...] = rgb
    return out
