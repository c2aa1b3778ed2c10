"""The demo's **Video** tab: a clip in, the same clip with the expression changed out (``/synthesize_video``).

Limits keep a free Space alive: clips of at most :data:`MAX_SECONDS` seconds, 1280x720 pixels
(either orientation) and the app's upload limit; one clip is edited at a time.  Each request writes
its result to a folder of its own (in Gradio's upload folder, so that Gradio serves it without a
copy, and the server's sweep removes it after an hour; a failed request removes its folder at once),
so users never see each other's clips.

The face editor's controls apply here as in the Face editor tab: a preset, or the tab's sliders (the
blendshape targets ``KEY=VALUE,...`` they make), edit every frame's faces, on top of the chosen expression when it is a mesh + MR
model (like the shipped smile), or alone when **Expression model** is off.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import gradio as gr

from mr_core.errors import InvalidParameterError
from mr_core.methods.face_editor import PRESETS, FaceEditor
from mr_core.synthesis import VideoLimits, editor_notes, make_editor, synthesize_video

from .catalog import session_catalog
from .components import checked_radio, require_files, with_example
from .editor_tab import SLIDERS, slider_grid
from .examples import example_clip, example_url
from .messages import keep_error

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


#: What the preset menu offers first: no preset.
NO_PRESET = "none"


def _editing(catalog, expression, preset, targets, use_model: bool):
    """(what edits the frames, its name for the output file, what the status says it did)."""
    preset = None if not preset or preset == NO_PRESET else preset
    targets = (targets or "").strip() or None
    entry = catalog.entry(expression) if use_model or not (preset or targets) else None
    model = catalog.model(entry.name, "numpy") if entry is not None else None
    editor = make_editor(model, preset=preset, targets=targets)
    asked = [f"preset {preset}"] if preset else []
    asked += [f"targets {targets}"] if targets else []
    if editor is None:
        return model, entry.name, f"'{entry.name}'"
    name = "-".join(
        ([entry.name] if entry else []) + ([preset] if preset else []) + (["edited"] if targets else [])
    )
    what = " and ".join(([f"'{entry.name}'"] if entry else []) + [f"the face editor ({', '.join(asked)})"])
    return editor, name, what


def edit_clip(
    catalog,
    video,
    expression,
    intensity,
    *,
    pipeline,
    preset=None,
    targets=None,
    use_model: bool = True,
    progress=None,
    results: Path | None = None,
) -> tuple[str, str]:
    """Edit the clip at path ``video`` into a new folder inside ``results`` (default: the system's
    temporary folder); returns (path of the edited MP4, status sentence).  ``preset``/``targets``: the
    face editor's, on top of the expression (or alone when ``use_model`` is false)."""
    if not video:
        raise InvalidParameterError("no video was given; upload a clip first")
    model, name, what = _editing(catalog, expression, preset, targets, use_model)
    src = Path(video)
    if results is not None:
        results.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="mr-video-", dir=results))
    dst = folder / f"{src.stem or 'clip'}-{name}.mp4"

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
    status = f"{result.summary()}, edited by {what} at intensity {float(intensity):g}."
    for line in editor_notes(model if isinstance(model, FaceEditor) else None):
        status += f" Note: {line[0].upper()}{line[1:]}."
    for note in result.notes:
        status += f" {note}."
    if result.frames_with_face == 0:
        status += " No face was found in any frame; the clip is unchanged."
    return str(dst), status


def _layout():
    with gr.Tab("Video", id="video-tab"):
        gr.Markdown(
            f"Upload a clip (at most {MAX_SECONDS} s, 1280x720 pixels and 15 MB): every frame's faces get "
            "the expression, followed and smoothed over time so the result does not flicker. The result "
            "is an H.264 MP4 of the same size, frame rate and length, with the clip's sound."
        )
        with gr.Row(equal_height=False):
            with gr.Column():
                clip_in = require_files(
                    gr.Video(sources=["upload"], label="Clip", elem_id="video-in", format=None), "video"
                )
                clip = example_clip()
                if clip is not None:
                    gr.Examples(
                        examples=[[str(clip)]],
                        inputs=[clip_in],
                        label="Example: the public-domain portrait of Grace Hopper, drifting and zooming (3 s)",
                        elem_id="video-examples",
                    )
            clip_out = gr.Video(label="Result", elem_id="video-out", interactive=False, format=None)
        preset, targets, use_model, sliders = _editor_controls()
        run = gr.Button("Synthesize video", variant="primary", elem_id="run-video")
        status = gr.Markdown(label="Status", elem_id="video-status")
    if clip is not None:
        with_example(clip_in, example_url(clip))
    with_example(preset, NO_PRESET)
    with_example(targets, "")
    with_example(use_model, True)
    return clip_in, clip_out, preset, targets, use_model, sliders, run, status


