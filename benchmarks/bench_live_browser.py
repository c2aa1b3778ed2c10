"""The Live tab in Chromium, measured: output frames/s and glass-to-glass latency, server memory.

``python benchmarks/bench_live_browser.py [--seconds 60] [--sessions 1] [--transport webrtc|http]``

Serves the app (``app.py``'s demo, in a process of its own on 127.0.0.1) and opens it in headless
Chromium whose camera is a 640x480, 30 frames/s clip (Chromium's fake camera playing a Y4M file):
the example portrait panning to and fro, with the frame's number drawn into its top rows as ten
black or white squares.  Each session presses Start in the Live tab; the page reads the number
back from every frame its webcam preview shows (the camera's side) and from every frame the edited
video shows (after the trip through the server), with the time of each.  Reported, per session:

- output frames/s: distinct edited frames shown per second (frames the server dropped are not
  shown, so this is the rate a person sees);
- latency: for each edited frame, the time it was shown minus the time the same camera frame was
  shown in the preview, median and 95th percentile, and the median over the first and over the last
  fifth of the run (growth would show there);
- the server's resident memory (RSS) at the start and the end of the run, and its largest value;
- CPU: the server's and Chromium's (cores in use over the run, from /proc) and the server's CPU
  milliseconds per output frame, the figure that does not depend on what else the machine runs;
- the browser's own counters: frames encoded and decoded, the rate the page let the camera send at
  (it follows what the server edits), the bitrates.

The load average of the machine (``os.getloadavg``) is printed beside the figures.  Needs Debian's
Chromium (``apt-get install chromium``) and Playwright.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CHROMIUM = Path("/usr/bin/chromium")
W, H, FPS, FRAMES = 640, 480, 30, 150  # a 5 s loop: latencies below 5 s read unambiguously
BITS, CELL, GAP, X0, Y0 = 10, 24, 8, 8, 8  # the frame number: BITS squares of CELL px in the top rows
FACE_SIZE, FACE_TOP = (320, 375), 60

READER_JS = """
([bits, cell, gap, x0, y0, w, h]) => {
  const out = { camera: [], edited: [] };
  function follow(video, log) {
    const c = document.createElement("canvas");
    c.width = w; c.height = y0 + cell + 2;
    const g = c.getContext("2d", { willReadFrequently: true });
    const step = (now, meta) => {
      if (video.videoWidth) {
        const sh = video.videoHeight * c.height / h;
        g.drawImage(video, 0, 0, video.videoWidth, sh, 0, 0, w, c.height);
        const px = g.getImageData(0, 0, w, c.height).data;
        let n = 0;
        for (let i = 0; i < bits; i++) {
          const x = Math.round(x0 + i * (cell + gap) + cell / 2), y = Math.round(y0 + cell / 2);
          const k = 4 * (y * w + x);
          const lum = 0.299 * px[k] + 0.587 * px[k + 1] + 0.114 * px[k + 2];
          if (lum > 128) n |= 1 << i;
        }
        log.push([n, now, meta.presentedFrames, video.videoWidth]);
      }
      video.requestVideoFrameCallback(step);
    };
    video.requestVideoFrameCallback(step);
  }
  follow(document.querySelector("#live-rtc-camera"), out.camera);
  follow(document.querySelector("#live-rtc-out"), out.edited);
  window.mrLiveLog = out;
}
"""


def counter_frames() -> list[np.ndarray]:
    """The clip's frames (RGB): the portrait panning 2 px per frame there and back, its number on top."""
    from demo.examples import grace_hopper_path
    from mr_core.imageio import read_image

    face = cv2.resize(read_image(grace_hopper_path()).rgb, FACE_SIZE, interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(FRAMES):
        frame = np.full((H, W, 3), 150, dtype=np.uint8)
        step = i if i < FRAMES // 2 else FRAMES - i  # there and back: the loop does not jump
        x = 60 + 2 * step
        frame[FACE_TOP : FACE_TOP + FACE_SIZE[1], x : x + FACE_SIZE[0]] = face
        frame[: Y0 + CELL + GAP] = 128
        for b in range(BITS):
            x0 = X0 + b * (CELL + GAP)
            frame[Y0 : Y0 + CELL, x0 : x0 + CELL] = 255 if (i >> b) & 1 else 0
        frames.append(frame)
    return frames


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = FPS) -> Path:
    """An uncompressed YUV4MPEG2 clip (4:2:0), the format Chromium's fake camera plays."""
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{W} H{H} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds a process has used (all its threads), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (children, theirs, ...), from /proc."""
    parent = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


def browser_cpu_seconds(server_pid: int) -> float:
    """CPU seconds of the benchmark's own child processes but the server (Chromium and its driver)."""
    return sum(cpu_seconds(p) for p in descendants(os.getpid()) if p != server_pid)


