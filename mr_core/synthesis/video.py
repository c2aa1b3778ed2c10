"""Video-level expression synthesis: every frame of a clip through the photo pipeline, as a stream.

:func:`synthesize_video` decodes a clip with PyAV (FFmpeg inside its wheels; no system FFmpeg),
detects the faces of each frame, follows them with a :class:`~mr_core.face.FaceTracker` (matched by
position, smoothed over time, held briefly when missed, faded in and out), edits them as the photo
pipeline does (:func:`mr_core.synthesis.synthesize`: aligned crop, the method's edit, pixels moved and
the change pasted at the frame's own resolution) and encodes the frames as H.264 in MP4: same size,
frame rate, frame timestamps and number of frames as the input, the rotation metadata kept (faces are
found and edited upright), the audio stream copied unchanged when MP4 can hold it (re-encoded as AAC
otherwise).  The detector and the landmarker run on every other frame; the faces and landmarks of
the frames between are interpolated from those on either side (:class:`_Editor`).  Decoding, finding
the faces, editing them and encoding run in four threads beside each other, with a few frames
queued between them, so memory does not grow with the clip's length.  The output is written to a
temporary file beside the target and renamed at the end: a failure leaves nothing at the output path.
"""

from __future__ import annotations

import copy
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ..atomic import make_temporary, publish
from ..errors import InvalidParameterError, VideoError
from ..face import FaceTracker, interpolate_faces
from ..face.align import _invert_affine
from ..face.pipeline import FacePipeline, own_pipeline
from ..methods import method_of
from .live import SCORE_FRAMES
from .photo import _check_intensity, _edit_faces, check_model_template
from .timeline import FrameTimeline

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

#: The stages :attr:`VideoResult.seconds` times: decoding, colour conversion (YUV to RGB and back),
#: detection and tracking, alignment, landmarks, the crops' edit, moving and pasting at the frame's
#: resolution, encoding.  Decoding and encoding (each with its conversion) run in threads of their own,
#: beside the others.
STAGES = ("decode", "convert", "detect", "align", "landmarks", "edit", "paste", "encode")

