"""The **Train** tab: teach a new expression from paired photos, or bring a model file, per session.

A user's models live in a :class:`~demo.sessions.UserModels` held by a ``gr.State``, within the
bounds of the server's :class:`~demo.sessions.SessionStore` (models per session and in all, a time
to live; their files are removed with them).  Nothing is written to the server's
``models/`` folder and no other session ever sees them; :func:`demo.catalog.session_catalog` merges
them with the shipped models for every tab.
"""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import gradio as gr

from mr_core.data import Failure, Pair, pair_files
from mr_core.errors import InvalidParameterError
from mr_core.training import DEFAULT_METHOD, describe_failures, train_photos

from .catalog import MAX_MODEL_BYTES, NAME, YOURS, ModelCatalog, check_model_file, model_entry
from .components import EXAMPLE_PHOTO_URL, require_files, with_example
from .engine import MAX_PIXELS
from .examples import example_pairs, example_url
from .messages import keep_error
from .sessions import SessionStore, UserModels

__all__ = [
    "MAX_MODEL_BYTES",
    "MAX_PAIRS",
    "TRAIN_METHOD",
    "UserModels",
    "mount_train_tab",
    "train_expression",
]

log = logging.getLogger("demo")

#: The method the Train tab fits (one line to switch).
TRAIN_METHOD = DEFAULT_METHOD
#: Most pairs one training may use (a free Space has 2 vCPUs).
MAX_PAIRS = 60
#: Trainings run at once; the others wait in the queue.
TRAIN_CONCURRENCY = 2


def limits_text(store: SessionStore) -> str:
    """The Train tab's limits paragraph, with what happens to the user's models."""
    return f"""\
**Limits on this server:** up to {MAX_PAIRS} pairs, photos up to 15 MB and 50 megapixels each, one face
per photo (the largest is used); a training of 8 pairs takes about 1 s here, 30 pairs about 3 s (2 CPU
cores). Model files up to {MAX_MODEL_BYTES // 1_000_000} MB. Your models are yours alone: nobody else
sees them. {store.describe()[0].upper()}{store.describe()[1:]}. Download a model to keep it.
"""


INTRO = """\
### Teach a new expression
Upload photos of the same people twice: **before** (e.g. neutral) and **after** (the new expression),
paired by file name (`anna.jpg` in both sets). Give the expression a name and press **Train**: every
face is found and aligned, and a *mesh + MR* model is trained in closed form: a linear shape model that
predicts where each face's own 478 landmarks go, and a masked regression for what appears in an opened
mouth. The new expression then appears in the **Expression** menu above.

What a few pairs can teach: the *motion* (where mouth corners, lips, cheeks and brows go) is stable from
few pairs — on held-out London faces the smile's landmark motion predicted after 8 pairs correlates 0.85
with the one predicted after 80 (0.98 after 30). The *texture* (teeth, creases, shading) needs many
different faces: from a few pairs, or many photos of one person, it learns that person's skin and
lighting, so keep the intensity moderate on other faces.

"""


def _check_name(name) -> str:
    name = (name or "").strip()
    if not name:
        raise InvalidParameterError("give the new expression a name, e.g. surprised")
    if not NAME.match(name):
        raise InvalidParameterError(
            f"the name {name[:40]!r} is not usable: use up to 40 letters, digits, spaces, '-', '_' or '.'"
        )
    return name


def _paths(files) -> list[Path]:
    if not files:
        return []
    if isinstance(files, (str, Path)):
        files = [files]
    return [Path(getattr(f, "name", f)) for f in files]


def pair_uploads(sources, targets) -> tuple[list[Pair], list[Failure]]:
    """Pairs of uploaded photos with the same file name (without extension), and the unpaired ones."""
    src, tgt = _paths(sources), _paths(targets)
    if not src or not tgt:
        raise InvalidParameterError(
            "upload two sets of photos: the 'before' photos and the 'after' photos, paired by file name"
        )
    for label, files in (("before", src), ("after", tgt)):
        if len(files) > MAX_PAIRS:
            raise InvalidParameterError(
                f"too many photos: {len(files)} {label} photos, but this server trains on at most "
                f"{MAX_PAIRS} pairs; leave some out"
            )
    return pair_files(src, tgt, labels=("before", "after"))


def train_expression(sources, targets, name, user: UserModels, progress=None) -> tuple[Path, str]:
    """Train the expression ``name`` on uploaded pairs into ``user``'s folder; (model file, status)."""
    name = _check_name(name)
    pairs, skipped = pair_uploads(sources, targets)
    done = [0]
    total = 2 * len(pairs)

    def step(n: int) -> None:
        done[0] += n
        if progress is not None:
            progress(min(done[0], total) / total, desc="aligning faces and training")

    res = train_photos(
        pairs,
        source="neutral",
        target=name,
        method=TRAIN_METHOD,
        training_set=f"{len(pairs)} pairs uploaded in the web demo",
        landmark_progress=step,
        progress=step,
        max_pixels=MAX_PIXELS,  # the Photo tab's limit: one for every way a photo arrives
    )
    skipped += res.failures
    model = res.model
    model.training_set = f"{res.used} pairs uploaded in the web demo"
    path = user.folder / f"{re.sub(r'[^A-Za-z0-9_.-]+', '_', name)}.safetensors"
    model.save(path)
    used, seconds = res.used, res.seconds
    del model, res  # the fitted object holds the training sums too; synthesis reads the file back
    key = f"{name}{YOURS}"
    notes = user.add(key, path, model_entry(key, path))
    status = (
        f"Trained '{name}' on {used} pair{'s' if used != 1 else ''} in {seconds:.1f} s; "
        f"pick '{key}' in the Expression menu."
    )
    for note in notes:
        status += f" {note[0].upper()}{note[1:]}."
    if skipped:
        status += f" Skipped {len(skipped)} photo{'s' if len(skipped) != 1 else ''}: {describe_failures(skipped, 5)}."
    return path, status


