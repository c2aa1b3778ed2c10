"""Time the photo pipeline per stage: detect, align, predict, paste (medians over repeats).

Usage::

    python benchmarks/bench_pipeline.py                       # the shipped models/smile.safetensors
    python benchmarks/bench_pipeline.py --model models/smile-paper.safetensors --repeat 50
    python benchmarks/bench_pipeline.py --model small         # a small MR model trained on the spot

Two photos are timed: a 512 x 512 London photo and a 4000 x 3000 photo made from it (the face
upscaled to about 1500 px, as in a phone picture).  Needs ``../shared/data`` (the London set).
The target is under 30 ms in total for the 512 x 512 photo on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mr_core import MaskedRegression, load_model  # noqa: E402
from mr_core.core.modelfile import MODELS_DIR  # noqa: E402
from mr_core.face import (  # noqa: E402
    DEFAULT_TEMPLATE,
    FaceDetector,
    FacePipeline,
    align_face,
    align_photo,
    move_pixels,
    paste_back,
)
from mr_core.imageio import read_image  # noqa: E402
from mr_core.methods import edit_crops, method_of  # noqa: E402
from mr_core.synthesis import synthesize  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


def small_model(detector: FaceDetector, pairs: int = 20) -> MaskedRegression:
    names = [p.name for p in sorted((DATA / "london" / "neutral").glob("*.jpg"))[:pairs]]
    X = np.stack([align_photo(read_image(DATA / "london" / "neutral" / n), detector=detector) for n in names])
    Y = np.stack([align_photo(read_image(DATA / "london" / "smiling" / n), detector=detector) for n in names])
    return MaskedRegression(template=DEFAULT_TEMPLATE).fit(X / 255.0, Y / 255.0)


def bench(rgb: np.ndarray, model, pipeline: FacePipeline, repeat: int) -> dict[str, float]:
    times: dict[str, list[float]] = {
        "detect": [], "align": [], "landmarks": [], "edit": [], "paste": [], "total": [], "synthesize()": []
    }  # fmt: skip
    needs_marks = method_of(model).needs_landmarks
    size = tuple(model.image_size_)
    for _ in range(repeat):
        t0 = time.perf_counter()
        face = pipeline.detector.detect(rgb)[0]
        t1 = time.perf_counter()
        aligned = align_face(rgb, face, size=size)
        t2 = time.perf_counter()
        marks = [pipeline.landmarker().analyze(aligned.crop).landmarks] if needs_marks else None
        t2b = time.perf_counter()
        edit = edit_crops(model, aligned.crop[None], 1.0, landmarks=marks)
        t3 = time.perf_counter()
        out = rgb.copy()
        if edit.motion is not None:
            motion = edit.motion[0] if edit.motion.ndim == 4 else edit.motion
            move_pixels(out, motion, aligned, inplace=True)
        texture = np.rint(np.clip(aligned.crop / 255.0 + edit.change[0], 0, 1) * 255).astype(np.uint8)
        paste_back(out, texture, aligned, inplace=True)
        t4 = time.perf_counter()
        synthesize(rgb, model, 1.0, pipeline=pipeline)
        t5 = time.perf_counter()
        steps = (t1 - t0, t2 - t1, t2b - t2, t3 - t2b, t4 - t3, t4 - t0, t5 - t4)
        for key, dt in zip(times, steps, strict=True):
            times[key].append(dt * 1000)
    return {k: statistics.median(v) for k, v in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model",
        default=str(MODELS_DIR / "smile.safetensors"),
        help="model file (default: the shipped smile model); 'small': an MR model trained on 20 London pairs",
    )
    parser.add_argument("--backend", default="numpy")
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    if not (DATA / "london").is_dir():
        print(f"{DATA} not found: the benchmark needs the London set", file=sys.stderr)
        return 2
    with FaceDetector() as detector, FacePipeline(detector) as pipeline:
        model = (
            small_model(detector) if args.model == "small" else load_model(args.model, backend=args.backend)
        )
        photo = read_image(sorted((DATA / "london" / "neutral").glob("*.jpg"))[-1]).rgb
        big = np.full((3000, 4000, 3), 110, np.uint8)
        big[:, 500:3500] = cv2.resize(photo, (3000, 3000), interpolation=cv2.INTER_CUBIC)
        for rgb in (photo, big):  # warm up
            bench(rgb, model, pipeline, 2)
        method = method_of(model).name
        print(
            f"model {method} {model.image_size_[0]}x{model.image_size_[1]}x{model.channels_}, backend {args.backend}, "
            f"median of {args.repeat} runs (ms)"
        )
        header = f"{'photo':>10} " + " ".join(
            f"{k:>13}"
            for k in ("detect", "align", "landmarks", "edit crop", "move+paste", "total", "synthesize()")
        )
        print(header)
        for label, rgb in (("512x512", photo), ("4000x3000", big)):
            med = bench(rgb, model, pipeline, args.repeat)
            print(f"{label:>10} " + " ".join(f"{v:13.2f}" for v in med.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
