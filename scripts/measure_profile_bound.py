"""How close to a real expression's blendshape profile any one fixed expression can come.

``evaluate``'s profile ratio is the distance of the output's 52 FaceLandmarker blendshape scores to
the real target photo's over the input's distance to it.  People make the same expression with very
different strength (some real smiles barely move the mouth), and a model that maps a face to one
expression cannot know how strongly this person makes it.  This script measures, on the test
subjects, what the profile ratio would be for outputs that are not images at all but ideal score
vectors, built from the *training* subjects' real photos only:

* ``input + mean change``: the input's scores plus the training subjects' mean real change
  (clipped to [0, 1]): the average expression, applied perfectly;
* ``mean real target``: the training subjects' mean target scores;
* ``input + s x mean change, s per subject`` (an oracle: s in [0, 2] chosen per test subject
  against their own real photo): the average expression at the strength this person makes it.

No image model can beat the first two on average by more than chance unless it knows how strongly
each person makes the expression; the third is out of reach without the real photo.  Scores come
from the aligned 256x256 crops, as in ``evaluate``.  The test subjects' photos are only measured
here, never used to choose anything.

    python scripts/measure_profile_bound.py [--direction smile|neutral] [--model FILE]

With ``--model`` it also prints the model's own ratio per subject beside the bounds.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mr_core.data import read_name_list, to_uint8  # noqa: E402
from mr_core.errors import MRError  # noqa: E402
from mr_core.evaluation import evaluate as ev  # noqa: E402
from mr_core.face.landmarks import Landmarker  # noqa: E402
from mr_core.imageio import read_image  # noqa: E402

SPLIT = REPO / "models" / "split_test.txt"
DIRECTIONS = {"smile": ("neutral", "smiling"), "neutral": ("smiling", "neutral")}


def scores(marker: Landmarker, crop: np.ndarray) -> dict[str, float] | None:
    face = marker.analyze(crop)
    return None if face is None else {k: v for k, v in face.blendshapes.items() if k != "_neutral"}


def as_vector(b: dict[str, float] | None, names: list[str]) -> np.ndarray | None:
    return None if b is None else np.array([b[n] for n in names])


def ratio(v_out: np.ndarray, v_in: np.ndarray, v_tgt: np.ndarray) -> float:
    return float(np.linalg.norm(v_out - v_tgt) / max(np.linalg.norm(v_in - v_tgt), 1e-6))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "london")
    ap.add_argument("--direction", choices=sorted(DIRECTIONS), default="smile")
    ap.add_argument(
        "--model", type=Path, help="also measure this model's outputs (trained without the test subjects)"
    )
    args = ap.parse_args()
    src, tgt = DIRECTIONS[args.direction]
    test = read_name_list(SPLIT)
    model = None
    if args.model is not None:
        from mr_core import load_model

        model = load_model(args.model)
    vecs: dict[str, tuple] = {}
    names: list[str] | None = None
    with Landmarker() as marker:
        for pair in ev.find_pairs(args.data / src, args.data / tgt):
            if pair.source is None or pair.target is None:
                continue
            try:
                crop_in = ev.align(read_image(pair.source).rgb, (256, 256), str(pair.source))
                crop_tgt = ev.align(read_image(pair.target).rgb, (256, 256), str(pair.target))
            except MRError as exc:
                print(f"{pair.name}: {exc}")
                continue
            b_in, b_tgt = scores(marker, crop_in), scores(marker, crop_tgt)
            if b_in is None or b_tgt is None:
                print(f"{pair.name}: the landmarker found no face in a crop")
                continue
            names = names or sorted(b_in)
            b_out = None
            if model is not None and pair.name in test:
                crop_out = to_uint8(np.clip(ev.predict_crop(model, crop_in), 0.0, 1.0))
                b_out = scores(marker, crop_out)
            vecs[pair.name] = tuple(as_vector(b, names) for b in (b_in, b_tgt, b_out))
    train = [n for n in vecs if n not in test]
    held = [n for n in test if n in vecs]
    change = np.mean([vecs[n][1] - vecs[n][0] for n in train], axis=0)
    mean_target = np.mean([vecs[n][1] for n in train], axis=0)
    rows = []
    for n in held:
        v_in, v_tgt, v_out = vecs[n]
        best = min(ratio(np.clip(v_in + s * change, 0, 1), v_in, v_tgt) for s in np.linspace(0, 2, 81))
        rows.append(
            (
                n,
                ratio(np.clip(v_in + change, 0, 1), v_in, v_tgt),
                ratio(mean_target, v_in, v_tgt),
                best,
                None if v_out is None else ratio(v_out, v_in, v_tgt),
            )
        )
    print(f"{args.direction}: {len(train)} training subjects give the mean change; {len(held)} test subjects")
    print("| subject | input + mean change | mean real target | oracle strength | model |")
    print("|---|---:|---:|---:|---:|")
    for n, a, b, c, m in rows:
        print(f"| {n} | {a:.2f} | {b:.2f} | {c:.2f} | {'-' if m is None else f'{m:.2f}'} |")
    cols = list(zip(*rows, strict=True))[1:]
    for label, col in zip(
        ("input + mean change", "mean real target", "oracle strength", "model"), cols, strict=True
    ):
        vals = [v for v in col if v is not None]
        if vals:
            print(f"{label}: mean {np.mean(vals):.2f}, median {np.median(vals):.2f}")


if __name__ == "__main__":
    main()
