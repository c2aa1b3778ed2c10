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

The stages live in their own modules: the clip's streams and limits (:mod:`.video_probe`), YUV and RGB
(:mod:`.video_colour`), the faces on keyframes and between (:mod:`.video_faces`), the reader, edit stage
and writer threads (:mod:`.video_stages`).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import make_temporary, publish
from ..errors import InvalidParameterError, VideoError
from ..face import FaceTracker
from ..face.pipeline import FacePipeline, own_pipeline
from .clock import StageClock
from .photo import _check_intensity, check_model_template
from .timeline import FrameTimeline
from .video_faces import Frame, KeyframeEditor, edit_frame
from .video_probe import (
    VIDEO_SUFFIXES,
    VideoInfo,
    VideoLimits,
    check_limits,
    describe,
    open_video,
    probe_video,
    reason,
    with_rotation,
)
from .video_stages import MP4_AUDIO, Reader, Stage, Writer, open_video_stream

__all__ = [
    "VIDEO_SUFFIXES",
    "VideoInfo",
    "VideoLimits",
    "VideoOptions",
    "VideoResult",
    "probe_video",
    "synthesize_video",
]

#: The stages :attr:`VideoResult.seconds` times: decoding, colour conversion (YUV to RGB and back),
#: detection and tracking, alignment, landmarks, the crops' edit, moving and pasting at the frame's
#: resolution, encoding.  Decoding and encoding (each with its conversion) run in threads of their own,
#: beside the others.
STAGES = ("decode", "convert", "detect", "align", "landmarks", "edit", "paste", "encode")
#: x264's speed presets (``VideoOptions.preset``).
X264_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"
)  # fmt: skip


@dataclass(frozen=True)
class VideoOptions:
    """How a clip is edited and encoded.

    ``largest_only``: edit only the largest face of each frame.  ``detect_every``: the detector and the
    landmarker run on every n-th frame, the faces and landmarks of the frames between are interpolated
    (see :class:`~.video_faces.KeyframeEditor`); 1 runs them on every frame.  ``crf`` and ``preset``:
    the H.264 encoder's quality (0 lossless .. 51) and speed.
    """

    largest_only: bool = False
    detect_every: int = 2
    crf: int = 18
    preset: str = "superfast"

    def __post_init__(self) -> None:
        every = self.detect_every
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise InvalidParameterError(f"detect_every must be an integer >= 1, got {every!r}")
        if isinstance(self.crf, bool) or not isinstance(self.crf, int) or not 0 <= self.crf <= 51:
            raise InvalidParameterError(f"crf must be an integer in 0..51, got {self.crf!r}")
        if self.preset not in X264_PRESETS:
            raise InvalidParameterError(
                f"preset must be one of {', '.join(X264_PRESETS)}, got {self.preset!r}"
            )


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


def synthesize_video(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    model,
    intensity: float = 1.0,
    *,
    pipeline: FacePipeline | None = None,
    options: VideoOptions | None = None,
    limits: VideoLimits | None = None,
    progress: Callable[[int, int], None] | None = None,
    replace: bool = True,
    another_name: Callable[[Path], Path] | None = None,
    label: str | None = None,
) -> VideoResult:
    """Edit every face of every frame of the clip ``src`` and write it to ``dst`` (H.264 MP4).

    ``pipeline``: how faces are found, aligned and measured (:class:`~mr_core.face.FacePipeline`; by
    default one made and closed for this clip); ``options``: what is edited and how it is encoded
    (:class:`VideoOptions`); ``limits``: the largest clip taken (:class:`VideoLimits`).
    ``progress(done, total)`` is called after each frame (``total`` is the expected frame count).
    ``replace=False`` never replaces a file at ``dst``, even one created while the clip was edited:
    the result goes to ``another_name(dst)`` (``VideoResult.path``) or ``FileExistsError`` is raised.
    ``label``: how messages name the clip (its path by default; a server passes the name the user gave
    it, so no server path is shown).  Raises :class:`~mr_core.errors.VideoError` for a file that is not a
    readable video, has no video stream, or is over ``limits``; ``dst`` is then left as it was.  Frames
    without a face pass unchanged (``VideoResult.frames_with_face`` counts the others).
    """
    import av

    a = _check_intensity(intensity)
    options = options if options is not None else VideoOptions()
    limits = limits or VideoLimits()
    if getattr(model, "refine", 0):
        # no closed-loop correction per frame (a landmarker pass each): the scores are steadied instead
        model = copy.copy(model).set_params(refine=0)
    src, dst = Path(src), Path(dst)
    name = str(src) if label is None else str(label)
    with own_pipeline(pipeline) as pipe:
        check_model_template(model, pipe.template.name)
        with open_video(src, name) as container:
            info, vs, audio_in = describe(container, src, name)
            check_limits(info, src, limits, name)
            vs.thread_type = "AUTO"
            tmp = make_temporary(dst)
            result = VideoResult(path=dst, info=info)
            clip = _Clip(model, a, pipe, options, result, progress, name)
            try:
                with av.open(str(tmp), mode="w", format="mp4") as out:
                    clip.run(container, vs, audio_in, out, limits)
                result.path = publish(tmp, dst, replace=replace, another_name=another_name)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
    result.faces = clip.tracker.track_count
    result.seconds = clip.clock.report(STAGES)
    return result


