"""The Live tab in a real browser: headless Chromium plays a video file as the webcam.

Chromium's ``--use-fake-device-for-media-stream --use-file-for-fake-video-capture=FILE.y4m``
makes a Y4M video the camera.  The video is the public-domain portrait from matplotlib's sample
data panning slowly across a 640x480 frame.  The test starts the stream, checks that frames with
the expression applied come back and keep coming, and writes the measured output frame rate to
``live_fps.json`` in its temporary folder (and to ``$MR_BENCH_DIR`` when set).
"""

from __future__ import annotations

import io
import json
import os
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from test_browser import CHROMIUM, CHROMIUM_FLAGS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

W, H, FRAMES, FPS = 640, 480, 60, 10
FACE = (320, 375)  # portrait size in the frame (face about 110 px wide)
TOP = 50
MEASURE_S = 8.0
FACE_ROWS = slice(TOP + 120, TOP + 300)  # the rows of the portrait with the mouth and cheeks


def pan_frames() -> list[np.ndarray]:
    """The portrait panning 2 px per frame from left to right over a grey backdrop (RGB frames)."""
    import cv2

    from demo.examples import grace_hopper_path
    from mr_core.imageio import read_image

    path = grace_hopper_path()
    if path is None:
        pytest.skip("matplotlib's sample portrait is not installed")
    face = cv2.resize(read_image(path).rgb, FACE, interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(FRAMES):
        frame = np.full((H, W, 3), 150, dtype=np.uint8)
        x = 100 + 2 * i
        frame[TOP : TOP + FACE[1], x : x + FACE[0]] = face
        frames.append(frame)
    return frames


def write_y4m(path: Path, frames: list[np.ndarray]) -> None:
    """An uncompressed YUV4MPEG2 video (4:2:0), the format Chromium's fake camera reads."""
    import cv2

    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{W} H{H} F{FPS}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())


def fetch_rgb(src: str) -> np.ndarray:
    from PIL import Image

    with urllib.request.urlopen(src, timeout=30) as r:
        return np.asarray(Image.open(io.BytesIO(r.read())).convert("RGB"))


def closest_input(out: np.ndarray, frames: list[np.ndarray]) -> tuple[np.ndarray, float]:
    """The input frame (or its mirror image: the page may mirror the webcam) nearest to ``out``
    away from the mouth and cheeks, and the mean absolute difference there."""
    mask = np.ones((H, W), dtype=bool)
    mask[FACE_ROWS] = False
    best, best_d = frames[0], np.inf
    for frame in frames:
        for cand in (frame, frame[:, ::-1]):
            d = float(np.abs(out.astype(np.int16) - cand)[mask].mean())
            if d < best_d:
                best, best_d = cand, d
    return best, best_d


def test_live_stream_returns_changed_frames(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed ({CHROMIUM}); apt-get install chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    frames = pan_frames()
    video = tmp_path / "webcam.y4m"
    write_y4m(video, frames)
    flags = CHROMIUM_FLAGS + [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
    ]
    with sync_api.sync_playwright() as p, _serve() as url:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=flags, headless=True)
        try:
            page = browser.new_context(permissions=["camera"]).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(url, wait_until="domcontentloaded", timeout=60_000)
            page.wait_for_selector("#photo", timeout=60_000)
            page.get_by_role("tab", name="Live").click()
            page.get_by_title("grant webcam access").click()
            page.locator("#live-in").get_by_role("button", name="capture photo").click()
            page.wait_for_selector("#live-out img", timeout=60_000)

            srcs: list[str] = []
            t0 = time.monotonic()
            while time.monotonic() - t0 < MEASURE_S:
                src = page.locator("#live-out img").get_attribute("src")
                if src and (not srcs or src != srcs[-1]):
                    srcs.append(src)
                page.wait_for_timeout(10)
            elapsed = time.monotonic() - t0
            outputs = [fetch_rgb(s) for s in srcs[:: max(1, len(srcs) // 6)]]
        finally:
            browser.close()
    assert not errors, errors

    fps = (len(srcs) - 1) / elapsed
    report = {"output_frames": len(srcs), "seconds": round(elapsed, 2), "fps": round(fps, 2)}
    face_diffs, backgrounds, strangers = [], [], []
    for out in outputs:
        assert out.shape == (H, W, 3)
        ref, background = closest_input(out, frames)
        if background >= 6:  # not a frame of the clip (the fake camera's own first frame, on a busy machine)
            strangers.append(round(background, 1))
            continue
        face = (FACE_ROWS, slice(100, W - 100))  # mouth and cheeks, wherever the pan is
        backgrounds.append(round(background, 2))
        face_diffs.append(float(np.abs(out.astype(np.int16) - ref)[face].mean()))
    # every output but at most one (the stream's very first) is a frame of the webcam clip
    assert len(strangers) <= 1 and len(face_diffs) >= 4, f"outputs that are not the webcam's frames: {strangers}"
    report["face_change"] = [round(d, 2) for d in face_diffs]
    report["elsewhere"] = backgrounds
    (tmp_path / "live_fps.json").write_text(json.dumps(report))
    if os.environ.get("MR_BENCH_DIR"):
        Path(os.environ["MR_BENCH_DIR"], "live_fps.json").write_text(json.dumps(report))
    print(f"live mode in the browser: {report}")
    # Frames keep coming and they differ (the pan moves on), and the face was changed.
    assert len(srcs) >= 10, report
    assert len({o.tobytes() for o in outputs}) >= 2, report
    assert min(face_diffs) > 2 * max(1.0, *backgrounds), report


def _serve():
    from test_app import serve

    from mr_core.core.modelfile import MODELS_DIR

    return serve(MODELS_DIR)