def serve(port: int, transport: str, log) -> subprocess.Popen:
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", MR_LIVE_TRANSPORT=transport)
    code = (
        # a log file of its own: MediaPipe's inference silences file descriptor 2 while it runs
        f"import logging; logging.basicConfig(level=logging.WARNING, filename={log.name!r});"
        "logging.getLogger('demo').setLevel(logging.INFO);"
        "from demo import build_demo, launch_options;"
        f"build_demo().launch(server_name='127.0.0.1', server_port={port}, quiet=True, **launch_options())"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read()
            return proc
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("the app did not start") from None
            time.sleep(1)
    proc.kill()
    raise RuntimeError("the app did not answer within 180 s")


def unwrap(numbers: np.ndarray) -> np.ndarray:
    """Frame numbers that wrap at FRAMES made into a count that keeps rising."""
    out = numbers.astype(np.int64).copy()
    turns = 0
    for i in range(1, len(out)):
        if numbers[i] < numbers[i - 1] - FRAMES // 2:
            turns += 1
        out[i] = numbers[i] + turns * FRAMES
    return out


def analyse(log: dict, seconds: float) -> dict:
    """Frames/s and latencies of one session from the page's log (see READER_JS)."""
    cam = np.asarray(log["camera"], dtype=np.float64).reshape(-1, 4)
    out = np.asarray(log["edited"], dtype=np.float64).reshape(-1, 4)
    # frames the page composited (its counter), against those it called back for (a frame it presented
    # between two callbacks is not seen here)
    composited = (
        round((out[-1, 2] - out[0, 2]) / ((out[-1, 1] - out[0, 1]) / 1000.0), 1) if len(out) > 1 else 0.0
    )
    valid = lambda a: a[(a[:, 0] >= 0) & (a[:, 0] < FRAMES)]  # noqa: E731
    misread = int(len(out) - len(valid(out)))
    cam, out = valid(cam), valid(out)
    if len(out) < 2 or len(cam) < 2:
        return {"edited_frames": int(len(out)), "error": "no edited frames were shown"}
    # when each camera frame was shown: its number counted on over the clip's loops (the preview may
    # skip frames: the time of a skipped one is interpolated between its neighbours)
    cam_n = unwrap(cam[:, 0])
    first = np.r_[True, cam_n[1:] > cam_n[:-1]]
    cam_n, cam_t = cam_n[first], cam[first, 1]
    keep = np.r_[True, out[1:, 0] != out[:-1, 0]]  # edited frames: each new number once
    out = out[keep]
    span = (out[-1, 1] - out[0, 1]) / 1000.0
    lat = []
    for n, t in zip(out[:, 0].astype(np.int64), out[:, 1], strict=True):
        shown = cam_n[cam_t <= t]
        if not len(shown):
            continue
        k = shown[-1] - ((shown[-1] - n) % FRAMES)  # the latest camera frame with this number
        if k < cam_n[0]:
            continue
        lat.append(t - float(np.interp(k, cam_n, cam_t)))
    lat = np.asarray(lat)
    fifth = max(1, len(lat) // 5)
    return {
        "edited_frames": int(len(out)),
        "composited_fps": composited,
        "misread": misread,
        "fps": round((len(out) - 1) / span, 1) if span > 0 else 0.0,
        "camera_fps": round((len(cam) - 1) / ((cam[-1, 1] - cam[0, 1]) / 1000.0), 1),
        "latency_ms_median": round(float(np.median(lat)), 1) if len(lat) else None,
        "latency_ms_p95": round(float(np.percentile(lat, 95)), 1) if len(lat) else None,
        "latency_ms_first_fifth": round(float(np.median(lat[:fifth])), 1) if len(lat) else None,
        "latency_ms_last_fifth": round(float(np.median(lat[-fifth:])), 1) if len(lat) else None,
        "output_width": int(out[-1, 3]),
    }


def browser_side(before: dict | None, after: dict | None, seconds: float) -> dict:
    """The browser's own counters over the run: frames it encoded (camera) and decoded (edited), and the
    milliseconds per frame its encoder, jitter buffer and decoder took."""
    if not before or not after or "inbound" not in after or "inbound" not in before:
        return {}
    i0, i1 = before["inbound"], after["inbound"]
    o0, o1 = before.get("outbound", {}), after.get("outbound", {})
    emitted = max(1, i1["jitterBufferEmittedCount"] - i0["jitterBufferEmittedCount"])
    decoded = max(1, i1["framesDecoded"] - i0["framesDecoded"])
    encoded = max(1, o1.get("framesEncoded", 0) - o0.get("framesEncoded", 0))
    return {
        "browser_decoded_fps": round(decoded / seconds, 1),
        "browser_encoded_fps": round(encoded / seconds, 1),
        "browser_jitter_buffer_ms": round(
            1000 * (i1["jitterBufferDelay"] - i0["jitterBufferDelay"]) / emitted, 1
        ),
        "browser_decode_ms": round(1000 * (i1["totalDecodeTime"] - i0["totalDecodeTime"]) / decoded, 1),
        "browser_encode_ms": round(
            1000 * (o1.get("totalEncodeTime", 0) - o0.get("totalEncodeTime", 0)) / encoded, 1
        ),
        "browser_quality_limit": o1.get("qualityLimitationReason"),
        "camera_kbps": round(8 * (o1.get("bytesSent", 0) - o0.get("bytesSent", 0)) / seconds / 1000),
        "edited_kbps": round(8 * (i1.get("bytesReceived", 0) - i0.get("bytesReceived", 0)) / seconds / 1000),
        "camera_rate_limit": after.get("sendRate"),
    }


def chromium_flags(clip: Path) -> list[str]:
    return [
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--use-fake-device-for-media-stream",
        "--use-fake-ui-for-media-stream",
        f"--use-file-for-fake-video-capture={clip}",
        "--autoplay-policy=no-user-gesture-required",
        *os.environ.get("BENCH_CHROMIUM_FLAGS", "").split(),
    ]


def start_sessions(browser, url: str, sessions: int) -> tuple[list, list[str]]:
    """``sessions`` pages (each a context of its own) with Start pressed in the Live tab, and what the tab said."""
    pages = []
    for _ in range(sessions):
        page = browser.new_context(permissions=["camera"]).new_page()
        page.goto(url, wait_until="domcontentloaded", timeout=120_000)
        page.wait_for_selector("#photo", timeout=120_000)
        page.get_by_role("tab", name="Live").click()
        page.wait_for_selector("#live-start", timeout=60_000)
        pages.append(page)
    for page in pages:
        page.locator("#live-start").click()
    modes = []
    for page in pages:
        page.wait_for_function(
            "() => /Live over WebRTC|not used here/.test(document.querySelector('#live-mode').innerText)",
            timeout=60_000,
        )
        modes.append(page.locator("#live-mode").inner_text())
    return pages, modes


def measure(pages: list, server: subprocess.Popen, seconds: float) -> dict:
    """The pages' frame logs and WebRTC counters, the server's memory and both sides' CPU over ``seconds``."""
    rss_start = rss_mb(server.pid)
    for page in pages:
        page.evaluate(READER_JS, [BITS, CELL, GAP, X0, Y0, W, H])
    rtc_before = [page.evaluate("() => window.mrLive.stats()") for page in pages]
    peak, samples = rss_start, []
    cpu0 = cpu_seconds(server.pid), browser_cpu_seconds(server.pid)
    t0 = time.monotonic()
    while time.monotonic() - t0 < seconds:
        time.sleep(min(5.0, max(0.1, seconds - (time.monotonic() - t0))))
        m = rss_mb(server.pid)
        samples.append(round(m, 1))
        peak = max(peak, m)
    cpu1 = cpu_seconds(server.pid), browser_cpu_seconds(server.pid)
    measured = time.monotonic() - t0
    logs = [page.evaluate("() => window.mrLiveLog") for page in pages]
    rtc_after = [page.evaluate("() => window.mrLive.stats()") for page in pages]
    sessions = [
        {**analyse(log, seconds), **browser_side(a, b, seconds)}
        for log, a, b in zip(logs, rtc_before, rtc_after, strict=True)
    ]
    shown = sum(s.get("fps", 0.0) for s in sessions) * measured
    return {
        "sessions": sessions,
        "cpu": {
            "server_cores": round((cpu1[0] - cpu0[0]) / measured, 2),
            "browser_cores": round((cpu1[1] - cpu0[1]) / measured, 2),
            "server_ms_per_output_frame": round(1000 * (cpu1[0] - cpu0[0]) / max(shown, 1), 1),
        },
        "server_rss_mb": {
            "start": round(rss_start, 1),
            "end": samples[-1] if samples else None,
            "max": round(peak, 1),
        },
        "rss_samples_mb": samples,
    }


def run(seconds: float, sessions: int, transport: str, warmup: float) -> dict:
    from playwright.sync_api import sync_playwright

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-live-") as tmp:
        clip = write_y4m(Path(tmp) / "camera.y4m", counter_frames())
        port = free_port()
        server_log = open(Path(tmp) / "server.log", "w+")  # noqa: SIM115 (read back below)
        server = serve(port, transport, server_log)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path=str(CHROMIUM), args=chromium_flags(clip), headless=True
                )
                pages, modes = start_sessions(browser, f"http://127.0.0.1:{port}/", sessions)
                time.sleep(warmup)
                figures = measure(pages, server, seconds)
                for page in pages:  # the server logs each connection's own figures when it closes
                    page.locator("#live-stop").click()
                time.sleep(3)
                browser.close()
        finally:
            server.terminate()
            try:
                server.wait(20)
            except subprocess.TimeoutExpired:
                server.kill()
            server_log.seek(0)
            server_lines = [line.strip() for line in server_log if "live connection closed" in line]
            if os.environ.get("BENCH_DEBUG"):
                server_log.seek(0)
                print(server_log.read()[-3000:])
            server_log.close()
    return {
        "transport": transport,
        **figures,
        "modes": modes,
        "seconds": seconds,
        "server": server_lines,
        "load_average": {
            "before": [round(v, 2) for v in load_before],
            "after": [round(v, 2) for v in os.getloadavg()],
        },
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measured time (default 60)")
    parser.add_argument("--sessions", type=int, default=1, help="browser sessions at once (default 1)")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring (default 5)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(f"Chromium is not installed ({CHROMIUM}); apt-get install chromium", file=sys.stderr)
        return 2
    result = run(args.seconds, args.sessions, "webrtc", args.warmup)
    for i, s in enumerate(result["sessions"]):
        print(
            f"live ({result['transport']}), session {i + 1} of {len(result['sessions'])}, {args.seconds:g} s: "
            + (
                s["error"]
                if "error" in s
                else f"{s['fps']} output frames/s (camera {s['camera_fps']}; page composited "
                f"{s['composited_fps']}/s, {s['misread']} unreadable), latency median "
                f"{s['latency_ms_median']} ms, p95 {s['latency_ms_p95']} ms (first fifth "
                f"{s['latency_ms_first_fifth']} ms, last fifth {s['latency_ms_last_fifth']} ms), "
                f"output {s['output_width']} px wide; browser: camera encoded at {s.get('browser_encoded_fps')} "
                f"frames/s ({s.get('browser_encode_ms')} ms each, limited by {s.get('browser_quality_limit')}), "
                f"edited decoded at {s.get('browser_decoded_fps')} frames/s ({s.get('browser_decode_ms')} ms "
                f"each), jitter buffer {s.get('browser_jitter_buffer_ms')} ms; camera sent at most "
                f"{s.get('camera_rate_limit')} frames/s at the end, {s.get('camera_kbps')} kbit/s up, "
                f"{s.get('edited_kbps')} kbit/s down"
            )
        )
    r = result["server_rss_mb"]
    la = result["load_average"]
    print(
        f"server memory (RSS): {r['start']} MB at the start, {r['end']} MB at the end, at most {r['max']} MB"
    )
    for line in result["server"]:  # the server's own count of each connection's frames
        print("server: connection closed", line.split("live connection closed", 1)[1].strip())
    c = result["cpu"]
    print(
        f"CPU: server {c['server_cores']} cores ({c['server_ms_per_output_frame']} ms of CPU per output frame), "
        f"Chromium {c['browser_cores']} cores"
    )
    print(f"load average (1, 5, 15 min) before: {la['before']}, after: {la['after']}")
    print(f"the Live tab said: {result['modes']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0 if all("error" not in s for s in result["sessions"]) else 1


if __name__ == "__main__":
    sys.exit(main())
