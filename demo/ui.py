"""The page: its header, the controls the tabs share, one tab per module, and how it is served.

``build_demo(models_dir)`` returns the ``gr.Blocks`` app; ``launch_options()`` are the settings
``app.py`` launches it with (upload size limit and the like).  Layout and wiring only: what a tab does
is in its module (:mod:`.photo_tab`, :mod:`.editor_tab`, :mod:`.live_tab`, :mod:`.video_tab`,
:mod:`.train_tab`, :mod:`.how_tab`), which models a request may use in :mod:`.catalog`, and how
errors are spoken in :mod:`.messages`.
"""

from __future__ import annotations

import contextlib
import functools
import html
import os
import socket
from pathlib import Path

import gradio as gr
from gradio.utils import get_upload_folder
from starlette.middleware import Middleware

from mr_core.errors import MRError
from mr_core.face import FacePipeline
from mr_core.synthesis import MAX_INTENSITY

from .apicheck import ApiCheck
from .catalog import ModelCatalog, session_catalog
from .components import checked_radio, checked_slider, with_example
from .editor_tab import mount_editor_tab
from .engine import backend_choices, load_photo
from .examples import PAIRS_DIR, examples_folder
from .housekeeping import Housekeeping, TempSweeper, lifespan
from .how_tab import mount_how_tab
from .limits import MAX_FILE_SIZE, BodyLimit
from .live_tab import mount_live_tab
from .messages import speak_clip, speak_photo, speak_training
from .photo_tab import CONCURRENCY_LIMIT, mount_photo_tab
from .sessions import SessionStore
from .train_tab import mount_train_tab
from .video_tab import mount_video_tab

__all__ = ["CONCURRENCY_LIMIT", "MAX_FILE_SIZE", "QUEUE_SIZE", "build_demo", "launch_options", "serve_local"]

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

NO_MODELS = """\
**No expression model is installed.** The folder `{folder}` has no `*.safetensors` model files.
Train one, for example `python -m mr_core train --align --source-dir DATA/neutral --target-dir
DATA/smiling --output {folder}/smile.safetensors`, and restart the app.
"""

CSS = """
#status { min-height: 2.5em; }
/* a phone's screen cuts the Expression menu's long names: the chosen one is written out below it */
#expression-about { display: none; }
@media (max-width: 640px) { #expression-about { display: block; } }
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


def launch_options() -> dict:
    """Keyword arguments for ``Blocks.launch`` (server name and port come from Gradio's environment)."""
    return {
        "max_file_size": MAX_FILE_SIZE,
        "css": CSS,
        "head": HEAD,
        "footer_links": ["api"],
        # the shipped example pairs and the made example clip, at the addresses of the API page's examples
        "allowed_paths": [str(PAIRS_DIR), str(examples_folder())],
        "app_kwargs": {"middleware": [Middleware(BodyLimit), Middleware(ApiCheck)], "lifespan": lifespan},
    }


@contextlib.contextmanager
def serve_local(models_dir: str | os.PathLike | None = None, port: int | None = None):
    """The demo on 127.0.0.1 (a free port unless ``port``), in a thread, for benchmarks and tests: yields
    its URL and always closes it."""
    if port is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    app = build_demo(models_dir)
    app.launch(
        **launch_options(), server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True
    )
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()


def _shared_controls(catalog: ModelCatalog):
    """The Expression menu, the Intensity slider and the Compute backend choice above the tabs."""
    with gr.Row(elem_id="shared-controls"):
        expression = gr.Dropdown(
            choices=catalog.choices(),
            value=catalog.default(),
            allow_custom_value=True,  # the session's own models (Train tab); unknown names get a sentence
            label="Expression",
            info="The model files in the models folder (name — what it was trained on).",
            elem_id="expression",
            scale=3,
            min_width=200,
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
            min_width=200,
        )
        backend = checked_radio(
            "backend",
            choices=backend_choices(),
            value="numpy",
            label="Compute backend",
            info="Only the backends that work on this machine.",
            elem_id="backend",
            scale=2,
            min_width=200,
        )
    about = gr.Markdown(_about(catalog, catalog.default()), elem_id="expression-about")
    # the API page's example calls: the default expression at intensity 1
    with_example(expression, catalog.default() or "smile")
    with_example(intensity, 1.0)
    return expression, intensity, backend, about


def _about(catalog, expression, user=None) -> str:
    """The chosen expression's whole name (a phone's screen shows only its start in the menu)."""
    try:
        cat, name = session_catalog(catalog, user, expression)
        return f"Expression: {html.escape(cat.entry(name).label, quote=False)}"
    except MRError:
        return ""


def example_files(blocks: gr.Blocks) -> set[str]:
    """The copies of the examples' files that the page offers (Gradio makes them once, when the page is
    built, and its own clean-up keeps them): the sweeper of the upload folder must keep them too."""
    return {path for block in blocks.blocks.values() for path in getattr(block, "keep_in_cache", ())}


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
    no_models = NO_MODELS.format(folder=catalog.models_dir)

    with gr.Blocks(title=TITLE, analytics_enabled=None, delete_cache=(3600, 3600)) as demo:
        gr.Markdown(INTRO)
        if not catalog.names:
            gr.Markdown(no_models, elem_id="no-models")
        for problem in catalog.problems:
            gr.Markdown(f"Skipped a model file: {html.escape(problem, quote=False)}")
        expression, intensity, backend, about = _shared_controls(catalog)
        with gr.Tabs():
            connect_photo = mount_photo_tab(
                catalog, expression, intensity, backend, pipeline=pipeline, examples=examples
            )
            mount_editor_tab(load_photo, intensity, pipeline=pipeline, speak=speak_photo)
            connect_live = mount_live_tab(catalog, expression, intensity, backend, pipeline=pipeline)
            connect_video = mount_video_tab(
                catalog,
                expression,
                intensity,
                pipeline=pipeline,
                speak=speak_clip,
                results=temp_root / "mr-videos",
            )
            user_models, model_file = mount_train_tab(
                catalog, [expression], speak_training, sessions, examples=examples
            )
            explain, explained = mount_how_tab(catalog, expression, no_models)
        connect_photo(user_models, model_file)
        connect_video(user_models)
        connect_live(user_models)
        expression.change(
            functools.partial(_about, catalog),
            inputs=[expression, user_models],
            outputs=[about],
            api_name="about_expression",
            api_visibility="private",
            queue=False,
            show_progress="hidden",
        )
        demo.load(
            explain,
            inputs=[expression],
            outputs=explained,
            api_name="explain_on_load",
            api_visibility="undocumented",
        )

    demo.queue(default_concurrency_limit=CONCURRENCY_LIMIT, max_size=QUEUE_SIZE)
    # swept on start, every few minutes and at the end by the lifespan of launch_options()
    demo.housekeeping = Housekeeping(TempSweeper(temp_root, keep=lambda: example_files(demo)), sessions)
    return demo
