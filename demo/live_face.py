"""The Live tab's face editor: the Face editor tab's presets and sliders, applied to the stream as they change.

The controls are those of the Face editor tab (:data:`demo.editor_tab.SLIDERS`, the library's
:data:`~mr_core.methods.face_editor.PRESETS`).  A slider asks for its value once it is moved (until
then it asks nothing, whatever the face shows); a preset asks for its expression and shows on the
sliders what it asks; sliders moved afterwards add to it; **No edit** forgets both.  What is asked
goes into the session's :class:`~demo.live_tab.LiveSettings` (``preset``, ``edits``), replaced as a
whole, so the next frame is edited with it; the blendshape scores the rig moves the face by are
steadied over the stream's frames by :class:`~mr_core.synthesis.live.LiveEditor`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import gradio as gr
import numpy as np

from mr_core.errors import MRError
from mr_core.methods.face_editor import PRESETS, preset_targets
from mr_core.synthesis.editing import editor_notes

from .components import user_error
from .editor_tab import SLIDERS, slider_grid

__all__ = ["FaceControls", "bind_face_controls", "face_controls"]

log = logging.getLogger("demo")

NOTHING_ASKED = "The face editor asks nothing: pick a preset or move a slider."


@dataclass
class FaceControls:
    """The Live tab's face-editor components."""

    presets: list
    clear: gr.Button
    sliders: list
    status: gr.Markdown


def face_controls() -> FaceControls:
    """The presets, **No edit** and the sliders by region (call inside the Live tab)."""
    with gr.Accordion("Face editor, live (presets and sliders)", open=False, elem_id="live-face"):
        with gr.Row(elem_id="live-presets"):
            presets = [
                gr.Button(name.capitalize(), size="sm", elem_id=f"live-preset-{name}") for name in PRESETS
            ]
            clear = gr.Button("No edit", size="sm", elem_id="live-preset-none")
        sliders = slider_grid("live-sliders", "live-slider-")
        status = gr.Markdown(NOTHING_ASKED, elem_id="live-face-status")
    return FaceControls(presets, clear, sliders, status)


def _shown(asked: dict[str, float], key: str) -> float:
    """What a slider shows for targets ``asked`` (its two sides averaged; 0 where it asks nothing)."""
    sides = [asked[k] for k in (key, key + "Left", key + "Right") if k in asked]
    return round(float(np.mean(sides)), 2) if sides else 0.0


def _status(settings, editor) -> str:
    asked = [f"preset {settings.preset}"] if settings.preset else []
    asked += [f"{k} {v:.2f}" for k, v in settings.edits]
    if not asked:
        return NOTHING_ASKED
    text = f"Applied live: {', '.join(asked)}."
    for line in editor_notes(editor):
        text += f" Note: {line[0].upper()}{line[1:]}."
    return text


def _apply(sess, preset, edits):
    """The session with ``preset`` and ``edits`` asked from its next frame; the face editor is made now, so
    what cannot be asked (e.g. a model it does not combine with) is said at once and nothing changes."""
    new = replace(sess.settings, preset=preset, edits=tuple(sorted(edits)))
    try:
        editor = sess.face_editor(new)
    except MRError as exc:
        raise user_error(str(exc)) from None
    sess.settings = new
    return _status(new, editor)


def bind_face_controls(ui: FaceControls, session: gr.State, ensure) -> None:
    """The controls' events; ``ensure(state)`` is the session's live state (made when it has none yet)."""

    def on_preset(name):
        def run(sess=None):
            sess = ensure(sess)
            status = _apply(sess, name, ())
            asked = preset_targets(name) if name else {}
            return sess, status, *[_shown(asked, key) for _, _, key in SLIDERS]

        return run

    def on_slider(key):
        def run(value, sess=None):
            sess = ensure(sess)
            edits = dict(sess.settings.edits)
            edits[key] = float(value)
            return sess, _apply(sess, sess.settings.preset, edits.items())

        return run

    outputs = [session, ui.status]
    for name, button in [*zip(PRESETS, ui.presets, strict=True), (None, ui.clear)]:
        button.click(
            on_preset(name),
            inputs=[session],
            outputs=[*outputs, *ui.sliders],
            api_name=f"live_preset_{name or 'none'}",
            api_visibility="private",
            show_progress="hidden",
            concurrency_limit=None,
        )
    for (_, _, key), slider in zip(SLIDERS, ui.sliders, strict=True):
        # each move applies to the next frame; moves that come while one is applied collapse into the last
        slider.input(
            on_slider(key),
            inputs=[slider, session],
            outputs=outputs,
            api_name=f"live_slider_{key}",
            api_visibility="private",
            show_progress="hidden",
            trigger_mode="always_last",
            concurrency_limit=None,
        )
