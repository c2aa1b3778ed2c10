"""The demo's **Face editor** tab: presets, sliders by region and "copy this expression" (``/edit_face``).

A photo is prepared once when it arrives (faces found, aligned and measured: :func:`prepare_photo`) and
kept in the session's ``gr.State``; the sliders then show what the largest face shows now (MediaPipe's
blendshape scores), and every move of a slider edits the prepared faces again without finding them anew
(moves that arrive during an edit collapse into the last).
A slider left where it started asks nothing; one moved asks for that value.  Presets and a reference
photo set the sliders to what they ask.  ``/edit_face`` does the whole request in one call for the API.
"""

from __future__ import annotations

import time

import gradio as gr
import numpy as np

from mr_core.errors import InvalidParameterError
from mr_core.methods.face_editor import PARTS, PRESETS, preset_targets, reference_targets
from mr_core.synthesis.editing import (
    edit_prepared,
    editor_notes,
    make_editor,
    prepare_photo,
    reference_scores,
)

from .components import checked_radio, checked_slider, photo_input, photo_output, with_example
from .messages import keep_error

__all__ = ["SLIDERS", "edit_face", "mount_editor_tab"]

#: The sliders: (region, label, blendshape; a name without Left/Right moves both sides).
SLIDERS = (
    ("Mouth", "Smile", "mouthSmile"),
    ("Mouth", "Open the mouth", "jawOpen"),
    ("Mouth", "Raise the upper lip", "mouthUpperUp"),
    ("Mouth", "Stretch the lips", "mouthStretch"),
    ("Mouth", "Pucker", "mouthPucker"),
    ("Mouth", "Frown (corners down)", "mouthFrown"),
    ("Eyes", "Close the eyes", "eyeBlink"),
    ("Eyes", "Squint", "eyeSquint"),
    ("Eyes", "Widen the eyes", "eyeWide"),
    ("Brows", "Raise the inner brows", "browInnerUp"),
    ("Brows", "Raise the outer brows", "browOuterUp"),
    ("Brows", "Lower the brows", "browDown"),
    ("Nose", "Wrinkle the nose", "noseSneer"),
)
#: A slider this close to where it started asks nothing.
UNMOVED = 0.02


def _value(scores: dict[str, float], key: str) -> float:
    sides = [scores[k] for k in (key, key + "Left", key + "Right") if k in scores]
    return float(np.mean(sides)) if sides else 0.0


def _slider_values(scores: dict[str, float]) -> list[float]:
    return [round(_value(scores, key), 2) for _, _, key in SLIDERS]


def _targets(prepared, values) -> dict[str, float]:
    """The keys whose slider moved away from what the face shows, with their values."""
    now = prepared.scores() if prepared is not None else {}
    return {
        key: float(v)
        for (_, _, key), v in zip(SLIDERS, values, strict=True)
        if abs(float(v) - _value(now, key)) > UNMOVED
    }


def _status(res, what: str, seconds: float, editor=None) -> str:
    n = len(res.faces)
    note = f" ({len(res.skipped)} left unchanged)" if res.skipped else ""
    text = f"{n} face{'s' if n != 1 else ''} edited{note}: {what}, in {seconds * 1000:.0f} ms."
    for line in editor_notes(editor):
        text += f" Note: {line[0].upper()}{line[1:]}."
    return text


def _image(res) -> np.ndarray:
    return res.image if res.alpha is None else np.dstack([res.image, res.alpha])


def edit_face(
    load, photo, preset=None, targets=None, reference=None, parts="all", intensity=1.0, *, pipeline=None
):
    """One whole request (the API's ``/edit_face``): (result photo, status sentence).

    ``load``: the demo's photo reader (checks size and type); ``targets``: ``"KEY=VALUE,..."``.
    """
    loaded = load(photo)
    ref = reference_scores(load(reference), pipeline) if reference else None
    editor = make_editor(
        None, preset=preset or None, targets=targets or None, reference=ref, parts=parts or "all"
    )
    if editor is None:
        raise InvalidParameterError(
            "say what to change: a preset, targets (KEY=VALUE,...) or a reference photo"
        )
    start = time.perf_counter()
    res = edit_prepared(prepare_photo(loaded, pipeline, name=loaded.name), editor, intensity)
    asked = ", ".join(
        f"{k}={v:g}" for k, v in sorted(editor.asked().items()) if not preset or k in (targets or "")
    )
    what = f"preset {preset}" if preset else ("the reference's expression" if ref else asked)
    return _image(res), _status(res, what, time.perf_counter() - start, editor)


