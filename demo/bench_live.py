"""Frames per second of the live mode, measured offline: ``python -m demo.bench_live [MODEL] [--preset NAME]``.

Calls the live tab's per-frame functions on 640x480 frames made from the example portrait, in a loop,
and prints the rate: :func:`demo.engine.live_frame` (the whole photo pipeline on each frame: detect
the largest face, align, edit, paste back) and the WebRTC path's
:meth:`demo.live_tab.LiveSession.process` (the face followed from frame to frame, the detector and
the landmarker taking turns), both on the portrait panning 2 px a frame, with the CPU milliseconds per frame
(all the process's threads: MediaPipe's included).  ``--preset``: the face editor's preset on top,
as the Live tab's panel applies it.  Without a model argument the demo's default model of the
repository's ``models/`` folder is used.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from mr_core.face import FacePipeline
from mr_core.imageio import read_image

from .catalog import ModelCatalog
from .engine import live_frame
from .examples import grace_hopper_path


def webcam_like_frame() -> np.ndarray:
    """A 640x480 RGB frame with the example portrait in it (face about 110 px wide)."""
    rgb = read_image(grace_hopper_path()).rgb
    face = cv2.resize(rgb, (320, 375), interpolation=cv2.INTER_AREA)
    frame = np.full((480, 640, 3), 150, dtype=np.uint8)
    frame[50:425, 160:480] = face
    return frame


def panning_clip() -> list[np.ndarray]:
    """60 frames of :func:`webcam_like_frame` panning 2 px a frame, to and fro."""
    base = webcam_like_frame()
    return [np.roll(base, 2 * (i if i < 30 else 60 - i), axis=1) for i in range(60)]


def measure(catalog: ModelCatalog, expression: str, frames: int = 200, backend: str = "numpy") -> dict:
    """Seconds per frame (mean and median) of :func:`demo.engine.live_frame`, on the panning clip (a still
    frame would give the same landmarks every time, whose mesh work the model keeps and does not redo)."""
    clip = panning_clip()
    with FacePipeline() as pipe:
        out = live_frame(catalog, clip[0], expression, 1.0, backend, pipeline=pipe)  # warm-up, loads the model
        changed = bool(np.any(out != clip[0]))
        times = []
        for i in range(frames):
            t = time.perf_counter()
            live_frame(catalog, clip[(i + 1) % len(clip)], expression, 1.0, backend, pipeline=pipe)
            times.append(time.perf_counter() - t)
    times = np.asarray(times)
    return {
        "frames": frames,
        "mean_s": float(times.mean()),
        "median_s": float(np.median(times)),
        "fps": float(1.0 / times.mean()),
        "changed": changed,
    }


def measure_session(
    catalog: ModelCatalog, expression: str, frames: int = 200, preset: str | None = None
) -> dict:
    """Wall and CPU seconds per frame of the Live tab's :meth:`~demo.live_tab.LiveSession.process`."""
    from .live_tab import LiveSession, LiveSettings

    clip = panning_clip()
    with FacePipeline() as pipe:
        sess = LiveSession(pipe)
        sess.settings = LiveSettings(catalog=catalog, expression=expression, preset=preset)
        for i in range(10):  # warm-up: the model loaded, the face found
            sess.process(clip[i % 60], i / 30)
        wall, cpu = time.perf_counter(), time.process_time()
        for i in range(10, 10 + frames):
            sess.process(clip[i % 60], i / 30)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        ed = sess.editor
        runs = (ed.detector_runs, ed.landmark_runs, ed.frames)
        sess.stop()
    return {"frames": frames, "wall_ms": 1000 * wall / frames, "cpu_ms": 1000 * cpu / frames, "runs": runs}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", help="model file (default: the demo's default in models/)")
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--preset", help="the face editor's preset on top (the WebRTC path's figure)")
    args = parser.parse_args(argv)
    if args.model:
        path = Path(args.model)
        catalog, expression = ModelCatalog(path.parent), path.stem
        if expression not in catalog.entries:
            print(f"{path}: not a readable model file", file=sys.stderr)
            return 2
    else:
        catalog = ModelCatalog()
        if not catalog.names:
            print(f"no model files in {catalog.models_dir}; pass one", file=sys.stderr)
            return 2
        expression = catalog.default()
    r = measure(catalog, expression, args.frames, args.backend)
    print(
        f"live mode, 640x480 frame, model {expression!r}, backend {args.backend}: "
        f"{r['fps']:.0f} frames/s (mean {r['mean_s'] * 1000:.1f} ms, median {r['median_s'] * 1000:.1f} ms "
        f"per frame over {r['frames']} frames; face changed: {r['changed']})"
    )
    s = measure_session(catalog, expression, args.frames, args.preset)
    det, marks, seen = s["runs"]
    print(
        f"Live tab's WebRTC path (face followed, panning portrait{', preset ' + args.preset if args.preset else ''}): "
        f"{1000 / s['wall_ms']:.0f} frames/s ({s['wall_ms']:.1f} ms per frame, {s['cpu_ms']:.1f} ms of CPU); "
        f"detector on {det} and landmarker on {marks} of {seen} frames"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
