"""How much brighter than the same photo's eye whites real smiling teeth are: the cap of the synthetic teeth.

For every real smiling photo of the London set's *training* subjects whose lips are apart
(inner-lip gap over the mouth's width above ``--open``, the mesh-mr models' ``open_threshold``), the
face pipeline finds the landmarks and this measures, in CIE L*:

* ``teeth``: the mean of the brightest tenth of the pixels inside the inner-lip polygon;
* ``whites``: the mean of the brightest tenth of the eyes' openings outside the irises;

and prints their difference per photo and its distribution; and the teeth's chromaticity (R, G, B over
their sum, of the brightest tenth by luma) over that of the eye whites
(:func:`mr_core.methods.mesh_mouth.eye_white`), whose median per channel is
:data:`mr_core.methods.mesh_mouth.TEETH_HUE_OVER_WHITES`, and the teeth's own chromaticity, whose 5th
and 95th percentiles are :data:`mr_core.methods.mesh_mouth.TEETH_HUE_RANGE`.  The difference's ``--quantile`` (95th
percentile by default: a single photo with a glare on the teeth does not set it) is the cap that
:data:`mr_core.methods.mesh_mr.TEETH_OVER_WHITES` holds: the synthetic teeth are never brighter than
the photo's eye whites by more.  ``scripts/measure_eyes.py`` measures the same difference on edited
photos.

The test subjects (models/split_test.txt) are only read to be left out.

    python scripts/measure_teeth_cap.py [--data ../shared/data/london]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "scripts")]

from measure_eyes import _poly_mask, brightest, eye_masks, lightness, photo_landmarks  # noqa: E402

from mr_core.data import read_name_list  # noqa: E402
from mr_core.face import mesh  # noqa: E402
from mr_core.face.landmarks import Landmarker  # noqa: E402
from mr_core.imageio import read_image  # noqa: E402
from mr_core.methods.mesh_mouth import eye_white, teeth_colour  # noqa: E402


def teeth_hue(rgb: np.ndarray, pts: np.ndarray, mouth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The teeth's chromaticity over the eye whites' (3,) and the teeth's own (3,); NaN where missing."""
    x = rgb.astype(np.float64) / 255.0
    white = eye_white(x, pts)
    pix = x[mouth]
    if white is None or len(pix) < 10:
        return np.full(3, np.nan), np.full(3, np.nan)
    teeth = teeth_colour(pix)
    return (teeth / teeth.sum()) / (white / white.sum()), teeth / teeth.sum()

TEST = REPO / "models" / "split_test.txt"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "london")
    ap.add_argument(
        "--open", type=float, default=0.08, help="lips apart by more than this of the mouth's width"
    )
    ap.add_argument("--quantile", type=float, default=0.95)
    args = ap.parse_args()
    test = set(read_name_list(TEST))
    names = sorted(p.stem for p in (args.data / "smiling").glob("*.jpg") if p.stem not in test)
    rows = []
    with Landmarker() as marker:
        for name in names:
            rgb = read_image(args.data / "smiling" / f"{name}.jpg").rgb
            faces = photo_landmarks(rgb, marker, (256, 256))
            if not faces:
                print(f"{name}: no face found")
                continue
            pts = faces[0]
            opening = float(mesh.mouth_opening(pts[None])[0])
            L = lightness(rgb)
            whites = max(brightest(L, w) for _, w in eye_masks(rgb.shape, pts))
            mouth = _poly_mask(rgb.shape, pts[list(mesh.INNER_LIP)])
            teeth = brightest(L, mouth) if mouth.sum() >= 4 else float("nan")
            rows.append((name, opening, teeth, whites, *teeth_hue(rgb, pts, mouth)))
    print("| subject | lips apart | teeth L* | eye whites L* | teeth - whites |")
    print("|---|---:|---:|---:|---:|")
    for name, opening, teeth, whites, _, _ in rows:
        print(f"| {name} | {opening:.3f} | {teeth:.1f} | {whites:.1f} | {teeth - whites:+.1f} |")
    d = np.array([t - w for _, o, t, w, _, _ in rows if o > args.open and np.isfinite(t)])
    closed = np.array([t - w for _, o, t, w, _, _ in rows if o <= args.open and np.isfinite(t)])
    hue = np.array([h for _, o, _, _, h, _ in rows if o > args.open and np.isfinite(h).all()])
    print(
        f"\n{len(rows)} training subjects' smiling photos; {len(d)} with the lips apart by more than "
        f"{args.open}: teeth - whites median {np.median(d):+.1f}, 90th {np.quantile(d, 0.9):+.1f}, "
        f"95th {np.quantile(d, 0.95):+.1f}, max {d.max():+.1f} L*; closed ({len(closed)}): "
        f"median {np.median(closed):+.1f}, max {closed.max():+.1f}"
    )
    print(f"cap (quantile {args.quantile}): {np.quantile(d, args.quantile):.1f} L* over the eye whites")
    chroma = np.array([c for _, o, _, _, _, c in rows if o > args.open and np.isfinite(c).all()])
    lo, hi = np.quantile(chroma, [0.05, 0.95], axis=0)
    print(
        "teeth chromaticity (R, G, B over their sum), 5th to 95th percentile: "
        + ", ".join(f"{a:.3f} to {b:.3f}" for a, b in zip(lo, hi, strict=True))
    )
    q = np.quantile(hue, [0.25, 0.5, 0.75], axis=0)
    print(
        f"teeth chromaticity over the eye whites' (R, G, B; {len(hue)} open mouths): median "
        f"{', '.join(f'{v:.3f}' for v in q[1])}; quartiles "
        + ", ".join(f"{a:.3f} to {b:.3f}" for a, b in zip(q[0], q[2], strict=True))
    )


if __name__ == "__main__":
    main()