def _layout():
    """The tab's components (inside its ``gr.Tab``)."""
    with gr.Tab("Face editor", id="editor-tab"):
        gr.Markdown(
            "Move a slider, pick a preset or copy the expression of another photo. The sliders start at "
            "what the face shows now (as MediaPipe measures it); moving one asks for that value, whatever "
            "the face shows. Built on an open expression rig (ICT-FaceKit's ARKit-style shapes)."
        )
        prepared = gr.State(None)
        with gr.Row(equal_height=False):
            with gr.Column():
                photo = photo_input(
                    sources=["upload", "webcam"], label="Photo", elem_id="editor-photo", height=360
                )
                with gr.Row(elem_id="editor-presets"):
                    buttons = [
                        gr.Button(name.capitalize(), size="sm", elem_id=f"preset-{name}") for name in PRESETS
                    ]
                with gr.Accordion("Copy the expression of another photo", open=False):
                    reference = photo_input(
                        sources=["upload", "webcam"],
                        label="Reference",
                        elem_id="editor-reference",
                        height=200,
                    )
                    parts = checked_radio(
                        "parts",
                        choices=list(PARTS),
                        value="all",
                        label="What to copy",
                        elem_id="editor-parts",
                    )
                    copy = gr.Button("Copy the expression", elem_id="editor-copy")
            with gr.Column():
                result = photo_output(
                    label="Result",
                    elem_id="editor-result",
                    interactive=False,
                    height=360,
                    buttons=["download"],
                )
                status = gr.Markdown(label="Status", elem_id="editor-status")
        sliders = slider_grid("editor-sliders", "slider-")

        # for the API's one-call /edit_face: what the page sets with buttons and sliders
        api_preset = with_example(gr.Textbox(visible=False, label="preset"), "surprised")
        api_targets = with_example(gr.Textbox(visible=False, label="targets"), "")
        api_result = photo_output(visible=False, label="result")
        api_run = gr.Button(visible=False)

    return {
        "prepared": prepared, "photo": photo, "buttons": buttons, "reference": reference, "parts": parts,
        "copy": copy, "result": result, "status": status, "sliders": sliders, "api_preset": api_preset,
        "api_targets": api_targets, "api_result": api_result, "api_run": api_run,
    }  # fmt: skip


def _handlers(load, pipeline, speak, sliders):
    """The tab's event functions: a photo arrives, a slider moves, a preset, a copied expression."""

    @speak
    def on_photo(photo):
        if photo is None:
            return None, None, "", *[gr.update() for _ in sliders]
        loaded = load(photo)
        prep = prepare_photo(loaded, pipeline, name=loaded.name)
        n = len(prep.aligned)
        return (
            prep,
            loaded.rgb if loaded.alpha is None else np.dstack([loaded.rgb, loaded.alpha]),
            f"{n} face{'s' if n != 1 else ''} ready; the sliders show the largest one's expression.",
            *_slider_values(prep.scores()),
        )

    def _need(prep):
        if prep is None:
            raise InvalidParameterError("upload a photo (or take one with the webcam) first")
        return prep

    @speak
    def on_slider(prep, a, *values):
        prep = _need(prep)
        targets = _targets(prep, values)
        if not targets:
            return _image(
                edit_prepared(prep, make_editor(None, preset="neutral"), 0.0)
            ), "Nothing asked yet: move a slider."
        start = time.perf_counter()
        editor = make_editor(None, targets=targets)
        res = edit_prepared(prep, editor, a)
        what = ", ".join(f"{k} {v:.2f}" for k, v in targets.items())
        return _image(res), _status(res, what, time.perf_counter() - start, editor)

    def on_preset(name):
        @speak
        def run(prep, a):
            prep = _need(prep)
            start = time.perf_counter()
            res = edit_prepared(prep, make_editor(None, preset=name), a)
            asked = preset_targets(name)
            values = [
                round(_value(asked, key), 2) if any(k.startswith(key) for k in asked) else 0.0
                for _, _, key in SLIDERS
            ]
            return _image(res), _status(res, f"preset {name}", time.perf_counter() - start), *values

        return run

    @speak
    def on_copy(prep, ref_photo, which, a):
        prep = _need(prep)
        if ref_photo is None:
            raise InvalidParameterError("upload the reference photo whose expression to copy first")
        ref = reference_scores(load(ref_photo), pipeline)
        start = time.perf_counter()
        res = edit_prepared(prep, make_editor(None, reference=ref, parts=which), a)
        now = prep.scores()
        copied = reference_targets(ref, which)
        values = [
            round(_value(copied if any(k.startswith(key) for k in copied) else now, key), 2)
            for _, _, key in SLIDERS
        ]
        return (
            _image(res),
            _status(res, f"the reference's expression ({which})", time.perf_counter() - start),
            *values,
        )

    return on_photo, on_slider, on_preset, on_copy


