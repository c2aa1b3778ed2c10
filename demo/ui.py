"""The Gradio interface: photo tab, live webcam tab and the "how it works" panel.

``build_demo(models_dir)`` returns the ``gr.Blocks`` app; ``launch_options()`` are the settings
``app.py`` launches it with (upload size limit and the like).  Errors a user can act on arrive
as ``gr.Error`` with one sentence; anything else is logged here and answered with a generic
sentence, and the server keeps serving.
"""

from __future__ import annotations

import functools
import html
import logging
import os
import threading
from pathlib import Path

import gradio as gr
import numpy as np
from gradio.utils import get_upload_folder
from starlette.middleware import Middleware

from mr_core.errors import MRError
from mr_core.face import FacePipeline
from mr_core.synthesis import MAX_INTENSITY

from .apicheck import ApiCheck
from .components import checked_radio, checked_slider, crops_output, photo_input, photo_output, user_error
from .editor_tab import mount_editor_tab
from .engine import ModelCatalog, backend_choices, load_photo, synthesize_photo
from .examples import example_photos
from .housekeeping import Housekeeping, TempSweeper, lifespan
from .limits import MAX_FILE_SIZE, BodyLimit
from .live_tab import mount_live_tab
from .sessions import SessionStore
from .train_tab import mount_train_tab, session_catalog
from .video_tab import mount_video_tab
from .weightmaps import render_weight_maps

__all__ = ["CONCURRENCY_LIMIT", "MAX_FILE_SIZE", "QUEUE_SIZE", "build_demo", "launch_options"]

log = logging.getLogger("demo")

#: Photo requests processed at once (a free Space has 2 vCPUs); the rest wait in the queue.
CONCURRENCY_LIMIT = 2
#: Requests allowed to wait; beyond that new ones are told the queue is full.
QUEUE_SIZE = 64

TITLE = "Facial expression synthesis by masked regression"

INTRO = """\
# Facial expression synthesis by masked regression
Upload a photo (or take one with the webcam), pick an expression and press **Synthesize**.
Every face is found, aligned, passed through a *masked linear regression* model and pasted back
into the photo; the rest of the photo is untouched. The **Live** tab does the same to the webcam
stream in real time.
"""

HOW_IT_WORKS = """\
**Masked regression (MR)** maps an aligned face crop with one expression to the same face with
another. It is a ridge regression in which each output pixel sees only a small window of the input
around the same place (its *receptive field*, e.g. 3×3 pixels):

*output(p) = Σ<sub>q in window(p)</sub> w<sub>p</sub>(q) · input(q) + b(p)*

Each pixel has weights of its own, so the weights are themselves images. Training solves one small
linear system per pixel, exactly, in seconds on a CPU; applying the model costs a few multiply-adds
per pixel (about a tenth of a millisecond per face for the paper's MR). Around it: a face detector (MediaPipe BlazeFace) finds
the faces, each is aligned on its eyes and nose tip, and the change the model makes is blended back
into the photo under a feathered mask.

The maps below are what the chosen model learned (mean over the colour channels), each a picture
over the aligned face:

- **centre weight**: how much a pixel's own input value counts;
- **sum of the weights**: how much of the input survives in total: near 1 the pixel is kept (as a
  local average), lower it is replaced by the new expression;
- **bias**: what the new expression adds whatever the input (teeth and creases of a smile, for example);
- **neighbour weights**: how much each neighbour counts, one tile per offset (the top-left tile is the
  neighbour above and to the left, the middle tile is the centre weight again).

*Mesh + MR* models (the shipped ones, and what the Train tab trains) move each face by its own 478
landmarks: a linear shape model predicts where they go (mouth corners out and up, lips apart, cheeks
raised) and the photo is warped over the face mesh at its own resolution; their masked regression
learned on shape-normalised faces fills what opens (teeth) and adds the shading. *Shape + texture* models
(another method of `train --method`) move the person's pixels by one fixed warp instead — the **learned
motion** panel, with arrows showing where the content moves — and their masked regression predicts only
the *change* of colour of the moved face: its weights sum to about 0 where nothing changes, and its bias
holds the average change.
"""

NO_MODELS = """\
**No expression model is installed.** The folder `{folder}` has no `*.safetensors` model files.
Train one, for example `python -m mr_core train --align --source-dir DATA/neutral --target-dir
DATA/smiling --output {folder}/smile.safetensors`, and restart the app.
"""

CSS = """
#status { min-height: 2.5em; }
"""

#: Gradio's API page always offers an "MCP" tab, and asks the server for its MCP tools when it opens
#: (``/gradio_api/mcp/schema``).  This app serves no MCP (that needs ``gradio[mcp]``, whose pins
#: conflict with this project's), so the page is answered "not served" without a request (no 404 in
#: the browser's log) and the tab is hidden; the Python, JavaScript, CLI and cURL tabs are unchanged.
HEAD = r"""
<style>li.snippet:has(img[src*="/mcp-"]) { display: none !important; }</style>
<script>
(() => {
  const fetchFromServer = window.fetch.bind(window);
  window.fetch = (input, init) => {
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input && input.url;
    if (url && /\/gradio_api\/mcp\/schema\/?$/.test(url.split("?")[0])) {
      return Promise.resolve(new Response("[]", { status: 404, statusText: "no MCP server in this app" }));
    }
    return fetchFromServer(input, init);
  };
})();
</script>
"""


