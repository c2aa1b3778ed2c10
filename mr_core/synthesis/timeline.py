"""Each decoded frame of a clip checked and timed as it arrives, before it is edited.

A container's header can say anything: no duration, a frame count the file no longer holds, one
picture size while the frames have another, no timestamps at all.  :class:`FrameTimeline` looks at
the frames themselves: each keeps its own timestamp (variable-frame-rate clips, as phones record,
keep their timing); a frame without one, or with one not after the previous frame's, is timed one
frame interval after it (and the clip's notes say so); a frame whose picture size differs from the
stream's, a clip longer than the limit or with more frames than the limit allows stops decoding there
with a sentence (:class:`~mr_core.errors.VideoError`).
"""

from __future__ import annotations

import math
from fractions import Fraction

from ..errors import VideoError

__all__ = ["FrameTimeline", "frame_limit"]


def frame_limit(max_seconds: float, fps: Fraction, max_frames: int | None) -> int | None:
    """Most frames a clip of at most ``max_seconds`` may hold at its frame rate (5 % and two frames of
    slack: the frames' own times are checked too), and never more than ``max_frames``; ``None`` when
    neither bounds it."""
    limits = []
    if max_frames is not None:
        limits.append(int(max_frames))
    if math.isfinite(max_seconds) and fps > 0:
        limits.append(int(math.ceil(1.05 * max_seconds * float(fps))) + 2)
    return min(limits) if limits else None


class FrameTimeline:
    """Time and check the frames of one video stream in presentation order.

    ``label``: how the clip is named in messages; ``size``: the stream's stored (width, height);
    ``time_base`` and ``fps``: the stream's; ``max_seconds``/``max_frames``: the limits.
    """

    def __init__(
        self,
        label: str,
        size: tuple[int, int],
        time_base: Fraction | None,
        fps: Fraction,
        *,
        max_seconds: float = float("inf"),
        max_frames: int | None = None,
    ) -> None:
        self.label = label
        self.size = (int(size[0]), int(size[1]))
        self.fps = Fraction(fps)
        self.time_base = Fraction(time_base) if time_base else Fraction(1, 90000)
        self.max_seconds = float(max_seconds)
        self.max_frames = frame_limit(self.max_seconds, self.fps, max_frames)
        self.step = max(1, round(1 / (self.fps * self.time_base)))  # one frame interval, in ticks
        self.count = 0
        self.retimed = 0
        self.first: int | None = None
        self.last: int | None = None

    def stamp(self, pts: int | None, width: int, height: int) -> tuple[int, float]:
        """The frame's timestamp (in the time base) and its time in seconds from the clip's start;
        raises VideoError when the frame is not one the clip may hold."""
        if (int(width), int(height)) != self.size:
            raise VideoError(
                f"{self.label}: frame {self.count + 1} is {width}x{height} pixels while the clip's frames "
                f"are {self.size[0]}x{self.size[1]}; clips whose picture size changes are not supported, "
                "export it again at one size"
            )
        self.count += 1
        if self.max_frames is not None and self.count > self.max_frames:
            raise VideoError(
                f"{self.label}: the clip holds more than {self.max_frames} frames, over the limit"
                + (f" of {self.max_seconds:g} s" if math.isfinite(self.max_seconds) else "")
                + "; trim it first"
            )
        if pts is None or (self.last is not None and pts <= self.last):
            pts = 0 if self.last is None else self.last + self.step
            self.retimed += 1
        if self.first is None:
            self.first = pts
        self.last = pts
        t = float((pts - self.first) * self.time_base)
        if t > self.max_seconds + 0.05:
            raise VideoError(
                f"{self.label}: the clip runs past {self.max_seconds:g} s (a frame at {t:.1f} s), over the "
                f"limit of {self.max_seconds:g} s; trim it first"
            )
        return pts, t

    def notes(self) -> list[str]:
        """What the user should know about the clip's timing (nothing when every frame had its own)."""
        if not self.retimed:
            return []
        rate = f"{float(self.fps):.4g} frames/s"
        if self.retimed >= self.count:
            return [
                f"{self.label}: the video stream has no timestamps (a raw stream, not a playable clip); "
                f"its frames were timed at {rate}"
            ]
        return [
            f"{self.label}: {self.retimed} of {self.count} frames had no timestamp or one out of order; "
            f"they were timed one frame ({rate}) after the frame before"
        ]