def _editor_controls():
    """The face editor's controls: a preset, the Face editor tab's sliders (a slider above 0 asks for
    its value) and the targets they make (which can be written by hand), and whether the expression
    model applies too."""
    with gr.Accordion("Face editor (as in the Face editor tab)", open=False, elem_id="video-editor"):
        with gr.Row():
            preset = checked_radio(
                "preset",
                choices=[NO_PRESET, *PRESETS],
                value=NO_PRESET,
                label="Preset",
                elem_id="video-preset",
            )
            use_model = gr.Checkbox(
                value=True,
                label="Expression model",
                info="Apply the Expression chosen above too (mesh + MR models only).",
                elem_id="video-use-model",
            )
        sliders = slider_grid("video-sliders", "video-slider-")
        targets = gr.Textbox(
            value="",
            label="Targets",
            placeholder="e.g. jawOpen=0.4, browInnerUp=0.6",
            info="What the sliders above 0 ask (MediaPipe blendshape names with the score to reach, 0-1); "
            "it can be written here too.",
            elem_id="video-targets",
        )
    return preset, targets, use_model, sliders


def sliders_to_targets(*values) -> str:
    """The targets the sliders ask for: ``"KEY=VALUE, ..."`` of the sliders above 0."""
    return ", ".join(
        f"{key}={float(v):g}" for (_, _, key), v in zip(SLIDERS, values, strict=True) if v and v > 0
    )


def mount_video_tab(
    catalog, expression_menu, intensity_slider, *, pipeline, speak, results: Path | None = None
):
    """Add the Video tab (call inside ``gr.Tabs``) on the page's shared controls (``expression_menu``,
    ``intensity_slider``); ``speak`` turns library errors into one-sentence ``gr.Error``s.

    Returns ``connect(user_models)``, to call once the session's own models (the Train tab's state)
    exist: it binds the tab's button, so that the user's trained expressions work here too.
    """

    @speak
    def synthesize_clip(
        video, expression, intensity, preset=NO_PRESET, targets="", use_model=True, user=None,
        progress=gr.Progress(),  # noqa: B008
    ):  # fmt: skip
        cat, name = session_catalog(catalog, user, expression)
        path, status = edit_clip(
            cat, video, name, intensity, pipeline=pipeline, preset=preset, targets=targets,
            use_model=use_model is not False, progress=progress, results=results,
        )  # fmt: skip
        return path, status

    clip_in, clip_out, preset, targets, use_model, sliders, run, status = _layout()
    for (_, _, key), slider in zip(SLIDERS, sliders, strict=True):
        # (nothing else sets these sliders, so any change of value is the user's)
        slider.change(
            sliders_to_targets,
            inputs=sliders,
            outputs=[targets],
            api_name=f"video_slider_{key}",
            api_visibility="private",
            queue=False,
            show_progress="hidden",
        )

    def connect(user_models=None) -> None:
        extra = [user_models] if user_models is not None else []
        done = run.click(
            None,
            js="() => [null, '']",
            outputs=[clip_out, status],
            api_name="clear_video",
            api_visibility="private",
            queue=False,
            show_progress="hidden",
        ).then(
            synthesize_clip,
            inputs=[clip_in, expression_menu, intensity_slider, preset, targets, use_model, *extra],
            outputs=[clip_out, status],
            api_name="synthesize_video",
            api_description="Give the faces of a video clip another expression: (video, expression name, "
            "intensity 0-1.5[, face editor preset or 'none'][, targets 'KEY=VALUE,...'][, use the expression "
            f"model too]) -> (edited H.264 MP4 video, status sentence); clips up to {MAX_SECONDS} s, "
            "1280x720, 15 MB.",
            concurrency_limit=VIDEO_CONCURRENCY,
            concurrency_id="video",
        )
        keep_error(done, status, "synthesize_video")

    return connect
