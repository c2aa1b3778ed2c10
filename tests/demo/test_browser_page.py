"""The page as a new visitor uses it (issue 20, items 15, 16, 18 and 19), in Debian's Chromium via
Playwright: the tab bar, an error that stays readable, a phone's screen, a group photo, and the
examples of the Video and Train tabs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))

from servers import browser, url  # noqa: E402, F401 (the shared fixtures)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

TABS = ["Photo", "Face editor", "Live", "Video", "Train", "How it works"]


def _open(browser, url, width=1280, height=1000):  # noqa: F811
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(url, wait_until="domcontentloaded", timeout=60_000)
    page.wait_for_selector("#photo", timeout=60_000)
    return page


def _portrait() -> Path:
    from demo.examples import grace_hopper_path

    path = grace_hopper_path()
    if path is None:
        pytest.skip("matplotlib's sample portrait is not installed")
    return path


def test_the_tab_bar_keeps_every_tab_whatever_is_clicked(browser, url):  # noqa: F811
    """Each tab once, in order, after every click (the Train tab's states once stood in the tab bar's
    order: clicking Train made it read "... Train Train" and "How it works" unreachable)."""
    page = _open(browser, url)
    try:
        bar = page.locator("[role=tablist] [role=tab]")
        assert bar.all_inner_texts() == TABS
        for order in (["Train", "How it works", "Video"], ["Video", "Train", "Photo", "How it works"]):
            for name in order:
                page.get_by_role("tab", name=name, exact=True).click()
                page.wait_for_timeout(300)
                assert bar.all_inner_texts() == TABS, (name, bar.all_inner_texts())
        page.locator("#weights").wait_for(timeout=30_000)  # How it works is reached
    finally:
        page.close()


def test_an_error_sentence_stays_in_the_status_line(browser, url):  # noqa: F811
    """The pop-up goes after 10 s; the sentence stays in the tab's status line (not a bare "Error")."""
    page = _open(browser, url)
    try:
        page.locator("#run").click()  # no photo
        sentence = "No photo was given: upload one or take one with the webcam first."
        status = page.locator("#status")
        status.get_by_text(sentence, exact=False).wait_for(timeout=30_000)
        page.wait_for_timeout(11_000)
        assert page.locator('[data-testid="toast-body"]').count() == 0  # the pop-up has gone
        assert sentence in status.inner_text() and status.get_by_text(sentence, exact=False).is_visible()
    finally:
        page.close()


def test_a_face_editor_slider_error_stays_in_its_status_line(browser, url):  # noqa: F811
    """A slider moved before any photo: the sentence saying what to do stays in the editor's status line
    after its pop-up has gone."""
    page = _open(browser, url)
    try:
        page.get_by_role("tab", name="Face editor", exact=True).click()
        blink = page.locator("#slider-eyeBlink input[type=number]")
        blink.fill("0.6")
        blink.press("Enter")
        blink.blur()
        sentence = "Upload a photo (or take one with the webcam) first."
        status = page.locator("#editor-status")
        status.get_by_text(sentence, exact=False).wait_for(timeout=30_000)
        page.wait_for_timeout(11_000)
        assert page.locator('[data-testid="toast-body"]').count() == 0  # the pop-up has gone
        assert sentence in status.inner_text() and status.get_by_text(sentence, exact=False).is_visible()
    finally:
        page.close()


def test_a_phone_screen_shows_the_whole_expression_name(browser, url):  # noqa: F811
    """At 390 px the menu shows only the start of "smile — for neutral faces: ..."; the whole name is
    written out below it, within the screen, and nothing is wider than the screen."""
    page = _open(browser, url, width=390, height=844)
    try:
        about = page.locator("#expression-about")
        about.get_by_text("smile — for neutral faces: neutral → smiling, 90 pairs, mesh + MR").wait_for(
            timeout=30_000
        )
        box = about.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
        assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
        fits = "e => [...e.querySelectorAll('p')].every(p => p.scrollWidth <= p.clientWidth)"
        assert about.evaluate(fits)
    finally:
        page.close()


