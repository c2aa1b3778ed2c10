"""The demo in a real browser: headless Chromium (Debian's package) driven by Playwright.

Loads the page, uploads a photo, picks an expression, clicks Synthesize, waits for the result and
saves a screenshot (to $MR_SCREENSHOT_DIR when set, else the test's temporary folder).  Skips
where Chromium or Playwright is missing (``.ci/run`` installs Chromium).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


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
def url(tmp_path_factory):
    pytest.importorskip("gradio")
    from test_app import make_models, serve

    models = make_models(tmp_path_factory.mktemp("models"))
    with serve(models) as u:
        yield u


def test_upload_pick_expression_and_synthesize(browser, url, tmp_path):
    from demo.examples import grace_hopper_path

    photo = grace_hopper_path()
    if photo is None:
        pytest.skip("matplotlib's sample portrait is not installed")
    shots = Path(os.environ.get("MR_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(url, wait_until="domcontentloaded", timeout=60_000)
        page.wait_for_selector("#photo", timeout=60_000)

        page.locator("#photo input[type=file]").set_input_files(str(photo))
        page.wait_for_selector("#photo img", timeout=30_000)

        # Pick the expression from the menu (the default is "smile": choose the other model).
        page.locator("#expression input").click()
        page.get_by_role("option", name="neutral — smiling → neutral", exact=False).click()
        assert "neutral" in page.locator("#expression input").input_value()

        page.locator("#run").click()
        status = page.locator("#status")
        status.get_by_text("face found", exact=False).wait_for(timeout=60_000)
        page.wait_for_selector("#result img", timeout=30_000)
        assert "changed to neutral" in status.inner_text()
        page.locator("#result img").evaluate("img => img.decode()")  # the image has really loaded
        page.screenshot(path=str(shots / "demo_photo.png"), full_page=True)

        # The "how it works" tab shows the chosen model's weight maps.
        page.get_by_role("tab", name="How it works").click()
        page.wait_for_selector("#weights img", timeout=30_000)
        page.screenshot(path=str(shots / "demo_how_it_works.png"), full_page=True)
    finally:
        page.close()
    assert not errors, errors
