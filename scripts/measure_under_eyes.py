"""The skin under the eyes and the leftover smirk of the ``neutral`` model, and the choice of its lid settings.

The under-eye band of a face: between each lower lid (its inner contour, the eye's corners
included) and the same line moved down by 0.3 of the eye's width, from the crop's own landmarks.
Its mean CIE L*, output minus input, is set beside the real target's minus the input's: a smiling
face's lower lids sit on a raised cheek, with a fold under them; in the real neutral photo the lids
come down, the fold flattens and the band gets lighter.  A warp that keeps the lids and lowers the
cheek stretches the fold into a grey band instead (a negative change).  A *smirk* is a pair whose
output keeps mouthSmile more than 0.1 above the real target's.

``--model M --pairs-file F`` measures a model on pairs (e.g. the test split, for the model card).
``--choose`` picks the lower lids' sink (``lid_sink``), the lid gain and the shading gain of the
``neutral`` model, and its mouth gain, by cross-validation inside the training subjects: they are
split into 3 folds (every 3rd sorted name), a model is trained on two (``python -m mr_core train``,
as a user would) and measured on the third with each setting (inference-time settings: the model
is trained once per fold).  The test subjects are only read to be left out.  The rule: fewest
smirks, then the under-eye change closest to the real one, among settings whose cross-validated
blendshape profile stays at most 0.5 and whose mouthSmile and mouthUpperUp reach 0.7 of the real
change.

    python scripts/measure_under_eyes.py --choose
    python scripts/measure_under_eyes.py --model neutral75.safetensors --pairs-file SUBJECTS.txt
"""

from __future__ import annotations

import argparse
import itertools
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mr_core import load_model  # noqa: E402
from mr_core.data import read_name_list  # noqa: E402
from mr_core.evaluation import evaluate as ev  # noqa: E402
from mr_core.evaluation import report as summary_report  # noqa: E402
from mr_core.face.landmarks import Landmarker  # noqa: E402
from mr_core.imageio import read_image  # noqa: E402

TEST = REPO / "models" / "split_test.txt"
DATA = REPO.parent / "shared" / "data" / "london"
#: Per eye: the lower lid's inner contour (corner to corner) and the eye's corners.
LIDS = (
    ((133, 155, 154, 153, 145, 144, 163, 7, 33), (33, 133)),
    ((362, 382, 381, 380, 374, 373, 390, 249, 263), (263, 362)),
)
#: The settings tried by --choose: (lid sink (fraction of the eye's height), lid gain, shading gain,
#: mouth gain): the model as trained, then every combination with the lids allowed to sink.
GRID = [(0.0, 1.0, 1.0, 1.0)] + list(
    itertools.product((0.35,), (4.0, 6.0), (1.0, 1.25, 1.5), (1.0, 1.15, 1.3))
)


def band_masks(shape, pts, depth: float = 0.3) -> list[np.ndarray]:
    """Per eye: the band under the lower lid (see the module)."""
    masks = []
    for lid, (a, b) in LIDS:
        width = float(np.linalg.norm(pts[a] - pts[b]))
        top = pts[list(lid)] + [0.0, 0.04 * width]
        poly = np.concatenate([top, top[::-1] + [0.0, depth * width]])
        m = np.zeros(shape[:2], np.uint8)
        cv2.fillPoly(m, [np.round(poly * 16).astype(np.int32)], 1, shift=4)
        masks.append(m.astype(bool))
    return masks


def under_eye(crop: np.ndarray, pts) -> float:
    """Mean L* of the under-eye bands of a uint8 RGB crop with its landmarks."""
    L = cv2.cvtColor(crop.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)[..., 0]
    return float(np.mean([L[m].mean() for m in band_masks(crop.shape, np.asarray(pts))]))


def measure(model, pairs, marker) -> dict:
    """Profile, key fractions, under-eye change (output and real) and smirks over (name, x, y) crops."""
    results, changes, smirks = [], [], []
    for name, x, y in pairs:
        r = ev.evaluate_crops(name, model, x, y, marker, "neutral")
        results.append(r)
        found = [marker.analyze(c) for c in (x, r.crops[1], y)]
        if all(f is not None for f in found):
            base = under_eye(x, found[0].landmarks)
            changes.append(
                (under_eye(r.crops[1], found[1].landmarks) - base, under_eye(y, found[2].landmarks) - base)
            )
        smile = r.changes.get("mouthSmile")
        if smile and smile["output"] - smile["target"] > 0.1:
            smirks.append(name)
    s = summary_report.summarize(results)
    c = np.array(changes)
    out = {
        "profile": s["profile_ratio"],
        "median": s["profile_ratio_median"],
        "eye_ssim": s["eye_ssim"],
        "sharpness": s["sharpness"],
        "under_eye_out": float(c[:, 0].mean()),
        "under_eye_real": float(c[:, 1].mean()),
        "smirks": smirks,
    }
    for key in ("mouthSmile", "mouthUpperUp", "eyeSquint"):
        out[key] = s["changes"].get(key, {}).get("fraction")
    return out