class _Clip:
    """One clip's run: the reader decodes, this thread finds the faces (:class:`KeyframeEditor`), the
    edit stage edits them, the writer encodes; queues of a few frames between them."""

    def __init__(self, model, a: float, pipe: FacePipeline, options: VideoOptions, result, progress, name):
        self.model, self.result, self.progress, self.name, self.options = (
            model,
            result,
            progress,
            name,
            options,
        )
        self.min_eye = pipe.min_eye_distance
        self.tracker = FaceTracker()
        self.clock = StageClock()  # this thread's; the others' are added at the end
        self.editor = KeyframeEditor(
            model,
            a,
            pipe,
            self.tracker,
            largest_only=options.largest_only,
            every=options.detect_every,
            clock=self.clock,
        )
        self.edit_clock = StageClock()
        self.writer: Writer | None = None
        self.editing: Stage | None = None

    def _edit(self, item) -> None:
        if isinstance(item, Frame):
            edit_frame(self.model, item, self.edit_clock)
            item = ("frame", item.rgb, item.pts, item.time_base, item.fast)
        self.writer.put(item)

    def _emit(self, frames: list[Frame], total: int) -> None:
        result = self.result
        for f in frames:
            self.editing.put(f)
            result.frames += 1
            result.frames_with_face += any(
                tf.seen and tf.face.eye_distance >= self.min_eye for tf in f.tracked
            )
            result.frames_edited += bool(f.jobs)
            if self.progress is not None:
                self.progress(result.frames, max(total, result.frames))

    def _audio_stream(self, out, audio_in):
        """The output's audio stream (a copy of the input's, or AAC) and whether it is re-encoded."""
        if audio_in is None:
            return None, False
        if audio_in.codec_context.name in MP4_AUDIO:
            self.result.audio = "copied"
            return out.add_stream_from_template(audio_in), False
        self.result.audio = "re-encoded as AAC"
        self.result.notes.append(
            f"{self.name}: the audio ({audio_in.codec_context.name}) cannot go into MP4 as it is; re-encoded as AAC"
        )
        return out.add_stream("aac", rate=audio_in.codec_context.sample_rate or 48000), True

    def run(self, container, vs, audio_in, out, limits: VideoLimits) -> None:
        import av

        result, name, info = self.result, self.name, self.result.info
        audio_out, resampled = self._audio_stream(out, audio_in)
        total = info.expected_frames
        pending: list = []  # audio packets that come before the first video frame
        timeline = FrameTimeline(
            name,
            (vs.width, vs.height),
            vs.time_base,
            info.fps,
            max_seconds=limits.max_seconds,
            max_frames=limits.max_frames,
        )
        reader = Reader(container, vs, audio_in, resampled, timeline)
        self.editing = Stage("video-edit", self._edit)
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
                    if self.writer is not None:  # the header is written with the video stream
                        self.editing.put(("packets", pending))
                        pending = []
                    continue
                _, frame, rotation = item
                if self.writer is None:
                    result.info = info = with_rotation(info, rotation)
                    ostream = open_video_stream(
                        out, vs, info, rotation, self.options.crf, self.options.preset
                    )
                    self.writer = Writer(out, ostream, rotation)
                    self.writer.put(("packets", pending))
                    pending = []
                self._emit(self.editor.push(frame), total)
            if self.writer is None:
                raise VideoError(f"{name}: the video stream holds no frame (empty or corrupt file)")
            self._emit(self.editor.finish(), total)
            if info.frames and reader.video_packets < info.frames:
                raise VideoError(
                    f"{name}: the file is cut short: it holds {reader.video_packets} of the "
                    f"{info.frames} frames it lists; export or copy it again"
                )
            result.notes.extend(timeline.notes())
            if resampled:
                pending.extend(audio_out.encode(None))
            self.editing.put(("packets", pending))
            self.editing.finish()
            self.writer.finish()
        except av.FFmpegError as exc:
            raise VideoError(
                f"{name}: the video is corrupt or truncated after {result.frames} frames "
                f"({reason(exc)}); check the file plays, or export it again"
            ) from None
        finally:
            reader.stop()
            self.editing.stop()
            if self.writer is not None:
                self.writer.stop()
            writer_clock = self.writer.clock if self.writer is not None else StageClock()
            self.clock.merge(reader.clock, self.edit_clock, writer_clock)
