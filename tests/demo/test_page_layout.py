"""The page's structure, without a browser: a ``gr.Tabs`` holds only tabs (issue 20, item 15).

A component placed directly in ``gr.Tabs`` (a ``gr.State`` made outside its tab, say) takes a place
in the tab bar's order: after the Train tab was clicked, the bar read "... Train Train" and "How it
works" could not be reached (tests/demo/test_browser_page.py sees it in the page)."""

from __future__ import annotations

import pytest

gr = pytest.importorskip("gradio")

from demo import build_demo  # noqa: E402
from mr_core.core.modelfile import MODELS_DIR  # noqa: E402


def _walk(block):
    yield block
    for child in getattr(block, "children", []) or []:
        yield from _walk(child)


def test_tabs_hold_only_tabs_and_every_event_has_an_api_name():
    app = build_demo(MODELS_DIR, examples=False)
    tabs = [b for b in _walk(app) if isinstance(b, gr.Tabs)]
    assert tabs
    for t in tabs:
        strays = [type(c).__name__ for c in t.children if not isinstance(c, gr.Tab)]
        assert not strays, f"components directly in gr.Tabs: {strays}"
    names = [c.label for c in tabs[0].children]
    assert names == ["Photo", "Face editor", "Live", "Video", "Train", "How it works"], names
    unnamed = [fn.name for fn in app.fns.values() if not fn.api_name]
    assert not unnamed, f"events without an api_name: {unnamed}"