def slider_grid(row_id: str, slider_prefix: str) -> list:
    """The face editor's sliders (:data:`SLIDERS`), 0 to 1, in one column per region of the face; their
    elem_ids are ``slider_prefix`` + the blendshape name.  Call inside a Blocks context."""
    sliders = []
    with gr.Row(elem_id=row_id):
        for region in dict.fromkeys(r for r, _, _ in SLIDERS):
            with gr.Column(min_width=220), gr.Group():
                gr.Markdown(f"**{region}**")
                for r, label, key in SLIDERS:
                    if r == region:
                        sliders.append(
                            checked_slider(
                                key, 0.0, 1.0, value=0.0, step=0.05, label=label, elem_id=f"{slider_prefix}{key}"
                            )
                        )
    return sliders


def mount_editor_tab(load, intensity, *, pipeline, speak, concurrency_limit: int = 2):
    """The tab (inside a ``gr.Tabs``); ``load`` reads a photo as the Photo tab does, ``intensity`` is the
    app's shared intensity slider, ``speak`` turns library errors into one-sentence ``gr.Error``s."""
    c = _layout()
    prepared, photo, buttons, reference, parts = (
        c[k] for k in ("prepared", "photo", "buttons", "reference", "parts")
    )
    copy, result, status, sliders = c["copy"], c["result"], c["status"], c["sliders"]
    on_photo, on_slider, on_preset, on_copy = _handlers(load, pipeline, speak, sliders)
    common = {"concurrency_limit": concurrency_limit, "concurrency_id": "photo"}
    arrived = photo.change(
        on_photo,
        inputs=[photo],
        outputs=[prepared, result, status, *sliders],
        api_name="editor_photo",
        api_visibility="private",
        **common,
    )
    keep_error(arrived, status, "editor_photo")
    for (_, _, key), s in zip(SLIDERS, sliders, strict=True):
        # as the slider moves: each move edits the prepared faces again; moves that come while one is
        # being edited collapse into the last one (no queue of stale edits)
        moved = s.input(
            on_slider,
            inputs=[prepared, intensity, *sliders],
            outputs=[result, status],
            api_name=f"editor_slider_{key}",
            api_visibility="private",
            show_progress="hidden",
            trigger_mode="always_last",
            **common,
        )
        keep_error(moved, status, f"editor_slider_{key}")
    for name, button in zip(PRESETS, buttons, strict=True):
        pressed = button.click(
            on_preset(name),
            inputs=[prepared, intensity],
            outputs=[result, status, *sliders],
            api_name=f"editor_preset_{name}",
            api_visibility="private",
            **common,
        )
        keep_error(pressed, status, f"editor_preset_{name}")
    copied = copy.click(
        on_copy,
        inputs=[prepared, reference, parts, intensity],
        outputs=[result, status, *sliders],
        api_name="editor_copy",
        api_visibility="private",
        **common,
    )
    keep_error(copied, status, "editor_copy")

    # the API: the whole request in one call

    @speak
    def api(photo, preset="", targets="", reference=None, which="all", a=1.0):
        return edit_face(load, photo, preset, targets, reference, which, a, pipeline=pipeline)

    c["api_run"].click(
        api,
        inputs=[photo, c["api_preset"], c["api_targets"], reference, parts, intensity],
        outputs=[c["api_result"], status],
        api_name="edit_face",
        api_description="Edit the faces of a photo with the face editor: (photo, preset name or '', targets "
        "'KEY=VALUE,...' or '', reference photo or None, parts all|mouth|eyes, intensity 0-1.5) -> (result "
        f"photo, status sentence). Presets: {', '.join(PRESETS)}; targets are MediaPipe blendshape names "
        "(jawOpen, mouthSmile, eyeBlink, browInnerUp, ...).",
        **common,
    )
