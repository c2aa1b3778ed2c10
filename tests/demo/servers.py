"""What the demo's tests share (not a test module): the demo served on a free port, the browser's
settings and fixtures (``browser``, ``url``: one headless Chromium and one demo server per module that
imports them), and the London pairs as uploads."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

#: Debian's Chromium (``.ci/run`` installs it) and the flags every browser test launches it with.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(models_dir: Path):
    """The demo on a free local port (in a thread); yields its URL and always closes it."""
    from demo import serve_local

    return serve_local(models_dir)


def london_pairs(london: Path, start: int, n: int) -> tuple[list[str], list[str]]:
    """``n`` London pairs from the ``start``-th, as (neutral paths, smiling paths)."""
    names = sorted(p.name for p in (london / "neutral").glob("*.jpg"))[start : start + n]
    return [str(london / "neutral" / x) for x in names], [str(london / "smiling" / x) for x in names]


def files(paths) -> list:
    """Paths as gradio_client uploads."""
    from gradio_client import handle_file

    return [handle_file(str(p)) for p in paths]


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
