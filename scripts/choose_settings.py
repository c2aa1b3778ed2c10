"""Choose a setting of the shipped mesh-mr models by cross-validation inside the training subjects.

The test subjects (``models/split_test.txt``) are left out of everything here: they are only read to
be excluded.  The other London pairs are split into ``--folds`` folds of subjects (every k-th of the
sorted names); for every value of the setting and every fold it runs, exactly as a user would:

    python -m mr_core train --align --method mesh-mr ... --exclude-file <test + this fold> \
        --motion-gain G --mouth-gain M
    python -m mr_core evaluate --model M ... --subjects <this fold>

and averages the fold's figures.  The value whose key blendshapes (mouthSmile, mouthUpperUp,
eyeSquint: corners, upper lip, eyes) come closest to the real change on average (mean of
``|fraction - 1|``) is chosen; the blendshape profile (distance of the output's 52 scores to the
real target's over the input's) is shown beside it.  Its mean is dominated by the subjects whose
real expression is faint (their ratio exceeds 1 whatever the model does), its median is not.
Prints a markdown table (stdout and --out).

    python scripts/choose_settings.py --direction smile
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mr_core.data import read_name_list  # noqa: E402

TEST = REPO / "models" / "split_test.txt"
DIRECTIONS = {"smile": ("neutral", "smiling"), "neutral": ("smiling", "neutral")}
GAINS = (1.0, 1.2, 1.4, 1.6)
MOUTH_GAINS = (1.0,)
LID_GAINS = (1.0,)
SHADING_GAINS = (1.0,)
KEYS = ("mouthSmile", "mouthUpperUp", "eyeSquint")


def run(*args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "mr_core", *args], cwd=REPO, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"failed: python -m mr_core {' '.join(args)}\n{proc.stderr}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "london")
    ap.add_argument("--direction", choices=sorted(DIRECTIONS), default="smile")
    ap.add_argument("--folds", type=int, default=3)
    ap.add_argument("--gains", type=float, nargs="+", default=list(GAINS), help="motion gains to try")
    ap.add_argument("--lid-gains", type=float, nargs="+", default=list(LID_GAINS), help="lid gains to try")
    ap.add_argument(
        "--mouth-gains", type=float, nargs="+", default=list(MOUTH_GAINS), help="mouth gains to try"
    )
    ap.add_argument(
        "--shading-gains", type=float, nargs="+", default=list(SHADING_GAINS), help="shading gains to try"
    )
    ap.add_argument(
        "--cache", type=Path, default=None, help="aligned-crop cache folder (default: a temp folder)"
    )
    ap.add_argument("--out", type=Path, help="also write the markdown table here")
    args = ap.parse_args()
    src_name, tgt_name = DIRECTIONS[args.direction]
    src, tgt = args.data / src_name, args.data / tgt_name
    test = set(read_name_list(TEST))
    train = sorted(p.stem for p in src.glob("*.jpg") if p.stem not in test)
    folds = [train[f :: args.folds] for f in range(args.folds)]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp) / "crops"
        grid = [
            (g, m, k, s)
            for g in args.gains
            for m in args.mouth_gains
            for k in args.lid_gains
            for s in args.shading_gains
        ]
        for gain, mouth, lid, shading in grid:
            per_fold = []
            for f, fold in enumerate(folds):
                exclude = Path(tmp) / f"exclude{f}.txt"
                exclude.write_text("\n".join(sorted(test | set(fold))) + "\n")
                model = Path(tmp) / f"g{gain}_m{mouth}_l{lid}_s{shading}_f{f}.safetensors"
                run(
                    "train", "--align", "--method", "mesh-mr", "--source-dir", str(src), "--target-dir", str(tgt),
                    "--source-name", src_name, "--target-name", tgt_name, "--exclude-file", str(exclude),
                    "--crop-cache", str(cache), "--motion-gain", str(gain), "--mouth-gain", str(mouth), "--lid-gain", str(lid),
                    "--shading-gain", str(shading), "-o", str(model),
                )  # fmt: skip
                report = Path(tmp) / model.stem
                run(
                    "evaluate", "--model", str(model), "--source-dir", str(src), "--target-dir", str(tgt),
                    "--subjects", *fold, "--quiet", "-o", str(report),
                )  # fmt: skip
                per_fold.append(json.loads((report / "report.json").read_text())["summary"])
            mean = {
                "profile": float(np.mean([s["profile_ratio"] for s in per_fold])),
                "median": float(np.mean([s["profile_ratio_median"] for s in per_fold])),
                "eye_ssim": float(np.mean([s["eye_ssim"] for s in per_fold])),
                "sharpness": float(np.mean([s["sharpness"] for s in per_fold])),
            }
            for key in KEYS:
                fr = [s["changes"].get(key, {}).get("fraction") for s in per_fold]
                fr = [v for v in fr if v is not None]
                mean[key] = float(np.mean(fr)) if fr else float("nan")
            rows.append(((gain, mouth, lid, shading), mean))
            print(
                f"gain {gain} mouth {mouth} lid {lid} shading {shading}: " + ", ".join(f"{k} {v:.3f}" for k, v in mean.items()),
                flush=True,
            )
    best = min(rows, key=lambda r: float(np.mean([abs(r[1][k] - 1.0) for k in KEYS])))[0]
    head = "| motion gain | mouth gain | lid gain | shading gain | profile (CV) | median | mouthSmile | mouthUpperUp | eyeSquint | eye SSIM | sharpness |"
    lines = [head, "|" + "---:|" * 11]
    for gain, m in rows:
        mark = "**" if gain == best else ""
        lines.append(
            f"| {mark}{gain[0]}{mark} | {mark}{gain[1]}{mark} | {mark}{gain[2]}{mark} | {mark}{gain[3]}{mark} | {m['profile']:.3f} | {m['median']:.3f} | {m['mouthSmile']:.2f} | "
            f"{m['mouthUpperUp']:.2f} | {m['eyeSquint']:.2f} | {m['eye_ssim']:.3f} | {m['sharpness']:.2f} |"
        )
    table = (
        "\n".join(lines)
        + f"\n\nchosen: motion gain {best[0]}, mouth gain {best[1]}, lid gain {best[2]}, shading gain {best[3]}"
        " (key blendshapes closest to the real change)"
    )
    print(table)
    if args.out:
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
