"""The Live tab in a real browser: headless Chromium plays a video file as the webcam.

Chromium's ``--use-fake-device-for-media-stream --use-file-for-fake-video-capture=FILE.y4m``
makes a Y4M video the camera.  The video is the public-domain portrait from matplotlib's sample
data panning slowly across a 640x480 frame.  The tests press Start in the Live tab and check that
frames with the expression applied come back and keep coming: over WebRTC, and over Gradio's HTTP
stream where WebRTC cannot connect (the tab falls back and says so).  What they saw is written to
``live_webrtc.json`` and ``live_fps.json`` in their temporary folders (and to ``$MR_BENCH_DIR`` when
set); the speed is measured by ``benchmarks/bench_live_browser.py``.
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
from servers import CHROMIUM, CHROMIUM_FLAGS

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


FRAME_JS = """() => {
  const v = document.querySelector('#live-rtc-out');
  if (!v || !v.videoWidth) return null;
  const c = document.createElement('canvas');
  c.width = v.videoWidth; c.height = v.videoHeight;
  c.getContext('2d').drawImage(v, 0, 0);
  return c.toDataURL('image/png');
}"""


def data_rgb(url: str) -> np.ndarray:
    import base64

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB"))


def check_outputs(outputs: list[np.ndarray], frames: list[np.ndarray], report: dict) -> dict:
    """Every output but at most one (the fake camera's own first frame) is a frame of the clip, with
    the face changed far more than the rest of the frame; returns the report with the figures."""
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
    assert len(strangers) <= 1 and len(face_diffs) >= 4, (
        f"outputs that are not the webcam's frames: {strangers}"
    )
    report["face_change"] = [round(d, 2) for d in face_diffs]
    report["elsewhere"] = backgrounds
    assert len({o.tobytes() for o in outputs}) >= 2, report  # frames keep coming and differ (the pan)
    # the face was changed: far more than the rest of the same frame differs (video codecs lose a little)
    ratios = [f / max(1.0, b) for f, b in zip(face_diffs, backgrounds, strict=True)]
    assert min(ratios) > 1.5 and float(np.median(ratios)) > 2.0, report
    return report


def _browser(p, video: Path, extra_flags=()):
    flags = CHROMIUM_FLAGS + [
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={video}",
        *extra_flags,
    ]
    return p.chromium.launch(executable_path=str(CHROMIUM), args=flags, headless=True)


RELAY_ONLY_JS = """(() => {
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = function (config) { return new Native({ ...config, iceTransportPolicy: "relay" }); };
  window.RTCPeerConnection.prototype = Native.prototype;
})();"""


def _open_live_tab(browser, url, errors, init_script=None):
    page = browser.new_context(permissions=["camera"]).new_page()
    if init_script:
        page.add_init_script(init_script)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(url, wait_until="domcontentloaded", timeout=60_000)
    page.wait_for_selector("#photo", timeout=60_000)
    page.get_by_role("tab", name="Live").click()
    page.wait_for_selector("#live-start", timeout=60_000)
    return page


def _clip(tmp_path) -> tuple[Path, list[np.ndarray]]:
    if not CHROMIUM.exists():
        pytest.skip(f"Chromium is not installed ({CHROMIUM}); apt-get install chromium")
    frames = pan_frames()
    video = tmp_path / "webcam.y4m"
    write_y4m(video, frames)
    return video, frames


def _record(name: str, report: dict, tmp_path) -> None:
    (tmp_path / name).write_text(json.dumps(report))
    if os.environ.get("MR_BENCH_DIR"):
        Path(os.environ["MR_BENCH_DIR"], name).write_text(json.dumps(report))
    print(f"{name}: {report}")


def test_live_over_webrtc_returns_edited_frames(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    pytest.importorskip("aiortc")
    video, frames = _clip(tmp_path)
    errors: list[str] = []
    with sync_api.sync_playwright() as p, _serve() as url:
        browser = _browser(p, video)
        try:
            page = _open_live_tab(browser, url, errors)
            page.locator("#live-start").click()
            page.wait_for_function(
                "() => /Live over WebRTC|not used here/.test(document.querySelector('#live-mode').innerText)",
                timeout=60_000,
            )
            mode = page.locator("#live-mode").inner_text()
            assert "Live over WebRTC" in mode, mode
            assert not page.locator("#live-in").is_visible()  # the HTTP stream is not shown
            page.wait_for_function(
                "() => document.querySelector('#live-rtc-out').videoWidth > 0", timeout=30_000
            )
            outputs = []
            t0 = time.monotonic()
            while time.monotonic() - t0 < MEASURE_S and len(outputs) < 8:
                outputs.append(data_rgb(page.evaluate(FRAME_JS)))
                page.wait_for_timeout(MEASURE_S * 1000 / 8)
            page.locator("#live-stop").click()
            page.wait_for_function("() => window.mrLive.state() === 'off'", timeout=10_000)
        finally:
            browser.close()
    assert not errors, errors
    _record(
        "live_webrtc.json", check_outputs(outputs, frames, {"transport": "webrtc", "mode": mode}), tmp_path
    )


def _face_change(outputs: list[np.ndarray], frames: list[np.ndarray]) -> list[float]:
    """Per output, how far its face (brows to chin) is from the clip's frame it shows."""
    face = (slice(TOP + 60, TOP + 320), slice(100, W - 100))
    out = []
    for o in outputs:
        ref, background = closest_input(o, frames)
        if background < 6:
            out.append(round(float(np.abs(o.astype(np.int16) - ref)[face].mean()), 2))
    return out


def _grab(page, n: int = 6) -> list[np.ndarray]:
    outputs = []
    for _ in range(n):
        outputs.append(data_rgb(page.evaluate(FRAME_JS)))
        page.wait_for_timeout(250)
    return outputs


def test_the_face_editors_presets_and_sliders_reach_the_live_stream(tmp_path):
    """The Live tab's face editor (the Face editor tab's presets and sliders): a preset changes the streamed
    face more than the expression alone, No edit goes back to the expression alone, and a slider moved
    changes it again."""
    sync_api = pytest.importorskip("playwright.sync_api")
    pytest.importorskip("aiortc")
    video, frames = _clip(tmp_path)
    errors: list[str] = []
    with sync_api.sync_playwright() as p, _serve() as url:
        browser = _browser(p, video)
        try:
            page = _open_live_tab(browser, url, errors)
            page.locator("#live-start").click()
            page.wait_for_function(
                "() => /Live over WebRTC/.test(document.querySelector('#live-mode').innerText)", timeout=60_000
            )
            page.wait_for_function(
                "() => document.querySelector('#live-rtc-out').videoWidth > 0", timeout=30_000
            )
            page.wait_for_timeout(1500)
            smile = _face_change(_grab(page), frames)
            page.get_by_text("Face editor, live").click()
            status = page.locator("#live-face-status")
            page.locator("#live-preset-surprised").click()
            status.get_by_text("preset surprised").wait_for(timeout=30_000)
            jaw = page.locator("#live-slider-jawOpen input[type=number]")
            assert abs(float(jaw.input_value()) - 0.35) < 0.03  # the preset's targets shown on the sliders
            page.wait_for_timeout(1500)
            surprised = _face_change(_grab(page), frames)
            page.locator("#live-preset-none").click()
            status.get_by_text("asks nothing").wait_for(timeout=30_000)
            assert float(jaw.input_value()) == 0.0
            page.wait_for_timeout(1500)
            back = _face_change(_grab(page), frames)
            jaw.fill("1")
            jaw.press("Enter")
            jaw.blur()
            status.get_by_text("jawOpen 1.00").wait_for(timeout=30_000)
            page.wait_for_timeout(1500)
            opened = _face_change(_grab(page), frames)
            page.locator("#live-stop").click()
        finally:
            browser.close()
    assert not errors, errors
    report = {"smile": smile, "surprised": surprised, "no_edit": back, "jaw_open_1": opened}
    _record("live_face_editor.json", report, tmp_path)
    med = {k: float(np.median(v)) for k, v in report.items()}
    assert all(len(v) >= 4 for v in report.values()), report
    assert med["surprised"] > 1.2 * med["smile"], med
    assert med["no_edit"] < 0.8 * med["surprised"], med
    assert med["jaw_open_1"] > 1.2 * med["no_edit"], med


def test_live_falls_back_to_the_http_stream_when_webrtc_cannot_connect(tmp_path):
    """The page's WebRTC may use relayed (TURN) paths only, and there is no TURN server, as on a Space
    without one: WebRTC cannot connect, the tab says so and offers Gradio's HTTP stream, whose frames
    come back edited."""
    sync_api = pytest.importorskip("playwright.sync_api")
    video, frames = _clip(tmp_path)
    errors: list[str] = []
    with sync_api.sync_playwright() as p, _serve() as url:
        browser = _browser(p, video)
        try:
            page = _open_live_tab(browser, url, errors, init_script=RELAY_ONLY_JS)
            page.locator("#live-start").click()
            page.wait_for_function(
                "() => /not used here/.test(document.querySelector('#live-mode').innerText)", timeout=90_000
            )
            mode = page.locator("#live-mode").inner_text()
            assert "HTTP stream" in mode and "could not connect" in mode, mode
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
    report = {
        "transport": "http",
        "output_frames": len(srcs),
        "seconds": round(elapsed, 2),
        "fps": round(fps, 2),
    }
    assert len(srcs) >= 10, report
    _record("live_fps.json", check_outputs(outputs, frames, report), tmp_path)


def _serve():
    from servers import serve

    from mr_core.core.modelfile import MODELS_DIR

    return serve(MODELS_DIR)
