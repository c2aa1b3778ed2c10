"""Time video synthesis and measure its temporal stability (medians over repeats).

Usage::

    python benchmarks/bench_video.py                  # the model --expression smile resolves to
    python benchmarks/bench_video.py --frames 150 --repeat 5

Clips are made on the spot from the public-domain portrait in matplotlib's sample data (one face,
drifting and zooming slowly, with a 440 Hz AAC tone), at 640x480 and 1280x720, 30 frames/s.
Speed: the whole ``python -m mr_core synthesize`` command (start-up, model loading, decode, detect,
edit, encode), its fixed start-up cost (the same command on a one-frame clip), and the per-stage
split of :func:`mr_core.synthesis.synthesize_video` (milliseconds per frame; decoding and encoding
run in threads beside the others, so the stages overlap and add up to more than the wall time).
The targets: at least 30 frames/s at 640x480 and at least the clip's own rate (30) at 1280x720 on a
2-core CPU, for the whole command.  The 1-minute load average is printed beside every timing (other
jobs on the machine slow it down).

Stability: a still portrait with per-frame Gaussian sensor noise (sigma 4 grey levels, stored
losslessly): the temporal standard deviation of the face region (mean over its pixels) of the
output must exceed the input's by at most 1 grey level.  For the moving clip, where the input
itself changes, the figure is the temporal std of the edit over the face region: the output minus the
output at intensity 0 (the same decode and encode, no edit).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # mr_core, demo and testclips from the source tree

from mr_core.core.modelfile import resolve_model  # noqa: E402
from mr_core.face import FaceDetector, FacePipeline  # noqa: E402
from mr_core.methods import load_model  # noqa: E402
from mr_core.synthesis import VideoOptions, synthesize_video  # noqa: E402
from testclips import make_clip, read_frames  # noqa: E402


def load() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]


def face_region(frame: np.ndarray) -> tuple[slice, slice]:
    with FaceDetector() as det:
        x, y, w, h = det.detect(frame)[0].box
    return slice(int(y), int(y + h)), slice(int(x), int(x + w))


def command(clip: Path, out: Path) -> float:
    """Seconds of ``python -m mr_core synthesize --expression smile`` on ``clip``."""
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "mr_core", "synthesize", "--expression", "smile", "--quiet", "-o", out, clip],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - t
    if proc.returncode:
        raise SystemExit(proc.stderr)
    return seconds


def speed(model, folder: Path, size, frames: int, repeat: int, detect_every: int) -> None:
    name = f"{size[0]}x{size[1]}"
    clip = make_clip(folder / f"clip{size[0]}.mp4", n=frames, size=size, fps=30)
    one = make_clip(folder / f"one{size[0]}.mp4", n=1, size=size, fps=30)
    runs, cmd, start = [], [], []
    with FacePipeline() as pipe:
        for i in range(repeat):
            # interleaved, so that a change of load hits all three alike
            cmd.append((command(clip, folder / f"cli{size[0]}-{i}"), load()))
            start.append((command(one, folder / f"one{size[0]}-{i}"), load()))
            t = time.perf_counter()
            res = synthesize_video(
                clip, folder / f"out{size[0]}-{i}.mp4", model, 1.0, pipeline=pipe, options=VideoOptions(detect_every=detect_every)
            )
            runs.append((time.perf_counter() - t, load(), res))
    cmd_s = statistics.median(c[0] for c in cmd)
    wall = statistics.median(r[0] for r in runs)
    loads = ", ".join(f"{c[1]:.1f}" for c in cmd)
    print(
        f"{name}, {frames} frames at 30 fps: whole command {cmd_s:.2f} s = {frames / cmd_s:.1f} frames/s "
        f"(runs: {', '.join(f'{c[0]:.2f}' for c in cmd)} s; load {loads}); "
        f"start-up (one-frame clip) {statistics.median(s[0] for s in start):.2f} s"
    )
    stages = {k: statistics.median(r[2].seconds[k] for r in runs) * 1000 / frames for k in runs[0][2].seconds}
    print(
        f"  synthesize_video {wall:.2f} s = {frames / wall:.1f} frames/s "
        f"(load {', '.join(f'{r[1]:.1f}' for r in runs)}; {runs[0][2].frames_with_face} frames with a face)"
    )
    print("  per frame (ms): " + ", ".join(f"{k} {v:.2f}" for k, v in stages.items()))


def stability(model, folder: Path, frames: int) -> None:
    for name, kw in (("still + noise", {"motion": False, "noise": 4.0}), ("moving", {"motion": True})):
        clip = make_clip(
            folder / "stab.mp4", n=frames, size=(640, 480), fps=30, audio=False, lossless=True, **kw
        )
        synthesize_video(clip, folder / "stab1.mp4", model, 1.0)
        synthesize_video(clip, folder / "stab0.mp4", model, 0.0)
        fin, _ = read_frames(clip)
        fout, _ = read_frames(folder / "stab1.mp4")
        fzero, _ = read_frames(folder / "stab0.mp4")
        region = face_region(fin[0])
        a = np.stack([f[region] for f in fin]).astype(np.float32)
        b = np.stack([f[region] for f in fout]).astype(np.float32)
        z = np.stack([f[region] for f in fzero]).astype(np.float32)
        std_in, std_out = a.std(axis=0).mean(), b.std(axis=0).mean()
        edit = (b - z).std(axis=0).mean()
        print(
            f"{name}: temporal std of the face region: input {std_in:.2f}, output {std_out:.2f} "
            f"({std_out - std_in:+.2f} grey levels); of the edit (output - output at intensity 0) {edit:.2f}"
        )
        clip.unlink()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=150, help="frames of the timed clips (150: 5 s)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--detect-every", type=int, default=2, help="synthesize_video's detect_every")
    ap.add_argument("--no-stability", action="store_true", help="time only")
    args = ap.parse_args()
    path = resolve_model("smile", None)
    model = load_model(path)
    print(f"model: {path.name} ({type(model).__name__}); {os.cpu_count()} CPUs; load {load():.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for size in ((640, 480), (1280, 720)):
            speed(model, folder, size, args.frames, args.repeat, args.detect_every)
        if not args.no_stability:
            stability(model, folder, 60)


if __name__ == "__main__":
    main()
