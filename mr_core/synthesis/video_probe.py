"""A clip's streams, size, rate, length and rotation (:func:`probe_video`), and the limits it must keep."""

from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from ..errors import VideoError

__all__ = ["VIDEO_SUFFIXES", "VideoInfo", "VideoLimits", "probe_video"]

#: File name endings taken as videos.
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")


@dataclass(frozen=True)
class VideoLimits:
    """Largest clip accepted: seconds, width and height (either orientation), file size in bytes,
    frames.  The seconds, the frame count (at most ``max_seconds`` at the clip's frame rate, and at
    most ``max_frames``) and every frame's size are checked while decoding too, so a container that
    does not tell its length, or tells a wrong one, stops at the limit."""

    max_seconds: float = float("inf")
    max_width: int = 7680
    max_height: int = 4320
    max_bytes: int | None = None
    max_frames: int | None = None


@dataclass(frozen=True)
class VideoInfo:
    """What a clip holds: size as displayed (after rotation), frame rate, length, streams."""

    width: int
    height: int
    fps: Fraction
    seconds: float
    frames: int  # 0 when the container does not say
    rotation: int  # degrees counter-clockwise to display the stored pixels upright (0, 90, 180, 270)
    codec: str
    audio: str | None  # the audio codec's name, or None

    @property
    def expected_frames(self) -> int:
        return self.frames or max(1, round(self.seconds * float(self.fps)))


def reason(exc: BaseException) -> str:
    """FFmpeg's reason without the file names it quotes (a server's temporary paths)."""
    return str(getattr(exc, "strerror", None) or type(exc).__name__)


def open_video(path: Path, label: str | None = None):
    import av

    label = str(path) if label is None else label
    if not path.is_file():
        raise VideoError(f"{label}: no such file" if not path.exists() else f"{label}: not a file")
    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise VideoError(
            f"{label}: not a readable video (corrupt, truncated or not a video file: "
            f"{reason(exc)}); check the file plays, or export it again"
        ) from None


def describe(container, path: Path, label: str | None = None) -> tuple[VideoInfo, object, object | None]:
    label = str(path) if label is None else label
    videos = [s for s in container.streams.video]
    fmt = str(getattr(container.format, "name", "") or "")
    if fmt == "image2" or fmt.endswith("_pipe"):
        raise VideoError(
            f"{label}: the file is a still picture ({fmt.removesuffix('_pipe')}), not a video; "
            "give it a photo's file ending (.jpg, .png) and edit it as a photo"
        )
    if not videos:
        raise VideoError(f"{label}: the file has no video stream (only audio or data); give a video file")
    vs = videos[0]
    ctx = vs.codec_context
    if ctx is None or not ctx.name:
        raise VideoError(f"{label}: the video's codec is not supported; convert it to H.264 MP4 first")
    if not vs.width or not vs.height:
        raise VideoError(f"{label}: the video stream has no picture size (corrupt file); export it again")
    rate = vs.average_rate or vs.guessed_rate or vs.base_rate
    if not rate or rate <= 0:
        raise VideoError(f"{label}: the video has no frame rate (corrupt file); export it again")
    if vs.duration is not None and vs.time_base is not None:
        seconds = float(vs.duration * vs.time_base)
    elif container.duration is not None:
        seconds = container.duration / 1_000_000
    else:
        seconds = 0.0
    audios = list(container.streams.audio)
    audio = audios[0] if audios and audios[0].codec_context is not None else None
    info = VideoInfo(
        width=int(vs.width),
        height=int(vs.height),
        fps=Fraction(rate),
        seconds=seconds,
        frames=int(vs.frames or 0),
        rotation=0,
        codec=str(ctx.name),
        audio=str(audio.codec_context.name) if audio is not None else None,
    )
    return info, vs, audio


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """Size, frame rate, length, rotation and streams of a clip (VideoError when it is not one)."""
    import av

    path = Path(path)
    with open_video(path) as container:
        info, vs, _ = describe(container, path)
        rotation = 0
        try:
            for frame in container.decode(vs):
                rotation = frame_rotation(frame)
                break
        except av.FFmpegError as exc:
            raise VideoError(
                f"{path}: the video cannot be decoded ({reason(exc)}); the file may be corrupt"
            ) from None
    return with_rotation(info, rotation)


def frame_rotation(frame) -> int:
    return int(round(float(getattr(frame, "rotation", 0) or 0) / 90.0)) % 4 * 90


def with_rotation(info: VideoInfo, rotation: int) -> VideoInfo:
    w, h = (info.height, info.width) if rotation in (90, 270) else (info.width, info.height)
    return VideoInfo(w, h, info.fps, info.seconds, info.frames, rotation, info.codec, info.audio)


def check_limits(info: VideoInfo, path: Path, limits: VideoLimits, label: str) -> None:
    path, size = label, path.stat().st_size
    if limits.max_bytes is not None and size > limits.max_bytes:
        raise VideoError(
            f"{path}: the file is {size / 1e6:.1f} MB, over the limit of {limits.max_bytes / 1e6:g} MB; "
            "send a shorter or smaller clip"
        )
    if info.seconds > limits.max_seconds + 0.05:
        raise VideoError(
            f"{path}: the clip is {info.seconds:.1f} s long, over the limit of {limits.max_seconds:g} s; "
            "trim it first"
        )
    long_side, short_side = max(info.width, info.height), min(info.width, info.height)
    if long_side > max(limits.max_width, limits.max_height) or short_side > min(
        limits.max_width, limits.max_height
    ):
        raise VideoError(
            f"{path}: the clip is {info.width}x{info.height} pixels, over the limit of "
            f"{limits.max_width}x{limits.max_height}; scale it down first"
        )