def _speaker(what: str, smaller: str, other: str):
    """A decorator turning library errors into one-sentence ``gr.Error``s and logging anything
    unexpected; its sentences name what the request works on (``what``, e.g. "this clip") and what
    to try instead (``smaller`` after running out of memory, ``other`` after an unexpected error)."""

    def speak(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except gr.Error:
                raise
            except MRError as exc:
                raise user_error(_sentence(_with_hint(str(exc)))) from None
            except MemoryError:
                log.exception("out of memory in %s", fn.__name__)
                raise gr.Error(
                    f"The server ran out of memory for {what}; please try {smaller}.",
                    print_exception=False,
                ) from None
            except Exception:
                log.exception("unexpected error in %s", fn.__name__)
                raise gr.Error(
                    f"Something went wrong while processing {what} (the error was logged on the server); "
                    f"please try {other}.",
                    print_exception=False,
                ) from None

        return wrapper

    return speak


_speak = _speaker("this photo", "a smaller one", "another photo")
_speak_clip = _speaker("this clip", "a shorter or smaller clip", "another clip")
_speak_training = _speaker("these photos", "fewer or smaller photos", "other photos")
_speak_model = _speaker("this model", "another expression", "another expression")


#: What to do about a library message that ends like the key (the library says only what is wrong).
HINTS = {
    "no face found": "use a photo with a clear, front-facing face",
    "no face large enough to edit": "use a photo in which the face is larger",
    "not an image (or an unsupported format)": "upload a JPEG, PNG, WebP or BMP photo",
}


def _with_hint(message: str) -> str:
    """``message`` with what to do about it appended, when the page knows and the message does not say."""
    for ending, hint in HINTS.items():
        if ending in message and hint not in message:
            return f"{message.rstrip('. ')}; {hint}."
    return message


def _sentence(message: str) -> str:
    """A library message as a sentence for the page (which renders HTML: escape it)."""
    message = message.strip()
    first_word = message.split(" ", 1)[0]
    if message[:1].islower() and not first_word.endswith(":"):  # a file name stays as it is
        message = message[0].upper() + message[1:]
    if message and message[-1] not in ".!?":
        message += "."
    return html.escape(message, quote=False)


def launch_options() -> dict:
    """Keyword arguments for ``Blocks.launch`` (server name and port come from Gradio's environment)."""
    return {
        "max_file_size": MAX_FILE_SIZE,
        "css": CSS,
        "head": HEAD,
        "footer_links": ["api"],
        "app_kwargs": {"middleware": [Middleware(BodyLimit), Middleware(ApiCheck)], "lifespan": lifespan},
    }


def build_demo(
    models_dir: str | os.PathLike | None = None,
    *,
    examples: bool = True,
    sessions: SessionStore | None = None,
) -> gr.Blocks:
    """The demo app on the models of ``models_dir`` (default: the repository's ``models/``);
    ``sessions``: the bounds on the users' own models (default: :class:`~demo.sessions.SessionStore`'s,
    their files in Gradio's upload folder, so that Gradio serves them without a copy)."""
    catalog = ModelCatalog(models_dir)
    temp_root = Path(get_upload_folder())
    sessions = sessions if sessions is not None else SessionStore(temp_root / "mr-sessions")
    pipeline = FacePipeline()  # the demo's one: every tab finds and measures faces with it
    backends = backend_choices()
    names = catalog.names
    first = catalog.default()
    picture_cache: dict[str, np.ndarray] = {}
    picture_lock = threading.Lock()

    @_speak
    def synthesize(photo, expression, intensity, backend="numpy", model_file=None, user=None):
        cat, expression = session_catalog(catalog, user, expression, model_file)
        res = synthesize_photo(cat, photo, expression, intensity, backend or "numpy", pipeline=pipeline)
        return res.image, res.crops, res.status

    def check_upload(photo):
        """Read an uploaded photo at once: one that cannot be used is cleared, and the status line says
        why (before Synthesize is pressed, instead of a broken-image frame)."""
        if photo is None:
            return gr.update(), gr.update()
        try:
            load_photo(photo)
        except MRError as exc:
            message = _sentence(_with_hint(str(exc)))
            gr.Warning(message)
            return None, message
        except MemoryError:
            message = "The server ran out of memory for this photo; please try a smaller one."
            gr.Warning(message)
            return None, message
        return gr.update(), ""

    @_speak_model
    def explain(expression):
        if expression not in catalog.entries:
            return None, NO_MODELS.format(folder=catalog.models_dir) if not names else ""
        entry = catalog.entry(expression)
        with picture_lock:
            picture = picture_cache.get(entry.name)
        if picture is None:
            model = catalog.model(entry.name, "numpy")
            picture = render_weight_maps(
                model.weights_,
                model.bias_,
                model.receptive_field,
                title=f"What '{entry.name}' learned ({entry.source} → {entry.target})",
                motion=getattr(model, "displacement_", None),
            )
            with picture_lock:
                picture_cache[entry.name] = picture
        return picture, entry.describe()

    with gr.Blocks(title=TITLE, analytics_enabled=None, delete_cache=(3600, 3600)) as demo:
        gr.Markdown(INTRO)
        if not names:
            gr.Markdown(NO_MODELS.format(folder=catalog.models_dir), elem_id="no-models")
        for problem in catalog.problems:
            gr.Markdown(f"Skipped a model file: {html.escape(problem, quote=False)}")
        with gr.Row():
            expression = gr.Dropdown(
                choices=catalog.choices(),
                value=first,
                allow_custom_value=True,  # the session's own models (Train tab); unknown names get a sentence
                label="Expression",
                info="The model files in the models folder (name — what it was trained on).",
                elem_id="expression",
                scale=3,
            )
            intensity = checked_slider(
                "intensity",
                0.0,
                MAX_INTENSITY,
                value=1.0,
                step=0.05,
                label="Intensity",
                info="0 = unchanged, 1 = the model's prediction, above 1 exaggerates.",
                elem_id="intensity",
                scale=2,
            )
            backend = checked_radio(
                "backend",
                choices=backends,
                value="numpy",
                label="Compute backend",
                info="Only the backends that work on this machine.",
                elem_id="backend",
                scale=2,
            )
        with gr.Tabs():
            with gr.Tab("Photo", id="photo-tab"):
                with gr.Row(equal_height=False):
                    with gr.Column():
                        photo = photo_input(
                            sources=["upload", "webcam"],
                            label="Photo",
                            elem_id="photo",
                            height=420,
                        )
                        run = gr.Button("Synthesize", variant="primary", elem_id="run")
                        if examples:
                            paths = example_photos()
                            if paths:
                                gr.Examples(
                                    examples=[[str(p)] for p in paths],
                                    inputs=[photo],
                                    label="Examples: a public-domain portrait of Grace Hopper; tilted and "
                                    "small in a wide frame; in black and white",
                                )
                    with gr.Column():
                        result = photo_output(
                            label="Result",
                            elem_id="result",
                            interactive=False,
                            height=420,
                            buttons=["download"],
                        )
                        crops = crops_output(
                            label="Face at the photo's resolution: before | after",
                            elem_id="crops",
                            interactive=False,
                            format="png",
                            max_height=320,
                        )
                        status = gr.Markdown(label="Status", elem_id="status")
            mount_editor_tab(load_photo, intensity, pipeline=pipeline, speak=_speak)
            connect_live = mount_live_tab(catalog, expression, intensity, backend, pipeline=pipeline)
            connect_video = mount_video_tab(
                catalog,
                expression,
                intensity,
                pipeline=pipeline,
                speak=_speak_clip,
                results=temp_root / "mr-videos",
            )
            user_models, model_file = mount_train_tab(catalog, [expression], _speak_training, sessions)
            connect_video(user_models)
            connect_live(user_models)
            with gr.Tab("How it works", id="how-tab"):
                gr.Markdown(HOW_IT_WORKS)
                weight_picture = gr.Image(
                    label="Weight maps",
                    elem_id="weights",
                    interactive=False,
                    format="png",
                    buttons=["fullscreen"],
                )
                model_info = gr.Markdown(elem_id="model-info")

        # The result, the crops and the status line are cleared in the page first, so that an error
        # never sits under the previous photo's result (gr.Error cannot update outputs).
        run.click(
            None,
            js="() => [null, null, '']",
            outputs=[result, crops, status],
            api_visibility="private",
            queue=False,
            show_progress="hidden",
        ).then(
            synthesize,
            inputs=[photo, expression, intensity, backend, model_file, user_models],
            outputs=[result, crops, status],
            api_name="synthesize",
            api_description="Give the faces in a photo another expression: (photo, expression name, intensity "
            "0-1.5[, backend][, model file .safetensors used instead of the expression]) -> (result photo, "
            "the face before/after at the photo's resolution, status sentence).",
            concurrency_limit=CONCURRENCY_LIMIT,
            concurrency_id="photo",
        )
        photo.upload(
            check_upload,
            inputs=[photo],
            outputs=[photo, status],
            api_visibility="private",
            concurrency_limit=CONCURRENCY_LIMIT,
            concurrency_id="photo",
            show_progress="hidden",
        )
        expression.change(
            explain,
            inputs=[expression],
            outputs=[weight_picture, model_info],
            api_visibility="undocumented",
            show_progress="hidden",
        )
        demo.load(
            explain, inputs=[expression], outputs=[weight_picture, model_info], api_visibility="undocumented"
        )

    demo.queue(default_concurrency_limit=CONCURRENCY_LIMIT, max_size=QUEUE_SIZE)
    # swept on start, every few minutes and at the end by the lifespan of launch_options()
    demo.housekeeping = Housekeeping(TempSweeper(temp_root), sessions)
    return demo
