"""The **Photo** tab: a photo in, the same photo with the faces' expression changed out (``/synthesize``)."""

from __future__ import annotations

import gradio as gr

from mr_core.errors import MRError

from .catalog import session_catalog
from .components import crops_output, photo_input, photo_output
from .engine import load_photo, synthesize_photo
from .examples import example_photos
from .messages import keep_error, sentence, speak_photo, with_hint

__all__ = ["CONCURRENCY_LIMIT", "mount_photo_tab"]

#: Photo requests processed at once (a free Space has 2 vCPUs); the rest wait in the queue.
CONCURRENCY_LIMIT = 2


def check_upload(photo):
    """Read an uploaded photo at once: one that cannot be used is cleared, and the status line says
    why (before Synthesize is pressed, instead of a broken-image frame)."""
    if photo is None:
        return gr.update(), gr.update()
    try:
        load_photo(photo)
    except MRError as exc:
        message = sentence(with_hint(str(exc)))
    except MemoryError:
        message = "The server ran out of memory for this photo; please try a smaller one."
    else:
        return gr.update(), ""
    gr.Warning(message)
    return None, message


def _layout(examples: bool):
    with gr.Tab("Photo", id="photo-tab"), gr.Row(equal_height=False):
        faces = gr.State([])  # this session's last result: every face's before/after, the largest first
        with gr.Column():
            photo = photo_input(sources=["upload", "webcam"], label="Photo", elem_id="photo", height=420)
            run = gr.Button("Synthesize", variant="primary", elem_id="run")
            paths = example_photos() if examples else []
            if paths:
                gr.Examples(
                    examples=[[str(p)] for p in paths],
                    inputs=[photo],
                    label="Examples: a public-domain portrait of Grace Hopper; tilted and "
                    "small in a wide frame; in black and white",
                )
        with gr.Column():
            result = photo_output(
                label="Result", elem_id="result", interactive=False, height=420, buttons=["download"]
            )
            picker = gr.Radio(
                choices=[],
                label="Face shown before | after",
                visible=False,
                elem_id="face-picker",
            )
            crops = crops_output(
                label="Face at the photo's resolution: before | after",
                elem_id="crops",
                interactive=False,
                format="png",
                max_height=320,
            )
            status = gr.Markdown(label="Status", elem_id="status")
    return photo, run, result, picker, crops, status, faces


def mount_photo_tab(catalog, expression, intensity, backend, *, pipeline, examples: bool = True):
    """Add the tab (inside ``gr.Tabs``) on the page's shared controls.  Returns ``connect(user_models,
    model_file)``, to call once the session's own models (the Train tab's state) exist."""
    photo, run, result, picker, crops, status, faces = _layout(examples)

    @speak_photo
    def synthesize(photo, expression, intensity, backend="numpy", model_file=None, user=None):
        cat, expression = session_catalog(catalog, user, expression, model_file)
        res = synthesize_photo(cat, photo, expression, intensity, backend or "numpy", pipeline=pipeline)
        return res.image, res.crops, res.status, res.face_crops

    def offer_faces(pairs):
        n = len(pairs or [])
        choices = [(f"{i + 1} of {n}" + (" (largest)" if i == 0 else ""), i) for i in range(n)]
        return gr.update(choices=choices, value=0 if n else None, visible=n > 1)

    def show_face(pairs, index):
        if not pairs or not isinstance(index, int) or not 0 <= index < len(pairs):
            return gr.update()
        return pairs[index]

    picker.input(
        show_face,
        inputs=[faces, picker],
        outputs=[crops],
        api_name="show_face",
        api_visibility="private",
        show_progress="hidden",
    )

    photo.upload(
        check_upload,
        inputs=[photo],
        outputs=[photo, status],
        api_name="check_photo",
        api_visibility="private",
        concurrency_limit=CONCURRENCY_LIMIT,
        concurrency_id="photo",
        show_progress="hidden",
    )

    def connect(user_models, model_file) -> None:
        # The result, the crops and the status line are cleared in the page first, so that an error
        # never sits under the previous photo's result (gr.Error cannot update outputs).
        done = run.click(
            None,
            js="() => [null, null, '', null]",
            outputs=[result, crops, status, picker],
            api_name="clear_photo",
            api_visibility="private",
            queue=False,
            show_progress="hidden",
        ).then(
            synthesize,
            inputs=[photo, expression, intensity, backend, model_file, user_models],
            outputs=[result, crops, status, faces],
            api_name="synthesize",
            api_description="Give the faces in a photo another expression: (photo, expression name, "
            "intensity 0-1.5[, backend][, model file .safetensors used instead of the expression]) -> "
            "(result photo, the face before/after at the photo's resolution, status sentence).",
            concurrency_limit=CONCURRENCY_LIMIT,
            concurrency_id="photo",
        )
        keep_error(done, status, "synthesize")
        done.success(
            offer_faces,
            inputs=[faces],
            outputs=[picker],
            api_name="offer_faces",
            api_visibility="private",
            queue=False,
            show_progress="hidden",
        )

    return connect
