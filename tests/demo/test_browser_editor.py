"""The Face editor tab in a real browser (Debian's Chromium via Playwright): a photo, a preset, a slider.

Skips where Chromium or Playwright is missing (``.ci/run`` installs Chromium).  Screenshots go to
$MR_SCREENSHOT_DIR when set, else the test's temporary folder.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from servers import browser, url  # noqa: E402, F401 (the shared fixtures)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


def test_face_editor_presets_and_sliders(browser, url, tmp_path):  # noqa: F811
    from demo.examples import grace_hopper_path

    photo = grace_hopper_path()
    if photo is None:
        pytest.skip("matplotlib's sample portrait is not installed")
    shots = Path(os.environ.get("MR_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(url, wait_until="domcontentloaded", timeout=60_000)
        page.get_by_role("tab", name="Face editor").click()
        page.locator("#editor-photo input[type=file]").set_input_files(str(photo))
        status = page.locator("#editor-status")
        status.get_by_text("ready").wait_for(timeout=60_000)
        jaw = page.locator("#slider-jawOpen input[type=number]")
        assert float(jaw.input_value()) < 0.3  # the sliders show the face as it is: a closed mouth

        page.locator("#preset-surprised").click()
        status.get_by_text("preset surprised").wait_for(timeout=60_000)
        assert float(jaw.input_value()) > 0.2  # the preset's targets are shown on the sliders
        page.wait_for_selector("#editor-result img", timeout=30_000)
        page.screenshot(path=str(shots / "demo_editor_preset.png"), full_page=True)

        blink = page.locator("#slider-eyeBlink input[type=number]")
        blink.fill("0.6")
        blink.press("Enter")
        blink.blur()
        status.get_by_text("eyeBlink 0.60").wait_for(timeout=60_000)
        page.screenshot(path=str(shots / "demo_editor_slider.png"), full_page=True)

        # dragging a slider edits the face as it moves (no release needed)
        track = page.locator("#slider-mouthSmile input[type=range]")
        box = track.bounding_box()
        page.mouse.move(box["x"] + 2, box["y"] + box["height"] / 2)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.7, box["y"] + box["height"] / 2, steps=8)
        status.get_by_text(re.compile(r"mouthSmile 0\.[4-9]")).wait_for(timeout=60_000)
        page.mouse.up()
    finally:
        page.close()
    assert not errors, errors
