"""The Train tab in a real browser (Debian's Chromium via Playwright): upload 8 London pairs, train,
read the status line, then use the new expression in the Photo tab."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from servers import browser, url  # noqa: E402, F401 (the shared fixtures)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


def test_train_in_the_page_and_use_the_expression(browser, url, london):  # noqa: F811
    names = sorted(p.name for p in (london / "neutral").glob("*.jpg"))[:8]
    page = browser.new_page(viewport={"width": 1280, "height": 1100})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        page.goto(url, wait_until="domcontentloaded", timeout=60_000)
        page.get_by_role("tab", name="Train").click()
        page.locator("#train-before input[type=file]").set_input_files(
            [str(london / "neutral" / n) for n in names]
        )
        page.locator("#train-after input[type=file]").set_input_files(
            [str(london / "smiling" / n) for n in names]
        )
        page.locator("#train-name textarea, #train-name input").first.fill("beam")
        page.locator("#train").click()
        page.locator("#train-status").get_by_text("Trained 'beam' on 8 pairs", exact=False).wait_for(
            timeout=120_000
        )
        # the menu now offers (and has picked) the new expression; use it on a held-out face
        page.wait_for_function(
            "() => document.querySelector('#expression input').value.startsWith('beam (yours)')",
            timeout=30_000,
        )
        page.get_by_role("tab", name="Photo").click()
        held_out = london / "neutral" / sorted(p.name for p in (london / "neutral").glob("*.jpg"))[-1]
        page.locator("#photo input[type=file]").set_input_files(str(held_out))
        page.wait_for_selector("#photo img", timeout=30_000)
        page.locator("#run").click()
        page.locator("#status").get_by_text("changed to beam by 'beam (yours)'", exact=False).wait_for(
            timeout=60_000
        )
    finally:
        page.close()
    assert not errors, errors
