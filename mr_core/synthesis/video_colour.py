"""A clip's frames between YUV and RGB: OpenCV for plain 8-bit BT.601 4:2:0 frames, PyAV otherwise."""

from __future__ import annotations

import cv2
import numpy as np

#: Colour spaces whose YUV -> RGB conversion is BT.601's (what FFmpeg assumes when a clip says none).
_BT601 = {2, 5, 6}  # unspecified, BT.470 BG, SMPTE 170M


def to_rgb(frame) -> tuple[np.ndarray, bool]:
    """The decoded frame as RGB (as stored, not yet rotated) and whether OpenCV converted it.

    8-bit 4:2:0 BT.601 limited-range frames (what FFmpeg also assumes when a clip says nothing)
    are converted by OpenCV, several times faster than swscale and closer to the exact BT.601
    formula; they are converted back the same way (:func:`to_video_frame`).  Others go through
    PyAV (swscale), which reads their colour space and range.
    """
    if (
        frame.format.name == "yuv420p"
        and frame.width % 2 == 0
        and frame.height % 2 == 0
        and int(frame.colorspace) in _BT601
        and int(frame.color_range) in (0, 1)  # unspecified or limited ("MPEG") range
    ):
        return cv2.cvtColor(frame.to_ndarray(format="yuv420p"), cv2.COLOR_YUV2RGB_I420), True
    return frame.to_ndarray(format="rgb24"), False


def to_video_frame(rgb: np.ndarray, fast: bool):
    import av

    if fast:
        return av.VideoFrame.from_ndarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), format="yuv420p")
    return av.VideoFrame.from_ndarray(rgb, format="rgb24")
