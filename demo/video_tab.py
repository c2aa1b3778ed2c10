"""The demo's **Video** tab: a clip in, the same clip with the expression changed out (``/synthesize_video``).

Limits keep a free Space alive: clips of at most :data:`MAX_SECONDS` seconds, 1280x720 pixels
(either orientation) and the app's upload limit; one clip is edited at a time.  Each request writes
its result to a folder of its own (in Gradio's upload folder, so that Gradio serves it without a
copy, and the server's sweep removes it after an hour; a failed request removes its folder at once),
so users never see each other's clips.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import gradio as gr

from mr_core.errors import InvalidParameterError
from mr_core.synthesis import VideoLimits, synthesize_video

from .components import require_files
from .train_tab import session_catalog

__all__ = ["MAX_SECONDS", "VIDEO_LIMITS", "mount_video_tab"]

#: Longest clip accepted (seconds).
MAX_SECONDS = 20
#: What the tab accepts: 20 s, 1280x720, 15 MB (the app's upload limit), and at most 60 frames a
#: second (checked while decoding too, whatever the container says).
VIDEO_LIMITS = VideoLimits(
    max_seconds=MAX_SECONDS, max_width=1280, max_height=720, max_bytes=15_000_000, max_frames=MAX_SECONDS * 60
)
#: Clips edited at the same time (each keeps both CPU cores busy).
VIDEO_CONCURRENCY = 1


def edit_clip(
    catalog, video, expression, intensity, *, pipeline, progress=None, results: Path | None = None
) -> tuple[str, str]:
    """Edit the clip at path ``video`` into a new folder inside ``results`` (default: the system's
    temporary folder); returns (path of the edited MP4, status sentence)."""
    if not video:
        raise InvalidParameterError("no video was given; upload a clip first")
    entry = catalog.entry(expression)
    model = catalog.model(entry.name, "numpy")
    src = Path(video)
    if results is not None:
        results.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="mr-video-", dir=results))
    dst = folder / f"{src.stem or 'clip'}-{entry.name}.mp4"

    def report(done: int, total: int) -> None:
        if progress is not None:
            progress((done, total), desc="Editing frames", unit="frames")

    try:
        result = synthesize_video(
            src,
            dst,
            model,
            intensity,
            pipeline=pipeline,
            limits=VIDEO_LIMITS,
            progress=report,
            label=src.name or "the clip",  # the name it was uploaded with, not the server's path
        )
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    status = f"{result.summary()}."
    for note in result.notes:
        status += f" {note}."
    if result.frames_with_face == 0:
        status += " No face was found in any frame; the clip is unchanged."
    return str(dst), status


def mount_video_tab(
    catalog, expression_menu, intensity_slider, *, pipeline, speak, results: Path | None = None
):
    """Add the Video tab (call inside ``gr.Tabs``) on the page's shared controls (``expression_menu``,
    ``intensity_slider``); ``speak`` turns library errors into one-sentence ``gr.Error``s.

    Returns ``connect(user_models)``, to call once the session's own models (the Train tab's state)
    exist: it binds the tab's button, so that the user's trained expressions work here too.
    """

    @speak
    def synthesize_clip(video, expression, intensity, user=None, progress=gr.Progress()):  # noqa: B008
        cat, name = session_catalog(catalog, user, expression)
        path, status = edit_clip(
            cat, video, name, intensity, pipeline=pipeline, progress=progress, results=results
        )
        gr.Info(status)
        return path

    with gr.Tab("Video", id="video-tab"):
        gr.Markdown(
            f"Upload a clip (at most {MAX_SECONDS} s, 1280x720 pixels and 15 MB): every frame's faces get "
            "the expression, followed and smoothed over time so the result does not flicker. The result "
            "is an H.264 MP4 of the same size, frame rate and length, with the clip's sound."
        )
        with gr.Row(equal_height=False):
            clip_in = require_files(
                gr.Video(sources=["upload"], label="Clip", elem_id="video-in", format=None), "video"
            )
            clip_out = gr.Video(label="Result", elem_id="video-out", interactive=False, format=None)
        run = gr.Button("Synthesize video", variant="primary", elem_id="run-video")

    def connect(user_models=None) -> None:
        extra = [user_models] if user_models is not None else []
        run.click(
            synthesize_clip,
            inputs=[clip_in, expression_menu, intensity_slider, *extra],
            outputs=[clip_out],
            api_name="synthesize_video",
            api_description="Give the faces of a video clip another expression: (video, expression name, "
            f"intensity 0-1.5) -> edited H.264 MP4 video; clips up to {MAX_SECONDS} s, 1280x720, 15 MB.",
            concurrency_limit=VIDEO_CONCURRENCY,
            concurrency_id="video",
        )

    return connect
