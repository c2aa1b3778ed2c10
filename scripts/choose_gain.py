"""Choose the shape-texture method's lower-face gain by cross-validation on the training subjects only.

The validation subjects (models/split_validation.txt) and the test subjects are never looked at: the
other 65 London pairs are split into 4 folds (every 4th name); for each gain a model is trained on 3 folds and measured
on the 4th with the evaluation's own metrics, and the results are averaged over the folds.

    python scripts/choose_gain.py --data ../shared/data/london [--direction smile]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mr_core.data import read_name_list  # noqa: E402
from mr_core.evaluation import evaluate as ev  # noqa: E402
from mr_core.evaluation import report as summary_report  # noqa: E402
from mr_core.face import DEFAULT_TEMPLATE, align_photo, default_detector  # noqa: E402
from mr_core.face.landmarks import Landmarker  # noqa: E402
from mr_core.imageio import read_image  # noqa: E402
from mr_core.methods import ShapeTextureModel  # noqa: E402

VALIDATION = REPO / "models" / "split_validation.txt"
TEST = REPO / "models" / "split_test.txt"
DIRECTIONS = {"smile": ("neutral", "smiling"), "neutral": ("smiling", "neutral")}
GAINS = (1.0, 1.1, 1.2, 1.3, 1.4)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "london")
    ap.add_argument("--direction", choices=sorted(DIRECTIONS), default="smile")
    ap.add_argument("--folds", type=int, default=4)
    args = ap.parse_args()
    src_dir, tgt_dir = (args.data / d for d in DIRECTIONS[args.direction])
    held = set(read_name_list(VALIDATION)) | set(read_name_list(TEST))
    names = sorted(p.stem for p in src_dir.glob("*.jpg") if p.stem not in held)
    det = default_detector()
    with Landmarker() as marker:
        X, Y, LX, LY = [], [], [], []
        for n in names:
            x = align_photo(read_image(src_dir / f"{n}.jpg"), detector=det)
            y = align_photo(read_image(tgt_dir / f"{n}.jpg"), detector=det)
            X.append(x)
            Y.append(y)
            LX.append(marker.analyze(x).landmarks)
            LY.append(marker.analyze(y).landmarks)
        X, Y, LX, LY = (np.stack(a) for a in (X, Y, LX, LY))
        expression = DIRECTIONS[args.direction][1]
        print(f"{len(names)} training subjects, {args.folds} folds; direction {args.direction}")
        print("| lower gain | fraction (CV) | eye SSIM (CV) | sharpness (CV) | PSNR (CV) |")
        print("|---:|---:|---:|---:|---:|")
        for gain in GAINS:
            fold_summaries = []
            for k in range(args.folds):
                test = np.arange(len(names)) % args.folds == k
                model = ShapeTextureModel(template=DEFAULT_TEMPLATE, lower_gain=gain, target=expression)
                model.fit(X[~test] / 255.0, Y[~test] / 255.0, LX[~test], LY[~test])
                results = [
                    ev.evaluate_crops(n, model, x, y, marker, expression)
                    for n, x, y in zip(np.array(names)[test], X[test], Y[test], strict=True)
                ]
                fold_summaries.append(summary_report.summarize(results))

            def mean(key, fs=fold_summaries):
                return float(np.mean([s[key] for s in fs]))

            print(
                f"| {gain} | {mean('fraction_aggregate'):.3f} | {mean('eye_ssim'):.3f} | "
                f"{mean('sharpness'):.3f} | {mean('psnr'):.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
