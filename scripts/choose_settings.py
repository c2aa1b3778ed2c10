"""Choose the receptive field and lam of the shipped models on the held-out split, with the project's commands.

For every setting it runs, exactly as a user would:

    python -m mr_core train --align --source-dir A --target-dir B --exclude-file models/split_heldout.txt ...
    python -m mr_core evaluate --model M --source-dir A --target-dir B --pairs-file models/split_heldout.txt ...

and collects the held-out metrics into a markdown table (stdout and --out).

    python scripts/choose_settings.py --data ../shared/data/london --direction smile
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPLIT = REPO / "models" / "split_heldout.txt"
DIRECTIONS = {"smile": ("neutral", "smiling"), "neutral": ("smiling", "neutral")}
GRID = [(rf, lam, "unit") for rf in (1, 3, 5, 7) for lam in (0.1, 0.4, 1.6)] + [(3, 0.4, "minmax")]
COLUMNS = [
    "psnr",
    "ssim",
    "score_input",
    "score_output",
    "score_target",
    "fraction_aggregate",
    "eye_ssim",
    "sharpness",
]


def run(*args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "mr_core", *args], cwd=REPO, capture_output=True, text=True)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"failed: python -m mr_core {' '.join(args)}\n{proc.stderr}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "london")
    ap.add_argument("--direction", choices=sorted(DIRECTIONS), default="smile")
    ap.add_argument(
        "--cache", type=Path, default=None, help="aligned-crop cache folder (default: a temp folder)"
    )
    ap.add_argument("--out", type=Path, help="also write the markdown table here")
    args = ap.parse_args()
    src, tgt = (args.data / d for d in DIRECTIONS[args.direction])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cache = args.cache or Path(tmp) / "crops"
        for rf, lam, scaling in GRID:
            model = Path(tmp) / f"rf{rf}_lam{lam}_{scaling}.safetensors"
            run(
                "train", "--align", "--source-dir", str(src), "--target-dir", str(tgt),
                "--exclude-file", str(SPLIT), "--crop-cache", str(cache), "--receptive_field", str(rf),
                "--lamda", str(lam), "--scaling", scaling, "-o", str(model),
            )  # fmt: skip
            report_dir = Path(tmp) / model.stem
            run(
                "evaluate", "--model", str(model), "--source-dir", str(src), "--target-dir", str(tgt),
                "--pairs-file", str(SPLIT), "--quiet", "-o", str(report_dir),
            )  # fmt: skip
            summary = json.loads((report_dir / "report.json").read_text())["summary"]
            rows.append((rf, lam, scaling, summary))
            print(
                f"rf {rf} lam {lam} {scaling}: " + ", ".join(f"{k} {summary[k]:.3f}" for k in COLUMNS),
                flush=True,
            )
    head = "| rf | lam | scaling | PSNR | SSIM | score in | score out | score real | fraction | eye SSIM | sharpness |"
    lines = [head, "|" + "---:|" * 11]
    for rf, lam, scaling, s in rows:
        paper = " (paper)" if (rf, lam, scaling) == (3, 0.4, "minmax") else ""
        vals = " | ".join(f"{s[k]:.3f}" if k != "psnr" else f"{s[k]:.2f}" for k in COLUMNS)
        lines.append(f"| {rf} | {lam} | {scaling}{paper} | {vals} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