def test_a_group_photo_lets_the_user_pick_the_face_shown(browser, url, tmp_path):  # noqa: F811
    face = Image.open(_portrait()).convert("RGB")
    group = Image.new("RGB", (face.width * 2 + 60, face.height), (200, 205, 210))
    group.paste(face, (0, 0))
    group.paste(face.resize((face.width * 4 // 5, face.height * 4 // 5)), (face.width + 60, 60))
    path = tmp_path / "two.jpg"
    group.save(path, quality=92)
    page = _open(browser, url)
    try:
        page.locator("#photo input[type=file]").set_input_files(str(path))
        page.wait_for_selector("#photo img", timeout=30_000)
        page.locator("#run").click()
        page.locator("#status").get_by_text("2 faces found and changed", exact=False).wait_for(timeout=60_000)
        picker = page.locator("#face-picker")
        picker.get_by_text("1 of 2 (largest)").wait_for(timeout=30_000)
        first = page.locator("#crops img").first.get_attribute("src")
        picker.get_by_text("2 of 2").click()
        page.wait_for_function(
            "s => document.querySelector('#crops img') && document.querySelector('#crops img').src !== s",
            arg=first,
            timeout=30_000,
        )
    finally:
        page.close()


def test_the_video_example_is_edited_and_its_status_stays_on_the_page(browser, url):  # noqa: F811
    page = _open(browser, url)
    try:
        page.get_by_role("tab", name="Video", exact=True).click()
        page.locator("#video-examples").get_by_role("button").first.click()
        page.locator("#video-in video").wait_for(timeout=30_000)
        page.locator("#run-video").click()
        status = page.locator("#video-status")
        status.get_by_text("edited by 'smile' at intensity 1", exact=False).wait_for(timeout=180_000)
        assert status.inner_text().startswith("45 frames, 45 with a face"), status.inner_text()
        page.locator("#video-out video").wait_for(timeout=30_000)
    finally:
        page.close()


def test_the_train_example_pairs_train_an_expression(browser, url):  # noqa: F811
    page = _open(browser, url)
    try:
        page.get_by_role("tab", name="Train", exact=True).click()
        examples = page.locator("#train-examples")
        assert (
            "Face Research Lab London Set" in examples.inner_text() and "CC BY 4.0" in examples.inner_text()
        )
        examples.locator("[data-testid=dataset-cell-0-2]").click()
        page.wait_for_function(
            "() => document.querySelector('#train-name textarea, #train-name input').value === 'smile'",
            timeout=30_000,
        )
        page.locator("#train").click()
        status = page.locator("#train-status")
        page.wait_for_function(
            "() => /Trained|Error/.test(document.querySelector('#train-status').innerText)", timeout=240_000
        )
        assert "Trained 'smile' on 6 pairs" in status.inner_text(), status.inner_text()
    finally:
        page.close()


def test_the_video_tabs_face_editor_sliders_edit_the_clip(browser, url):  # noqa: F811
    """The Face editor tab's sliders in the Video tab: a moved slider writes its target, and the clip is
    edited by the face editor alone when the expression model is off."""
    page = _open(browser, url, height=1400)
    try:
        page.get_by_role("tab", name="Video", exact=True).click()
        page.locator("#video-examples").get_by_role("button").first.click()
        page.locator("#video-in video").wait_for(timeout=30_000)
        page.locator("#video-editor").get_by_text("Face editor", exact=False).first.click()
        jaw = page.locator("#video-slider-jawOpen input[type=number]")
        jaw.fill("0.4")
        jaw.press("Enter")
        jaw.blur()
        page.wait_for_function(
            "() => document.querySelector('#video-targets textarea, #video-targets input').value === 'jawOpen=0.4'",
            timeout=30_000,
        )
        page.locator("#video-use-model input[type=checkbox]").uncheck()
        page.locator("#run-video").click()
        status = page.locator("#video-status")
        status.get_by_text("edited by the face editor (targets jawOpen=0.4)", exact=False).wait_for(
            timeout=180_000
        )
        assert "'smile'" not in status.inner_text()
    finally:
        page.close()
