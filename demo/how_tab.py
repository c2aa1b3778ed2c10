"""The **How it works** tab: what masked regression is, the installed methods (as their classes describe
themselves) and the weight maps of the model chosen in the Expression menu."""

from __future__ import annotations

import threading

import gradio as gr
import numpy as np

from mr_core.methods import get_method, trainable_methods
from mr_core.training import DEFAULT_METHOD

from .messages import speak_model
from .weightmaps import render_weight_maps

__all__ = ["HOW_IT_WORKS", "methods_text", "mount_how_tab"]

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

A model that moves the person's pixels by one fixed warp has a **learned motion** panel first, with
arrows showing where the content moves; its masked regression predicts only the *change* of colour of
the moved face (weights summing to about 0 where nothing changes, the bias holding the average change).
"""


def methods_text() -> str:
    """The installed methods a model can be trained with, as their classes describe themselves."""
    lines = [
        f"**The methods** (`python -m mr_core train --method NAME`; the shipped models and the Train tab "
        f"use {get_method(DEFAULT_METHOD).label}):",
        "",
    ]
    for name in trainable_methods():
        method = get_method(name)
        text = method.description.strip().rstrip(".")
        lines.append(f"- **{method.label}** (`{name}`): {text[:1].lower()}{text[1:]}.")
    return "\n".join(lines) + "\n"


def mount_how_tab(catalog, expression: gr.Dropdown, no_models: str):
    """Add the tab (inside ``gr.Tabs``); its maps follow ``expression``.  Returns ``(explain, outputs)``
    for the page to call when it loads.  ``no_models``: what to say when no model is installed."""
    cache: dict[str, np.ndarray] = {}
    lock = threading.Lock()

    @speak_model
    def explain(name):
        if name not in catalog.entries:
            return None, no_models if not catalog.names else ""
        entry = catalog.entry(name)
        with lock:
            picture = cache.get(entry.name)
        if picture is None:
            model = catalog.model(entry.name, "numpy")
            picture = render_weight_maps(
                model.weights_,
                model.bias_,
                model.receptive_field,
                title=f"What '{entry.name}' learned ({entry.source} → {entry.target})",
                motion=getattr(model, "displacement_", None),
            )
            with lock:
                cache[entry.name] = picture
        return picture, entry.describe()

    with gr.Tab("How it works", id="how-tab"):
        gr.Markdown(HOW_IT_WORKS + "\n" + methods_text(), elem_id="how-text")
        weight_picture = gr.Image(
            label="Weight maps", elem_id="weights", interactive=False, format="png", buttons=["fullscreen"]
        )
        model_info = gr.Markdown(elem_id="model-info")
    expression.change(
        explain,
        inputs=[expression],
        outputs=[weight_picture, model_info],
        api_name="explain",
        api_visibility="undocumented",
        show_progress="hidden",
    )
    return explain, [weight_picture, model_info]
