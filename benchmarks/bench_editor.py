"""Time the face editor on a 512 x 512 photo (medians over repeats), end to end and on a slider move.

Usage::

    python benchmarks/bench_editor.py [--repeat 30] [--photo PATH]

* **end to end** (what ``synthesize --preset``/``--set`` does per photo): detect, align, the landmarker
  with blendshapes, the rig, the warp, the mouth's fill, paste back; with one closed-loop correction
  (``refine=1``, the default) and without (``refine=0``);
* **slider move** (the app's Face editor tab): the faces prepared once, each move edits them again.

Needs ``../shared/data`` (a London photo) unless ``--photo`` is given.  Target: at most 30 ms end to end
for the 512 x 512 photo on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mr_core.face import FacePipeline  # noqa: E402
from mr_core.imageio import read_image  # noqa: E402
from mr_core.synthesis import make_editor, synthesize  # noqa: E402
from mr_core.synthesis.editing import edit_prepared, prepare_photo  # noqa: E402

DATA = ROOT.parent / "shared" / "data"


def median_ms(fn, repeat: int) -> float:
    fn()  # warm up (models load, caches fill)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--photo", type=Path, default=DATA / "london" / "neutral" / "026.jpg")
    args = ap.parse_args(argv)
    if not args.photo.is_file():
        print(f"{args.photo}: not found (the London set is in ../shared/data)", file=sys.stderr)
        return 2
    image = read_image(args.photo)
    print(
        f"photo {args.photo.name} {image.rgb.shape[1]}x{image.rgb.shape[0]}; load average {os.getloadavg()[0]:.1f}"
    )
    with FacePipeline() as pipeline:
        for label, kwargs in (
            ("preset surprised", {"preset": "surprised"}),
            ("--set jawOpen=0.5", {"targets": "jawOpen=0.5"}),
        ):
            for refine in (1, 0):
                editor = make_editor(None, refine=refine, **kwargs)
                ms = median_ms(lambda ed=editor: synthesize(image, ed, 1.0, pipeline=pipeline), args.repeat)
                print(f"end to end, {label}, refine={refine}: {ms:.1f} ms")
        prep = prepare_photo(image, pipeline)
        for refine in (1, 0):
            editor = make_editor(None, targets="eyeBlink=0.6", refine=refine)
            ms = median_ms(lambda ed=editor: edit_prepared(prep, ed, 1.0), args.repeat)
            print(f"slider move (prepared faces), refine={refine}: {ms:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
