"""Time the web demo's Train tab through its API (``/train`` with gradio_client), as a user waits for it.

Usage::

    python benchmarks/bench_train_tab.py                 # 8, 30 and 90 London pairs, 3 repeats each
    python benchmarks/bench_train_tab.py --pairs 8 30 --repeat 5

The app is started locally on the shipped models; its pair limit (``demo.train_tab.MAX_PAIRS``) is
raised for this run to the largest size asked.  Prints, per size, the median wall time of the whole
request (upload, face alignment, landmarks, fit, model file) and the training time the app reports.
Then, from the models trained here: how close the motion learned from fewer pairs is to the one learned
from the most pairs (correlation of the displacement fields), and how strongly each model changes
held-out London faces.  Needs ``../shared/data`` (the London set).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gradio_client import Client, handle_file  # noqa: E402

import demo.train_tab as train_tab  # noqa: E402
from mr_core import load_model  # noqa: E402
from mr_core.core.modelfile import MODELS_DIR  # noqa: E402
from mr_core.face import align_photo  # noqa: E402
from mr_core.imageio import read_image  # noqa: E402
from mr_core.methods import edit_crops  # noqa: E402

LONDON = ROOT.parent / "shared" / "data" / "london"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, nargs="+", default=[8, 30, 90])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if not (LONDON / "neutral").is_dir():
        print(f"the London set is not here ({LONDON})", file=sys.stderr)
        return 1
    from demo import serve_local as serve

    names = sorted(p.name for p in (LONDON / "neutral").glob("*.jpg"))
    train_tab.MAX_PAIRS = max(args.pairs)
    models = {}
    with serve(MODELS_DIR) as url:
        client = Client(url, verbose=False)
        print(f"Train tab, /train through gradio_client, median of {args.repeat}")
        print("| pairs | request (s) | training reported by the app (s) |")
        print("|---:|---:|---:|")
        for n in args.pairs:
            src = [handle_file(str(LONDON / "neutral" / x)) for x in names[:n]]
            tgt = [handle_file(str(LONDON / "smiling" / x)) for x in names[:n]]
            walls, reported = [], []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                path, status = client.predict(src, tgt, f"smile{n}", api_name="/train")
                walls.append(time.perf_counter() - t0)
                reported.append(float(re.search(r" in ([\d.]+) s", status).group(1)))
            models[n] = load_model(path)
            print(f"| {n} | {statistics.median(walls):.2f} | {statistics.median(reported):.1f} |")
    ref = max(models)
    held_out = [read_image(LONDON / "neutral" / x) for x in names[-10:]]
    crops = np.stack([align_photo(img, size=models[ref].image_size_) for img in held_out])
    print(f"\nFewer pairs vs {ref} pairs (held-out: the last 10 London faces; training used the first n)")
    print("| pairs | motion corr. with the largest model | mean change on held-out faces (0-255) |")
    print("|---:|---:|---:|")
    for n, model in models.items():
        d = getattr(model, "displacement_", None)
        dref = getattr(models[ref], "displacement_", None)
        corr = (
            np.corrcoef(d.ravel(), dref.ravel())[0, 1] if d is not None and dref is not None else float("nan")
        )
        change = np.abs(edit_crops(model, crops).crops.astype(float) - crops).mean()
        print(f"| {n} | {corr:.3f} | {change:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
