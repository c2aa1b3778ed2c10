"""The demo in a real browser: headless Chromium (Debian's package) driven by Playwright.

Loads the page, uploads a photo, picks an expression, clicks Synthesize, waits for the result and
saves a screenshot (to $MR_SCREENSHOT_DIR when set, else the test's temporary folder).  Skips
where Chromium or Playwright is missing (``.ci/run`` installs Chromium).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from servers import browser, url  # noqa: E402, F401 (the shared fixtures)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


def test_upload_pick_expression_and_synthesize(browser, url, tmp_path):  # noqa: F811
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

        status = page.locator("#status")
        # Pick each expression from the menu in turn (the paper's MR, then the default mesh + MR smile).
        for name, shot in (("smile-paper", "demo_photo_paper.png"), ("smile", "demo_photo.png")):
            option = f"{name} — for neutral faces: neutral → smiling"
            page.locator("#expression input").click()
            page.get_by_role("option", name=option, exact=False).click()
            assert page.locator("#expression input").input_value().startswith(option)
            page.locator("#run").click()
            status.get_by_text(f"changed to smiling by '{name}'", exact=False).wait_for(timeout=60_000)
            page.wait_for_selector("#result img", timeout=30_000)
            page.locator("#result img").evaluate("img => img.decode()")  # the image has really loaded
            page.screenshot(path=str(shots / shot), full_page=True)

        # The "how it works" tab shows the chosen model's weight maps.
        page.get_by_role("tab", name="How it works").click()
        page.wait_for_selector("#weights img", timeout=30_000)
        page.screenshot(path=str(shots / "demo_how_it_works.png"), full_page=True)
    finally:
        page.close()
    assert not errors, errors


def test_error_clears_the_previous_status(browser, url, tmp_path):  # noqa: F811
    """After a success, a photo without a face shows the error with what to do, and neither the status
    line nor the result and crops show the previous photo's any more."""
    import numpy as np
    from PIL import Image

    from demo.examples import grace_hopper_path

    photo = grace_hopper_path()
    if photo is None:
        pytest.skip("matplotlib's sample portrait is not installed")
    sky = tmp_path / "sky.png"
    Image.fromarray(np.tile(np.linspace(60, 200, 320, dtype=np.uint8)[:, None, None], (1, 240, 3))).save(sky)
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    try:
        page.goto(url, wait_until="domcontentloaded", timeout=60_000)
        page.wait_for_selector("#photo", timeout=60_000)
        status = page.locator("#status")

        page.locator("#photo input[type=file]").set_input_files(str(photo))
        page.wait_for_selector("#photo img", timeout=30_000)
        page.locator("#run").click()
        status.get_by_text("changed to smiling", exact=False).wait_for(timeout=60_000)

        page.locator("#photo").get_by_role("button", name="Remove Image").click()
        page.locator("#photo input[type=file]").set_input_files(str(sky))
        page.locator("#photo img[src*='sky']").wait_for(timeout=30_000)
        page.locator("#run").click()
        page.get_by_text("use a photo with a clear, front-facing face", exact=False).first.wait_for(
            timeout=60_000
        )
        assert "changed to" not in status.inner_text()
        # nor does the previous photo's result stay under the error
        assert page.locator("#result img").count() == 0 and page.locator("#crops img").count() == 0
    finally:
        page.close()


def test_a_file_that_is_not_a_photo_is_refused_when_uploaded(browser, url, tmp_path):  # noqa: F811
    """A text file given as the photo is refused as soon as it is uploaded: the status line says why,
    and the photo input is cleared (no broken-image frame waiting for Synthesize)."""
    from demo.examples import grace_hopper_path

    photo = grace_hopper_path()
    if photo is None:
        pytest.skip("matplotlib's sample portrait is not installed")
    fake = tmp_path / "notes.jpg"
    fake.write_text("this is not a photo\n")
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    try:
        page.goto(url, wait_until="domcontentloaded", timeout=60_000)
        page.wait_for_selector("#photo", timeout=60_000)
        status = page.locator("#status")
        page.locator("#photo input[type=file]").set_input_files(str(fake))
        status.get_by_text(
            "notes.jpg: not an image (or an unsupported format); upload a JPEG, PNG, WebP or BMP photo.",
            exact=False,
        ).wait_for(timeout=30_000)
        page.locator("#photo img").wait_for(state="detached", timeout=30_000)
        # a photo uploaded next is taken as usual, and the warning gives way to the result
        page.locator("#photo input[type=file]").set_input_files(str(photo))
        page.wait_for_selector("#photo img", timeout=30_000)
        page.locator("#run").click()
        status.get_by_text("changed to smiling", exact=False).wait_for(timeout=60_000)
        assert "not an image" not in status.inner_text()
    finally:
        page.close()


def test_api_page_offers_no_mcp_and_asks_for_none(browser, url):  # noqa: F811
    """This app serves no MCP: the API page shows no MCP tab and makes no request for MCP tools (which
    would fail with 404 and an error in the browser's console); the other tabs are there."""
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    failed: list[str] = []
    mcp_requests: list[str] = []
    console_errors: list[str] = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("request", lambda r: mcp_requests.append(r.url) if "/gradio_api/mcp" in r.url else None)
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(url, wait_until="domcontentloaded", timeout=60_000)
        page.wait_for_selector("#photo", timeout=60_000)
        page.get_by_text("Use via API", exact=False).first.click()
        page.get_by_text("API documentation", exact=False).first.wait_for(timeout=30_000)
        tabs = page.locator("li.snippet")
        tabs.filter(has_text="Python").first.wait_for(timeout=30_000)
        page.get_by_text("/synthesize", exact=True).first.wait_for(timeout=30_000)  # the docs are in
        # The page asks for the MCP tools as it opens; one more round trip to the server lets that
        # request, had there been one, be answered before the counts are read.
        assert page.evaluate("() => fetch('gradio_api/info').then(r => r.ok)")
        shown = [tabs.nth(i).inner_text().strip() for i in range(tabs.count()) if tabs.nth(i).is_visible()]
        assert shown[:2] == ["Python", "JavaScript"] and "MCP" not in shown, shown
        assert page.locator("li.snippet.current-lang").inner_text().strip() == "Python"
        assert not mcp_requests and not failed and not console_errors, (mcp_requests, failed, console_errors)
    finally:
        page.close()
