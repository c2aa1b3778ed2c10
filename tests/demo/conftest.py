"""Fixtures of the demo's browser tests: one headless Chromium and one demo server per module."""

from __future__ import annotations

import pytest
from servers import CHROMIUM, CHROMIUM_FLAGS, serve


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed ({CHROMIUM}); apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_FLAGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def url():
    """The demo as users get it: on the models shipped in the repository."""
    pytest.importorskip("gradio")
    from mr_core.core.modelfile import MODELS_DIR

    with serve(MODELS_DIR) as u:
        yield u
