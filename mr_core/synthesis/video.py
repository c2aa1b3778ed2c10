"""Video-level expression synthesis: every frame of a clip through the photo pipeline, as a stream.

:func:`synthesize_video` decodes a clip with PyAV (FFmpeg inside its wheels; no system FFmpeg),
detects the faces of each frame, follows them with a :class:`~mr_core.face.FaceTracker` (matched by
position, smoothed over time, held briefly when missed, faded in and out), edits them with
:func:`mr_core.synthesis.synthesize` and encodes the frames as H.264 in MP4: same size, frame rate,
frame timestamps and number of frames as the input, the rotation metadata kept (faces are found and
edited upright), the audio stream copied unchanged when MP4 can hold it (re-encoded as AAC
otherwise).  Frames go through one at a time, so memory does not grow with the clip's length.  The
output is written to a temporary file beside the target and renamed at the end: a failure leaves
nothing at the output path.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..atomic import make_temporary, publish
from ..errors import FaceError, VideoError
from ..face import MIN_EYE_DISTANCE, FaceDetector, FaceTracker, default_detector
from .photo import _check_intensity, check_model_template, synthesize

__all__ = [
    "VIDEO_SUFFIXES",
    "VideoInfo",
    "VideoLimits",
    "VideoResult",
    "probe_video",
    "synthesize_video",
]

#: File name endings taken as videos.
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")

#: Audio codecs the MP4 muxer takes as they are (others are re-encoded as AAC).
_MP4_AUDIO = {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"}


@dataclass(frozen=True)
class VideoLimits:
    """Largest clip accepted: seconds, width and height (either orientation), file size in bytes."""

    max_seconds: float = float("inf")
    max_width: int = 7680
    max_height: int = 4320
    max_bytes: int | None = None

    def describe(self) -> str:
        parts = []
        if self.max_seconds != float("inf"):
            parts.append(f"at most {self.max_seconds:g} s long")
        parts.append(f"at most {self.max_width}x{self.max_height} pixels")
        if self.max_bytes is not None:
            parts.append(f"at most {self.max_bytes / 1e6:g} MB")
        return ", ".join(parts)


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


@dataclass
class VideoResult:
    """What :func:`synthesize_video` did: frames written, frames with a face found, frames edited, faces followed,
    the seconds spent per stage (decode, detect, edit; encode, which runs in a thread beside them), and
    notes for the user."""

    path: Path
    info: VideoInfo
    frames: int = 0
    frames_with_face: int = 0  # frames where a face large enough to edit was found
    frames_edited: int = 0  # those plus the frames a briefly lost face is held and faded out in
    faces: int = 0
    audio: str = "none"  # "copied", "re-encoded as AAC" or "none"
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"{self.frames} frames, {self.frames_with_face} with a face "
            f"({self.faces} face{'s' if self.faces != 1 else ''} followed), audio {self.audio}"
        )


def _open(path: Path):
    import av

    label = str(path)
    if not path.is_file():
        raise VideoError(f"{label}: no such file" if not path.exists() else f"{label}: not a file")
    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise VideoError(
            f"{label}: not a readable video (corrupt, truncated or not a video file: "
            f"{getattr(exc, 'strerror', None) or exc}); check the file plays, or export it again"
        ) from None


def _describe(container, path: Path) -> tuple[VideoInfo, object, object | None]:
    label = str(path)
    videos = [s for s in container.streams.video]
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
    with _open(path) as container:
        info, vs, _ = _describe(container, path)
        rotation = 0
        try:
            for frame in container.decode(vs):
                rotation = _frame_rotation(frame)
                break
        except av.FFmpegError as exc:
            raise VideoError(
                f"{path}: the video cannot be decoded ({exc}); the file may be corrupt"
            ) from None
    return _with_rotation(info, rotation)


def _frame_rotation(frame) -> int:
    return int(round(float(getattr(frame, "rotation", 0) or 0) / 90.0)) % 4 * 90


def _with_rotation(info: VideoInfo, rotation: int) -> VideoInfo:
    w, h = (info.height, info.width) if rotation in (90, 270) else (info.width, info.height)
    return VideoInfo(w, h, info.fps, info.seconds, info.frames, rotation, info.codec, info.audio)


def _check_limits(info: VideoInfo, path: Path, limits: VideoLimits) -> None:
    size = path.stat().st_size
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


def _edit_frame(
    rgb, tracked, model, a, *, largest_only, min_eye_distance, tracker=None, t: float = 0.0, held=None
) -> tuple[np.ndarray, bool]:
    """The frame with its tracked faces edited (each at ``a`` times its fade weight).

    For methods that move each face by its own landmarks, the landmarks are smoothed over time per
    track (``tracker``) and, in a frame where the landmarker misses a tracked face, the track's last
    ones are used (``held``: track id -> landmarks), so a briefly lost face does not jump.
    """
    faces = [tf for tf in tracked if tf.weight > 0 and tf.face.eye_distance >= min_eye_distance]
    if largest_only:
        faces = faces[:1]
    if not faces or a == 0.0:
        return rgb, False
    groups: dict[float, list] = {}
    for tf in faces:
        groups.setdefault(round(tf.weight, 4), []).append(tf)
    out = rgb
    for weight, group in groups.items():

        def landmarks(i, points, group=group):
            tid = group[i].track_id
            if points is None:
                return None if held is None else held.get(tid)
            smoothed = tracker.smooth(tid, points, t) if tracker is not None else points
            if held is not None:
                held[tid] = smoothed
            return smoothed

        try:
            out = synthesize(
                out,
                model,
                a * weight,
                faces=[tf.face for tf in group],
                min_eye_distance=min_eye_distance,
                landmarks_filter=landmarks,
            ).image
        except FaceError:
            continue
    return out, out is not rgb


def synthesize_video(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    model,
    intensity: float = 1.0,
    *,
    largest_only: bool = False,
    detector: FaceDetector | None = None,
    min_eye_distance: float = MIN_EYE_DISTANCE,
    limits: VideoLimits | None = None,
    tracker: FaceTracker | None = None,
    progress: Callable[[int, int], None] | None = None,
    crf: int = 18,
    preset: str = "superfast",
    replace: bool = True,
    another_name: Callable[[Path], Path] | None = None,
) -> VideoResult:
    """Edit every face of every frame of the clip ``src`` and write it to ``dst`` (H.264 MP4).

    ``progress(done, total)`` is called after each frame (``total`` is the expected frame count).
    ``replace=False`` never replaces a file at ``dst``, even one created while the clip was edited:
    the result goes to ``another_name(dst)`` (``VideoResult.path``) or ``FileExistsError`` is raised.
    Raises :class:`~mr_core.errors.VideoError` for a file that is not a readable video, has no
    video stream, or is over ``limits``; ``dst`` is then left as it was.  Frames without a face pass
    unchanged (``VideoResult.frames_with_face`` counts the others).
    """
    import av

    a = _check_intensity(intensity)
    check_model_template(model)
    src, dst = Path(src), Path(dst)
    limits = limits or VideoLimits()
    det = detector if detector is not None else default_detector()
    tracker = tracker or FaceTracker()
    held_landmarks: dict[int, np.ndarray] = {}
    timing = {"decode": 0.0, "detect": 0.0, "edit": 0.0, "encode": 0.0}

    with _open(src) as container:
        info, vs, audio_in = _describe(container, src)
        _check_limits(info, src, limits)
        vs.thread_type = "AUTO"
        tmp = make_temporary(dst)
        result = VideoResult(path=dst, info=info)
        try:
            with av.open(str(tmp), mode="w", format="mp4") as out:
                ostream = None
                audio_out = None
                resampled = None
                if audio_in is not None:
                    if audio_in.codec_context.name in _MP4_AUDIO:
                        audio_out = out.add_stream_from_template(audio_in)
                        result.audio = "copied"
                    else:
                        audio_out = out.add_stream("aac", rate=audio_in.codec_context.sample_rate or 48000)
                        resampled = True
                        result.audio = "re-encoded as AAC"
                        result.notes.append(
                            f"{src}: the audio ({audio_in.codec_context.name}) cannot go into MP4 as it is; "
                            "re-encoded as AAC"
                        )
                total = info.expected_frames
                streams = [vs] + ([audio_in] if audio_in is not None else [])
                rotation = None
                pending: list = []  # audio packets that come before the first video frame
                writer: _Writer | None = None  # encodes and writes in a thread of its own
                t0 = time.perf_counter()
                try:
                    for packet in container.demux(streams):
                        if packet.stream is audio_in:
                            if packet.dts is None:
                                continue
                            if resampled:
                                for aframe in packet.decode():
                                    aframe.pts = None
                                    pending.extend(audio_out.encode(aframe))
                            else:
                                packet.stream = audio_out
                                pending.append(packet)
                            if writer is not None:  # the header is written with the video stream
                                writer.put(("packets", pending))
                                pending = []
                            continue
                        for frame in packet.decode():
                            if rotation is None:
                                rotation = _frame_rotation(frame)
                                result.info = info = _with_rotation(info, rotation)
                                ostream = _open_video_stream(out, vs, info, rotation, crf, preset)
                                writer = _Writer(out, ostream, timing)
                                writer.put(("packets", pending))
                                pending = []
                            stored = frame.to_ndarray(format="rgb24")
                            rgb = np.rot90(stored, rotation // 90) if rotation else stored
                            rgb = np.ascontiguousarray(rgb)
                            t1 = time.perf_counter()
                            timing["decode"] += t1 - t0
                            t = (
                                float(frame.time)
                                if frame.time is not None
                                else result.frames / float(info.fps)
                            )
                            tracked = tracker.update(det.detect(rgb), t)
                            t2 = time.perf_counter()
                            edited, changed = _edit_frame(
                                rgb,
                                tracked,
                                model,
                                a,
                                largest_only=largest_only,
                                min_eye_distance=min_eye_distance,
                                tracker=tracker,
                                t=t,
                                held=held_landmarks,
                            )
                            t3 = time.perf_counter()
                            if rotation:
                                edited = np.ascontiguousarray(np.rot90(edited, -(rotation // 90)))
                            writer.put(("frame", edited, frame.pts, frame.time_base))
                            t0 = time.perf_counter()
                            timing["detect"] += t2 - t1
                            timing["edit"] += t3 - t2
                            result.frames += 1
                            result.frames_with_face += any(
                                tf.seen and tf.face.eye_distance >= min_eye_distance for tf in tracked
                            )
                            result.frames_edited += bool(changed)
                            if progress is not None:
                                progress(result.frames, max(total, result.frames))
                    if writer is None:
                        raise VideoError(f"{src}: the video stream holds no frame (empty or corrupt file)")
                    if resampled:
                        pending.extend(audio_out.encode(None))
                    writer.put(("packets", pending))
                    writer.finish()
                except av.FFmpegError as exc:
                    raise VideoError(
                        f"{src}: the video is corrupt or truncated after {result.frames} frames ({exc}); "
                        "check the file plays, or export it again"
                    ) from None
                finally:
                    if writer is not None:
                        writer.stop()
            result.path = publish(tmp, dst, replace=replace, another_name=another_name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    result.faces = tracker.track_count
    result.seconds = timing
    return result


class _Writer:
    """Encode and mux in a thread of its own (a bounded queue: memory stays flat), so that encoding
    runs beside decoding, detection and editing; its errors come back to the caller."""

    def __init__(self, out, ostream, timing: dict) -> None:
        self.out, self.ostream, self.timing = out, ostream, timing
        self.queue: queue.Queue = queue.Queue(maxsize=4)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="video-writer", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        import av

        while True:
            item = self.queue.get()
            if item is None:
                return
            if self.error is not None:
                continue  # keep draining so the producer never blocks
            t = time.perf_counter()
            try:
                if item[0] == "frame":
                    _, rgb, pts, time_base = item
                    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
                    frame.pts, frame.time_base = pts, time_base
                    for p in self.ostream.encode(frame):
                        self.out.mux(p)
                elif item[0] == "flush":
                    for p in self.ostream.encode(None):
                        self.out.mux(p)
                else:
                    for p in item[1]:
                        self.out.mux(p)
            except BaseException as exc:  # handed to the caller by put() / finish()
                self.error = exc
            self.timing["encode"] += time.perf_counter() - t

    def _check(self) -> None:
        if self.error is not None:
            raise self.error

    def put(self, item) -> None:
        self._check()
        self.queue.put(item)

    def finish(self) -> None:
        """Flush the encoder and wait for everything to be written."""
        self.put(("flush",))
        self.stop()
        self._check()

    def stop(self) -> None:
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()


def _open_video_stream(out, vs, info: VideoInfo, rotation: int, crf: int, preset: str):
    """The H.264 output stream: stored size and timestamps of the input, its rotation as metadata."""
    stored_w, stored_h = int(vs.width), int(vs.height)
    even = stored_w % 2 == 0 and stored_h % 2 == 0
    ostream = out.add_stream("libx264", rate=info.fps)
    ostream.width = stored_w
    ostream.height = stored_h
    ostream.pix_fmt = "yuv420p" if even else "yuv444p"  # 4:2:0 needs even sides
    ostream.time_base = vs.time_base
    ostream.options = {"crf": str(crf), "preset": preset}
    if rotation:
        ostream.set_display_rotation(rotation)
    return ostream