def crops(names, data: Path):
    return [
        (n, *(ev.align(read_image(data / d / f"{n}.jpg").rgb, (256, 256)) for d in ("smiling", "neutral")))
        for n in names
    ]


def row(label: str, m: dict) -> str:
    return (
        f"| {label} | {m['profile']:.3f} | {m['median']:.3f} | {m['mouthSmile']:.2f} | {m['mouthUpperUp']:.2f} | "
        f"{m['eyeSquint']:.2f} | {m['under_eye_out']:+.2f} | {m['under_eye_real']:+.2f} | {len(m['smirks'])} | "
        f"{m['eye_ssim']:.3f} | {m['sharpness']:.2f} |"
    )


HEAD = (
    "| setting | profile | median | mouthSmile | mouthUpperUp | eyeSquint | under-eye L* out | real | smirks "
    "| eye SSIM | sharpness |\n|---|" + "---:|" * 10
)


def choose(data: Path, folds: int) -> None:
    test = set(read_name_list(TEST))
    train = sorted(p.stem for p in (data / "smiling").glob("*.jpg") if p.stem not in test)
    parts = [train[f::folds] for f in range(folds)]
    grid = GRID
    per = {g: [] for g in grid}
    with tempfile.TemporaryDirectory() as tmp, Landmarker() as marker:
        for f, fold in enumerate(parts):
            exclude = Path(tmp) / f"exclude{f}.txt"
            exclude.write_text("\n".join(sorted(test | set(fold))) + "\n")
            path = Path(tmp) / f"neutral{f}.safetensors"
            subprocess.run(
                [sys.executable, "-m", "mr_core", "train", "--align", "--method", "mesh-mr",
                 "--source-dir", str(data / "smiling"), "--target-dir", str(data / "neutral"),
                 "--source-name", "smiling", "--target-name", "neutral", "--exclude-file", str(exclude),
                 "--crop-cache", str(Path(tmp) / "crops"), "-o", str(path)],
                cwd=REPO, check=True, capture_output=True,
            )  # fmt: skip
            model, pairs = load_model(path), crops(fold, data)
            for g in grid:
                model.lid_sink, model.lid_gain, model.shading_gain, model.mouth_gain = g
                per[g].append(measure(model, pairs, marker))
                print(f"fold {f} {g}", flush=True)
    rows = []
    for g, ms in per.items():
        mean = {k: float(np.mean([m[k] for m in ms])) for k in ms[0] if k != "smirks"}
        mean["smirks"] = [n for m in ms for n in m["smirks"]]
        rows.append((g, mean))
    ok = [r for r in rows if r[1]["profile"] <= 0.5 and min(r[1]["mouthSmile"], r[1]["mouthUpperUp"]) >= 0.7]
    best = min(ok, key=lambda r: (len(r[1]["smirks"]), abs(r[1]["under_eye_out"] - r[1]["under_eye_real"])))
    print(HEAD.replace("| setting |", "| lid sink, lid gain, shading gain, mouth gain |"))
    for g, m in rows:
        print(row(("**%s**" if g == best[0] else "%s") % ", ".join(str(v) for v in g), m))
    print(
        f"\nchosen: lid sink {best[0][0]}, lid gain {best[0][1]}, shading gain {best[0][2]}, mouth gain {best[0][3]}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--choose", action="store_true", help="cross-validate the neutral model's lid settings")
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--model", type=Path, help="a smiling -> neutral model to measure")
    ap.add_argument("--pairs-file", type=Path, help="subjects to measure the model on")
    args = ap.parse_args()
    if args.choose:
        choose(args.data, args.folds)
        return
    if args.model is None or args.pairs_file is None:
        ap.error("give --choose, or --model and --pairs-file")
    with Landmarker() as marker:
        m = measure(load_model(args.model), crops(read_name_list(args.pairs_file), args.data), marker)
    print(HEAD)
    print(row(args.model.name, m))
    print("smirks:", ", ".join(m["smirks"]) or "none")


if __name__ == "__main__":
    main()