#: Audio codecs the MP4 muxer takes as they are (others are re-encoded as AAC).
_MP4_AUDIO = {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"}


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


@dataclass
class VideoResult:
    """What :func:`synthesize_video` did: frames written, frames with a face found, frames edited, faces followed,
    the seconds spent per stage (:data:`STAGES`; decoding and encoding run in threads beside the
    others), and notes for the user."""

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


def _reason(exc: BaseException) -> str:
    """FFmpeg's reason without the file names it quotes (a server's temporary paths)."""
    return str(getattr(exc, "strerror", None) or type(exc).__name__)


def _open(path: Path, label: str | None = None):
    import av

    label = str(path) if label is None else label
    if not path.is_file():
        raise VideoError(f"{label}: no such file" if not path.exists() else f"{label}: not a file")
    try:
        return av.open(str(path), mode="r", metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise VideoError(
            f"{label}: not a readable video (corrupt, truncated or not a video file: "
            f"{_reason(exc)}); check the file plays, or export it again"
        ) from None


def _describe(container, path: Path, label: str | None = None) -> tuple[VideoInfo, object, object | None]:
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
    with _open(path) as container:
        info, vs, _ = _describe(container, path)
        rotation = 0
        try:
            for frame in container.decode(vs):
                rotation = _frame_rotation(frame)
                break
        except av.FFmpegError as exc:
            raise VideoError(
                f"{path}: the video cannot be decoded ({_reason(exc)}); the file may be corrupt"
            ) from None
    return _with_rotation(info, rotation)


def _frame_rotation(frame) -> int:
    return int(round(float(getattr(frame, "rotation", 0) or 0) / 90.0)) % 4 * 90


def _with_rotation(info: VideoInfo, rotation: int) -> VideoInfo:
    w, h = (info.height, info.width) if rotation in (90, 270) else (info.width, info.height)
    return VideoInfo(w, h, info.fps, info.seconds, info.frames, rotation, info.codec, info.audio)


def _check_limits(info: VideoInfo, path: Path, limits: VideoLimits, label: str) -> None:
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


# ------------------------------------------------------------------------------ colour conversion
#: Colour spaces whose YUV -> RGB conversion is BT.601's (what FFmpeg assumes when a clip says none).
_BT601 = {2, 5, 6}  # unspecified, BT.470 BG, SMPTE 170M


def _to_rgb(frame) -> tuple[np.ndarray, bool]:
    """The decoded frame as RGB (as stored, not yet rotated) and whether OpenCV converted it.

    8-bit 4:2:0 BT.601 limited-range frames (what FFmpeg also assumes when a clip says nothing)
    are converted by OpenCV, several times faster than swscale and closer to the exact BT.601
    formula; they are converted back the same way (:func:`_to_video_frame`).  Others go through
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


def _to_video_frame(rgb: np.ndarray, fast: bool):
    import av

    if fast:
        return av.VideoFrame.from_ndarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), format="yuv420p")
    return av.VideoFrame.from_ndarray(rgb, format="rgb24")


# ------------------------------------------------------------------------------ the frames' faces
@dataclass(eq=False)
class _Frame:
    """One decoded frame on its way through the editor."""

    rgb: np.ndarray | None  # upright RGB, edited in place
    pts: int | None
    time_base: Fraction | None
    t: float  # seconds
    fast: bool  # converted by OpenCV: converted back the same way
    faces: list | None = None  # detected (or interpolated) faces, before tracking
    tracked: list = field(default_factory=list)
    edits: list = field(default_factory=list)  # (TrackedFace, AlignedFace) of the faces to edit
    marks: dict = field(default_factory=dict)  # track id -> landmarks in its crop (as found)
    photo_marks: dict = field(default_factory=dict)  # track id -> the same in frame pixels
    jobs: list = field(default_factory=list)  # (intensity, aligned faces, landmarks or None, analyses or None)


def _crop_to_frame(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Landmarks in crop pixels (the landmarker's convention: pixel centres at +0.5) -> frame pixels."""
    inv = _invert_affine(matrix)
    return (points - 0.5) @ inv[:, :2].T + inv[:, 2]


def _frame_to_crop(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    m = np.asarray(matrix, dtype=np.float64)
    return points @ m[:, :2].T + m[:, 2] + 0.5


class _Editor:
    """Detect, follow, align and find the landmarks of the faces of a clip's frames, in order, and
    say how to edit each frame (its ``jobs``; :func:`_edit_frame` does them).

    The detector and the landmarker run on every ``every``-th frame (a keyframe) and on the
    frames between only where they must: there the faces and the landmarks are interpolated
    linearly from the keyframes on either side (the landmarks in frame pixels, then drawn into the
    frame's own crop), which is what the tracker's smoothing makes of them anyway.  A frame between
    keyframes whose faces do not match one to one (one comes, goes or jumps) is detected itself, and
    a face the landmarker missed on either side gets its own landmarks.  The frames between wait
    for the next keyframe (at most ``every - 1`` of them), so nothing is extrapolated.
    """

    def __init__(self, model, a, pipeline, tracker, *, largest_only, every, seconds):
        self.model, self.a, self.pipeline, self.tracker = model, a, pipeline, tracker
        self.detector = pipeline.detector
        self.largest_only, self.min_eye = largest_only, pipeline.min_eye_distance
        self.every = max(1, int(every))
        self.seconds = seconds
        self.size = tuple(int(v) for v in getattr(model, "image_size_", (128, 128)))
        self.landmarks = a != 0.0 and method_of(model).needs_landmarks
        # methods that need the head's pose get the landmarker's analysis (3-D points, scores)
        self.pose = self.landmarks and method_of(model).needs_pose
        self.marker = pipeline.landmarker(self.pose) if self.landmarks else None
        self.analysis: dict = {}  # track id -> last analysis, its scores averaged (self.pose only)
        self.pending: list[_Frame] = []
        self.key: _Frame | None = None  # the last keyframe
        self.held: dict[int, np.ndarray] = {}  # track id -> last landmarks used

    def _time(self, stage: str, t0: float) -> float:
        t = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + t - t0
        return t

    def push(self, frame: _Frame) -> list[_Frame]:
        """Take the next frame; returns the frames now edited (in order, possibly none)."""
        if self.key is not None and len(self.pending) < self.every - 1:
            self.pending.append(frame)
            return []
        t0 = time.perf_counter()
        frame.faces = self.detector.detect(frame.rgb)
        self._time("detect", t0)
        return self._run(frame)

    def finish(self) -> list[_Frame]:
        """The frames still waiting (the clip ended between keyframes), edited."""
        return self._run(None)

    def _run(self, key: _Frame | None) -> list[_Frame]:
        prev, between = self.key, self.pending
        frames = between + ([key] if key is not None else [])
        t0 = time.perf_counter()
        for f in between:
            f.faces = None
            if prev is not None and key is not None:
                span = key.t - prev.t
                w = (f.t - prev.t) / span if span > 0 else 0.5
                f.faces = interpolate_faces(prev.faces, key.faces, w, self.tracker.match_distance)
            if f.faces is None:
                f.faces = self.detector.detect(f.rgb)
        for f in frames:
            f.tracked = self.tracker.update(f.faces, f.t)
        t0 = self._time("detect", t0)
        if self.a != 0.0:
            for f in frames:
                faces = [tf for tf in f.tracked if tf.weight > 0 and tf.face.eye_distance >= self.min_eye]
                if self.largest_only:
                    faces = faces[:1]
                crops = self.pipeline.align(f.rgb, [tf.face for tf in faces], self.size)
                f.edits = list(zip(faces, crops, strict=True))
            t0 = self._time("align", t0)
        if self.landmarks:
            if key is not None:
                for tf, al in key.edits:
                    found = self.marker.analyze(al.crop)
                    if found is not None:
                        self._keep_analysis(tf.track_id, found)
                        key.marks[tf.track_id] = found.landmarks
                        key.photo_marks[tf.track_id] = _crop_to_frame(found.landmarks, al.matrix)
            for f in between:
                for tf, al in f.edits:
                    tid = tf.track_id
                    if (
                        key is not None
                        and prev is not None
                        and tid in prev.photo_marks
                        and tid in key.photo_marks
                    ):
                        span = key.t - prev.t
                        w = (f.t - prev.t) / span if span > 0 else 0.5
                        pts = (1.0 - w) * prev.photo_marks[tid] + w * key.photo_marks[tid]
                        f.marks[tid] = _frame_to_crop(pts, al.matrix)
                    else:
                        found = self.marker.analyze(al.crop)
                        if found is not None:
                            self._keep_analysis(tid, found)
                            f.marks[tid] = found.landmarks
            self._time("landmarks", t0)
        for f in frames:
            self._plan(f)
        self.pending = []
        if key is not None:
            # what the next run reads of it (not its pixels)
            self.key = _Frame(None, None, None, key.t, False, faces=key.faces, photo_marks=key.photo_marks)
        return frames

    def _keep_analysis(self, tid: int, found) -> None:
        """Keep a face's analysis for methods that need the pose, its blendshape scores averaged over
        :data:`SCORE_FRAMES` finds (what the rig moves the face by then does not flicker)."""
        if not self.pose:
            return
        last = self.analysis.get(tid)
        scores = dict(found.blendshapes)
        if last is not None:
            k = 1.0 / SCORE_FRAMES
            scores = {n: (1 - k) * last.blendshapes.get(n, v) + k * v for n, v in scores.items()}
        self.analysis[tid] = replace(found, blendshapes=scores)

    def _plan(self, f: _Frame) -> None:
        """The frame's edits (``f.jobs``): its faces with their landmarks (smoothed over time, or held
        when briefly missed), grouped by intensity (``a`` times each face's fade weight)."""
        groups: dict[float, tuple[list, list, list]] = {}
        t0 = time.perf_counter()
        for tf, al in f.edits:
            points = None
            if self.landmarks:
                tid = tf.track_id
                points = f.marks.get(tid)
                if points is not None:
                    points = self.held[tid] = self.tracker.smooth(tid, points, f.t)
                else:
                    points = self.held.get(tid)  # briefly missed: the last ones, so the face does not jump
                if points is None:
                    continue
            aligned, marks, poses = groups.setdefault(round(tf.weight, 4), ([], [], []))
            aligned.append(al)
            marks.append(points)
            poses.append(self.analysis.get(tf.track_id))
        self._time("landmarks", t0)
        f.jobs = [
            (self.a * w, aligned, marks if self.landmarks else None, poses if self.pose else None)
            for w, (aligned, marks, poses) in groups.items()
        ]


def _edit_frame(model, f: _Frame, seconds: dict) -> None:
    """Do a frame's edits (:meth:`_Editor._plan`) in place."""
    for a, aligned, marks, poses in f.jobs:
        _edit_faces(f.rgb, model, a, aligned, marks, seconds=seconds, poses=poses)


# ------------------------------------------------------------------------------ the clip
def synthesize_video(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    model,
    intensity: float = 1.0,
    *,
    largest_only: bool = False,
    pipeline: FacePipeline | None = None,
    limits: VideoLimits | None = None,
    tracker: FaceTracker | None = None,
    progress: Callable[[int, int], None] | None = None,
    crf: int = 18,
    preset: str = "superfast",
    replace: bool = True,
    another_name: Callable[[Path], Path] | None = None,
    detect_every: int = 2,
    label: str | None = None,
) -> VideoResult:
    """Edit every face of every frame of the clip ``src`` and write it to ``dst`` (H.264 MP4).

    ``pipeline``: how faces are found, aligned and measured (:class:`~mr_core.face.FacePipeline`; by
    default one made and closed for this clip).  ``progress(done, total)`` is called after each frame (``total`` is the expected frame count).
    ``replace=False`` never replaces a file at ``dst``, even one created while the clip was edited:
    the result goes to ``another_name(dst)`` (``VideoResult.path``) or ``FileExistsError`` is raised.
    ``detect_every``: the detector and the landmarker run on every n-th frame, the faces and
    landmarks of the frames between are interpolated (see :class:`_Editor`); 1 runs them on every
    frame.  ``label``: how messages name the clip (its path by default; a server passes the name
    the user gave it, so no server path is shown).  Raises :class:`~mr_core.errors.VideoError` for a file that is not a readable video, has no
    video stream, or is over ``limits``; ``dst`` is then left as it was.  Frames without a face pass
    unchanged (``VideoResult.frames_with_face`` counts the others).
    """
    a = _check_intensity(intensity)
    with own_pipeline(pipeline) as pipe:
        check_model_template(model, pipe.template.name)
        return _synthesize_video(
            src, dst, model, a, pipe, largest_only=largest_only, limits=limits, tracker=tracker,
            progress=progress, crf=crf, preset=preset, replace=replace, another_name=another_name,
            detect_every=detect_every, label=label,
        )


def _synthesize_video(
    src, dst, model, a, pipe, *, largest_only, limits, tracker, progress, crf, preset, replace, another_name,
    detect_every, label,
) -> VideoResult:
    import av

    if getattr(model, "refine", 0):
        # no closed-loop correction per frame (a landmarker pass each): the scores are steadied instead
        model = copy.copy(model).set_params(refine=0)
    if isinstance(detect_every, bool) or not isinstance(detect_every, int) or detect_every < 1:
        raise InvalidParameterError(f"detect_every must be an integer >= 1, got {detect_every!r}")
    src, dst = Path(src), Path(dst)
    name = str(src) if label is None else str(label)
    limits = limits or VideoLimits()
    tracker = tracker or FaceTracker()
    min_eye_distance = pipe.min_eye_distance
    timing = {k: 0.0 for k in STAGES}
    editor = _Editor(
        model,
        a,
        pipe,
        tracker,
        largest_only=largest_only,
        every=detect_every,
        seconds=timing,
    )

    with _open(src, name) as container:
        info, vs, audio_in = _describe(container, src, name)
        _check_limits(info, src, limits, name)
        vs.thread_type = "AUTO"
        tmp = make_temporary(dst)
        result = VideoResult(path=dst, info=info)
        try:
            with av.open(str(tmp), mode="w", format="mp4") as out:
                audio_out = None
                resampled = False
                if audio_in is not None:
                    if audio_in.codec_context.name in _MP4_AUDIO:
                        audio_out = out.add_stream_from_template(audio_in)
                        result.audio = "copied"
                    else:
                        audio_out = out.add_stream("aac", rate=audio_in.codec_context.sample_rate or 48000)
                        resampled = True
                        result.audio = "re-encoded as AAC"
                        result.notes.append(
                            f"{name}: the audio ({audio_in.codec_context.name}) cannot go into MP4 as it is; "
                            "re-encoded as AAC"
                        )
                total = info.expected_frames
                pending: list = []  # audio packets that come before the first video frame
                # Four threads, each stage beside the others: the reader decodes, this one finds the
                # faces, the edit stage edits them, the writer encodes (queues of a few frames between).
                timeline = FrameTimeline(
                    name,
                    (vs.width, vs.height),
                    vs.time_base,
                    info.fps,
                    max_seconds=limits.max_seconds,
                    max_frames=limits.max_frames,
                )
                reader = _Reader(container, vs, audio_in, resampled, timeline)
                writer: _Writer | None = None
                edit_seconds = {"edit": 0.0, "paste": 0.0}

                def edit(item) -> None:
                    if isinstance(item, _Frame):
                        _edit_frame(model, item, edit_seconds)
                        item = ("frame", item.rgb, item.pts, item.time_base, item.fast)
                    writer.put(item)

                editing = _Stage("video-edit", edit)

                def emit(frames: list[_Frame]) -> None:
                    for f in frames:
                        editing.put(f)
                        result.frames += 1
                        result.frames_with_face += any(
                            tf.seen and tf.face.eye_distance >= min_eye_distance for tf in f.tracked
                        )
                        result.frames_edited += bool(f.jobs)
                        if progress is not None:
                            progress(result.frames, max(total, result.frames))

                try:
                    for item in reader:
                        if item[0] == "audio":
                            if resampled:
                                for aframe in item[1]:
                                    aframe.pts = None
                                    pending.extend(audio_out.encode(aframe))
                            else:
                                for packet in item[1]:
                                    packet.stream = audio_out
                                    pending.append(packet)
                            if writer is not None:  # the header is written with the video stream
                                editing.put(("packets", pending))
                                pending = []
                            continue
                        _, frame, rotation = item
                        if writer is None:
                            result.info = info = _with_rotation(info, rotation)
                            ostream = _open_video_stream(out, vs, info, rotation, crf, preset)
                            writer = _Writer(out, ostream, rotation)
                            writer.put(("packets", pending))
                            pending = []
                        emit(editor.push(frame))
                    if writer is None:
                        raise VideoError(f"{name}: the video stream holds no frame (empty or corrupt file)")
                    emit(editor.finish())
                    if info.frames and reader.video_packets < info.frames:
                        raise VideoError(
                            f"{name}: the file is cut short: it holds {reader.video_packets} of the "
                            f"{info.frames} frames it lists; export or copy it again"
                        )
                    result.notes.extend(timeline.notes())
                    if resampled:
                        pending.extend(audio_out.encode(None))
                    editing.put(("packets", pending))
                    editing.finish()
                    writer.finish()
                except av.FFmpegError as exc:
                    raise VideoError(
                        f"{name}: the video is corrupt or truncated after {result.frames} frames "
                        f"({_reason(exc)}); "
                        "check the file plays, or export it again"
                    ) from None
                finally:
                    reader.stop()
                    editing.stop()
                    if writer is not None:
                        writer.stop()
                    for part in (reader.seconds, edit_seconds, writer.seconds if writer else {}):
                        for k, v in part.items():
                            timing[k] += v
            result.path = publish(tmp, dst, replace=replace, another_name=another_name)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    result.faces = tracker.track_count
    result.seconds = timing
    return result


class _Reader:
    """Demux and decode in a thread of its own, frames converted to upright RGB (a bounded queue:
    memory stays flat), so that decoding runs beside detection and editing; iterate over it for
    ``("audio", packets or decoded frames)`` and ``("frame", _Frame, rotation)`` in the clip's order.
    Its errors come back to the iterating thread."""

    def __init__(self, container, vs, audio_in, decode_audio: bool, timeline: FrameTimeline) -> None:
        self.container, self.vs, self.audio_in, self.decode_audio = container, vs, audio_in, decode_audio
        self.timeline = timeline
        self.video_packets = 0  # packets with data: a container that lists more was cut short
        self.queue: queue.Queue = queue.Queue(maxsize=4)
        self.seconds = {"decode": 0.0, "convert": 0.0}
        self.frames_read = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="video-reader", daemon=True)
        self.thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self.queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            streams = [self.vs] + ([self.audio_in] if self.audio_in is not None else [])
            packets = iter(self.container.demux(streams))
            rotation = None
            while not self._stop.is_set():
                t0 = time.perf_counter()
                packet = next(packets, None)
                if packet is None:
                    break
                if packet.stream is self.audio_in:
                    if packet.dts is None:
                        continue
                    item = ("audio", list(packet.decode()) if self.decode_audio else [packet])
                    self.seconds["decode"] += time.perf_counter() - t0
                    if not self._put(item):
                        return
                    continue
                self.video_packets += packet.size > 0
                decoded = packet.decode()
                t1 = time.perf_counter()
                self.seconds["decode"] += t1 - t0
                for frame in decoded:
                    if rotation is None:
                        rotation = _frame_rotation(frame)
                    pts, t = self.timeline.stamp(frame.pts, frame.width, frame.height)
                    stored, fast = _to_rgb(frame)
                    rgb = np.ascontiguousarray(np.rot90(stored, rotation // 90)) if rotation else stored
                    item = ("frame", _Frame(rgb, pts, self.timeline.time_base, t, fast), rotation)
                    self.frames_read += 1
                    t2 = time.perf_counter()
                    self.seconds["convert"] += t2 - t1
                    if not self._put(item):
                        return
                    t1 = time.perf_counter()
            self._put(("end",))
        except BaseException as exc:  # handed to the iterating thread
            self._put(("error", exc))

    def __iter__(self):
        while True:
            item = self.queue.get()
            if item[0] == "end":
                return
            if item[0] == "error":
                raise item[1]
            yield item

    def stop(self) -> None:
        """Stop reading (at the end, or when the caller gave up) and wait for the thread."""
        self._stop.set()
        while self.thread.is_alive():
            try:
                self.queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self.thread.join()


class _Stage:
    """A thread that does ``work(item)`` for the items put to it, in order (a bounded queue: memory
    stays flat), beside the caller; its errors come back to the caller by :meth:`put` and :meth:`finish`."""

    def __init__(self, name: str, work: Callable) -> None:
        self.work = work
        self.queue: queue.Queue = queue.Queue(maxsize=4)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            if self.error is not None:
                continue  # keep draining so the producer never blocks
            try:
                self.work(item)
            except BaseException as exc:  # handed to the caller by put() / finish()
                self.error = exc

    def _check(self) -> None:
        if self.error is not None:
            raise self.error

    def put(self, item) -> None:
        self._check()
        self.queue.put(item)

    def finish(self) -> None:
        """Wait for everything put so far to be done."""
        self.stop()
        self._check()

    def stop(self) -> None:
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()


class _Writer(_Stage):
    """Convert, encode and mux in a thread of its own: ``("frame", rgb, pts, time_base, fast)`` and
    ``("packets", packets)`` (audio)."""

    def __init__(self, out, ostream, rotation: int) -> None:
        self.out, self.ostream, self.rotation = out, ostream, rotation
        self.fast_ok = ostream.pix_fmt == "yuv420p"
        self.seconds = {"encode": 0.0, "convert": 0.0}
        super().__init__("video-writer", self._write)

    def _write(self, item) -> None:
        t = time.perf_counter()
        if item[0] == "frame":
            _, rgb, pts, time_base, fast = item
            if self.rotation:
                rgb = np.ascontiguousarray(np.rot90(rgb, -(self.rotation // 90)))
            frame = _to_video_frame(rgb, fast and self.fast_ok)
            frame.pts, frame.time_base = pts, time_base
            t1 = time.perf_counter()
            self.seconds["convert"] += t1 - t
            t = t1
            for p in self.ostream.encode(frame):
                self.out.mux(p)
        elif item[0] == "flush":
            for p in self.ostream.encode(None):
                self.out.mux(p)
        else:
            for p in item[1]:
                self.out.mux(p)
        self.seconds["encode"] += time.perf_counter() - t

    def finish(self) -> None:
        """Flush the encoder and wait for everything to be written."""
        self.put(("flush",))
        super().finish()


def _open_video_stream(out, vs, info: VideoInfo, rotation: int, crf: int, preset: str):
    """The H.264 output stream: stored size and timestamps of the input, its rotation as metadata."""
    stored_w, stored_h = int(vs.width), int(vs.height)
    even = stored_w % 2 == 0 and stored_h % 2 == 0
    ostream = out.add_stream("libx264", rate=info.fps)
    ostream.width = stored_w
    ostream.height = stored_h
    ostream.pix_fmt = "yuv420p" if even else "yuv444p"  # 4:2:0 needs even sides
    ostream.time_base = vs.time_base
    # The encoder counts in the input's own time base too (not 1/frame rate), so every frame keeps
    # its own timestamp: variable-frame-rate clips (phones) keep their timing, none is merged.
    ostream.codec_context.time_base = vs.time_base
    ostream.options = {"crf": str(crf), "preset": preset}
    if rotation:
        ostream.set_display_rotation(rotation)
    return ostream