def add_model_file(model_file, user: UserModels) -> tuple[str, list[str]]:
    """Validate an uploaded model file, copy it into ``user``'s folder; its menu name and the
    sentences saying which models were removed to make room."""
    if not model_file:
        raise InvalidParameterError("no model file was given: upload a .safetensors file")
    src = Path(model_file)
    model = check_model_file(src, src.name)
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", src.stem)[:40] or "model"
    path = user.folder / f"{stem}.safetensors"
    shutil.copyfile(src, path)
    key = f"{stem}{YOURS}"
    return key, user.add(key, path, model_entry(key, path), model)


def _drop(user: UserModels | None) -> None:
    if user is not None:
        user.close()


def _layout(store: SessionStore, examples: bool):
    """The tab's components (inside its ``gr.Tab``, states included: a ``gr.Tabs`` holds only tabs)."""
    with gr.Tab("Train", id="train-tab"):
        user_state = gr.State(None, delete_callback=_drop)
        last = gr.State(None)
        gr.Markdown(INTRO + limits_text(store))
        with gr.Row():
            before = require_files(
                gr.File(file_count="multiple", label="Before (e.g. neutral)", elem_id="train-before"),
                "the 'before' photos",
            )
            after = require_files(
                gr.File(file_count="multiple", label="After (the new expression)", elem_id="train-after"),
                "the 'after' photos",
            )
        with gr.Row():
            name = gr.Textbox(
                label="Expression name", placeholder="e.g. surprised", elem_id="train-name", scale=3
            )
            train = gr.Button("Train", variant="primary", elem_id="train", scale=1)
        sources, targets = example_pairs() if examples else ([], [])
        if sources:
            gr.Examples(
                examples=[[[str(p) for p in sources], [str(p) for p in targets], "smile"]],
                inputs=[before, after, name],
                label=f"Example: {len(sources)} people of the Face Research Lab London Set, neutral and "
                "smiling (CC BY 4.0: DeBruine & Jones 2017, https://doi.org/10.6084/m9.figshare.5047666.v5)",
                elem_id="train-examples",
            )
        train_status = gr.Markdown(label="Status", elem_id="train-status")
        with gr.Row():
            trained = gr.File(
                label="Your model (download to keep it)", elem_id="train-model", interactive=False
            )
            upload = gr.File(
                file_types=[".safetensors"],
                label="Or upload a model file (.safetensors)",
                elem_id="train-upload",
            )
        api_model = with_example(
            require_files(gr.File(visible=False, label="model_file"), "model file"), None
        )
    # the API page's example call: the shipped pairs and a name, not placeholders
    with_example(before, [example_url(p) for p in sources[:2]] or [EXAMPLE_PHOTO_URL])
    with_example(after, [example_url(p) for p in targets[:2]] or [EXAMPLE_PHOTO_URL])
    with_example(name, "smile")
    return user_state, last, before, after, name, train, train_status, trained, upload, api_model


def mount_train_tab(
    catalog: ModelCatalog,
    expressions: list[gr.Dropdown],
    speak,
    store: SessionStore | None = None,
    *,
    examples: bool = True,
) -> tuple[gr.State, gr.File]:
    """Build the Train tab inside the current ``gr.Tabs``; returns the session's state and the hidden
    model-file input of ``/synthesize``.  ``expressions`` are the menus that get the user's models;
    ``speak`` turns library errors into ``gr.Error``; ``store``: the server's bounds on them."""
    store = store if store is not None else SessionStore()
    user_state, last, before, after, name, train, train_status, trained, upload, api_model = _layout(
        store, examples
    )

    def menus(user: UserModels | None, value):
        choices = catalog.choices() + ([(e.label, n) for n, e in user.entries.items()] if user else [])
        updates = [gr.update(choices=choices, value=value) for _ in expressions]
        return updates[0] if len(updates) == 1 else updates

    @speak
    def do_train(sources, targets, expression_name, user, progress=gr.Progress()):  # noqa: B008 (Gradio reads it)
        user = user if user is not None else UserModels(store)
        path, status = train_expression(sources, targets, expression_name, user, progress)
        return str(path), status, user

    @speak
    def do_upload(model_file, user):
        user = user if user is not None else UserModels(store)
        key, notes = add_model_file(model_file, user)
        status = f"Loaded '{key}'; pick it in the Expression menu."
        for note in notes:
            status += f" {note[0].upper()}{note[1:]}."
        return status, user, key

    trained_event = train.click(
        do_train,
        inputs=[before, after, name, user_state],
        outputs=[trained, train_status, user_state],
        api_name="train",
        api_description="Teach a new expression: (before photos, after photos paired by file name, at least "
        "2 pairs; name) -> (model file .safetensors, status sentence).",
        concurrency_limit=TRAIN_CONCURRENCY,
        concurrency_id="train",
    )
    keep_error(trained_event, train_status, "train")
    trained_event.success(
        lambda user, expression_name: menus(user, f"{(expression_name or '').strip()}{YOURS}"),
        inputs=[user_state, name],
        outputs=expressions,
        api_name="train_menus",
        api_visibility="private",
        show_progress="hidden",
    )
    uploaded = upload.upload(
        do_upload,
        inputs=[upload, user_state],
        outputs=[train_status, user_state, last],
        api_name="add_model",
        api_visibility="private",
    )
    keep_error(uploaded, train_status, "add_model")
    uploaded.success(
        menus,
        inputs=[user_state, last],
        outputs=expressions,
        api_name="add_model_menus",
        api_visibility="private",
        show_progress="hidden",
    )
    return user_state, api_model
