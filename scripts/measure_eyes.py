"""The darkest part of each eye (iris and pupil) and the teeth against the eye whites, before and after.

For every face of every photo of a scene the face pipeline finds the input's landmarks (detector,
alignment, FaceLandmarker on the aligned crop, carried back to the photo); the edited photo is made
by :func:`mr_core.synthesize` and measured at the same pixels:

* ``dark``: the mean CIE L* of the darkest tenth of the pixels inside the iris circle and the eye's
  opening, input and output (per eye; the change is what the issue's target bounds: at most 2);
* ``teeth - white``: the brightest tenth of the opened mouth of the output (inner-lip polygon of the
  output's own landmarks) minus the brightest tenth of the input's eye whites (eye opening outside
  the iris), in L*; real smiles of the London set give the range this should stay in.

Scenes: ``london`` (the test subjects' neutral photos, 512x512), ``lisa`` (webcam photos), ``wide``
(one London face, its pixels unchanged, in frames 512 to 2400 px wide), ``group`` (three London
faces side by side, at full size and scaled to 60 %), ``small`` (London faces scaled to about 80 and
120 px wide in a 640x480 frame).

    python scripts/measure_eyes.py --model models/smile.safetensors [--sheet /tmp/eyes.png]

Research code: prints a table; ``--sheet`` writes the eye and mouth regions, input over output.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mr_core import load_model
from mr_core.data import read_name_list
from mr_core.face import align_face, default_detector
from mr_core.face.align import _invert_affine
from mr_core.face.landmarks import Landmarker
from mr_core.face.mesh import INNER_LIP
from mr_core.imageio import read_image
from mr_core.synthesis.photo import synthesize

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
#: Per eye: (iris centre, iris ring, eye contour in order).
EYES = (
    (
        468,
        (469, 470, 471, 472),
        (33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7),
    ),
    (
        473,
        (474, 475, 476, 477),
        (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249),
    ),
)


def lightness(rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)[..., 0]


def photo_landmarks(rgb, marker, size):
    """Each face's (478, 2) FaceLandmarker points in photo pixels (faces the pipeline would edit)."""
    out = []
    for face in default_detector().detect(rgb):
        if face.eye_distance < 20:
            continue
        al = align_face(rgb, face, size=size)
        found = marker.analyze(al.crop)
        if found is None:
            continue
        inv = _invert_affine(al.matrix)
        pts = np.asarray(found.landmarks, dtype=np.float64)
        out.append(pts @ inv[:, :2].T + inv[:, 2])
    return out


def _poly_mask(shape, pts) -> np.ndarray:
    m = np.zeros(shape[:2], dtype=np.uint8)
    cv2.fillPoly(m, [np.round(np.asarray(pts) * 16).astype(np.int32)], 1, shift=4)
    return m.astype(bool)


def eye_masks(shape, pts):
    """Per eye: (iris and pupil pixels, eye white pixels)."""
    masks = []
    for centre, ring, contour in EYES:
        opening = _poly_mask(shape, pts[list(contour)])
        c = pts[centre]
        r = float(np.linalg.norm(pts[list(ring)] - c, axis=1).mean())
        yy, xx = np.mgrid[: shape[0], : shape[1]]
        d2 = (xx - c[0]) ** 2 + (yy - c[1]) ** 2
        masks.append((opening & (d2 <= r * r), opening & (d2 > (1.15 * r) ** 2)))
    return masks


def darkest(L: np.ndarray, mask: np.ndarray) -> float:
    v = np.sort(L[mask])
    return float(v[: max(1, len(v) // 10)].mean()) if len(v) else float("nan")


def brightest(L: np.ndarray, mask: np.ndarray) -> float:
    v = np.sort(L[mask])
    return float(v[-max(1, len(v) // 10) :].mean()) if len(v) else float("nan")


def scenes(subjects):
    london = DATA / "london" / "neutral"
    faces = {s: read_image(london / f"{s}.jpg").rgb for s in subjects}
    first = faces[subjects[0]]
    yield "london", [(f"london {s}", f) for s, f in faces.items()]
    yield "lisa", [(p.stem, read_image(p).rgb) for p in sorted((DATA / "wild" / "lisa").glob("*.jpg"))]
    wide = []
    for width in (512, 900, 1650, 2400):
        frame = np.full((max(512, width * 3 // 4), width, 3), first[5, 5], dtype=np.uint8)
        y0, x0 = (frame.shape[0] - 512) // 2, (width - 512) // 2
        frame[y0 : y0 + 512, x0 : x0 + 512] = first
        wide.append((f"wide {width}", frame))
    yield "wide", wide
    trio = np.concatenate([faces[s] for s in subjects[:3]], axis=1)
    small = cv2.resize(trio, None, fx=0.6, fy=0.6, interpolation=cv2.INTER_AREA)
    yield "group", [("group 1536", trio), ("group 922", small)]
    tiny = []
    for s in subjects[:3]:
        for face_w in (80, 120):
            f = cv2.resize(faces[s], None, fx=face_w / 250, fy=face_w / 250, interpolation=cv2.INTER_AREA)
            frame = np.full((480, 640, 3), f[2, 2], dtype=np.uint8)
            y0, x0 = (480 - f.shape[0]) // 2, (640 - f.shape[1]) // 2
            frame[y0 : y0 + f.shape[0], x0 : x0 + f.shape[1]] = f
            tiny.append((f"small {s} {face_w}px", frame))
    yield "small", tiny


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=REPO / "models" / "smile.safetensors")
    ap.add_argument("--intensity", type=float, default=1.0)
    ap.add_argument("--split", type=Path, default=REPO / "models" / "split_test.txt")
    ap.add_argument("--sheet", type=Path, help="write eye and mouth regions (input above output) here")
    ap.add_argument("--only", nargs="*", help="scenes to run (default: all)")
    ap.add_argument(
        "--real", action="store_true", help="measure the test subjects' real smiling photos (teeth - white)"
    )
    args = ap.parse_args()
    model = load_model(args.model)
    size = tuple(int(v) for v in model.image_size_)
    subjects = read_name_list(args.split)
    marker = Landmarker()
    tiles = []
    print("| scene | photo | face | dark in L* (R, L) | dark out | max change | teeth - white (out) |")
    print("|---|---|---:|---|---|---:|---:|")
    worst = {}
    if args.real:
        for sub in subjects:
            rgb = read_image(DATA / "london" / "smiling" / f"{sub}.jpg").rgb
            L = lightness(rgb)
            for pts in photo_landmarks(rgb, marker, size):
                white = max(brightest(L, w) for _, w in eye_masks(rgb.shape, pts))
                mouth = _poly_mask(rgb.shape, pts[list(INNER_LIP)])
                teeth = brightest(L, mouth) - white if mouth.sum() >= 4 else float("nan")
                print(f"| real | smiling {sub} | | | | | {teeth:.1f} |")
        return
    for scene, photos in scenes(subjects):
        if args.only and scene not in args.only:
            continue
        for name, rgb in photos:
            res = synthesize(rgb, model, args.intensity)
            out = res.image
            L_in, L_out = lightness(rgb), lightness(out)
            out_marks = photo_landmarks(out, marker, size)
            for k, pts in enumerate(photo_landmarks(rgb, marker, size)):
                masks = eye_masks(rgb.shape, pts)
                d_in = [darkest(L_in, iris) for iris, _ in masks]
                d_out = [darkest(L_out, iris) for iris, _ in masks]
                change = max(abs(b - a) for a, b in zip(d_in, d_out, strict=True))
                worst[scene] = max(worst.get(scene, 0.0), change)
                white = max(brightest(L_in, w) for _, w in masks)
                teeth = float("nan")
                near = [q for q in out_marks if np.linalg.norm(q[1] - pts[1]) < 0.1 * np.ptp(pts[:, 0])]
                if near:
                    mouth = _poly_mask(rgb.shape, near[0][list(INNER_LIP)])
                    if mouth.sum() >= 4:
                        teeth = brightest(L_out, mouth) - white
                print(
                    f"| {scene} | {name} | {k + 1} | {d_in[0]:.1f}, {d_in[1]:.1f} | {d_out[0]:.1f}, "
                    f"{d_out[1]:.1f} | {change:.1f} | {teeth:.1f} |",
                    flush=True,
                )
                if args.sheet:
                    x0, x1 = pts[:, 0].min(), pts[:, 0].max()
                    y0, y1 = pts[:, 1].min(), pts[:, 1].max()
                    box = [
                        int(max(0, y0)),
                        int(min(rgb.shape[0], y1)),
                        int(max(0, x0)),
                        int(min(rgb.shape[1], x1)),
                    ]
                    a = rgb[box[0] : box[1], box[2] : box[3]]
                    b = out[box[0] : box[1], box[2] : box[3]]
                    pair = np.concatenate([a, b], axis=1)
                    scale = 256 / pair.shape[0]
                    tiles.append(cv2.resize(pair, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST))
    print(
        "worst change of the darkest part of an eye, per scene:", {k: round(v, 1) for k, v in worst.items()}
    )
    if args.sheet and tiles:
        width = max(t.shape[1] for t in tiles)
        rows = [np.pad(t, ((0, 4), (0, width - t.shape[1]), (0, 0)), constant_values=255) for t in tiles]
        cols = 3
        rows += [np.full_like(rows[0], 255)] * (-len(rows) % cols)
        grid = np.concatenate(
            [np.concatenate(rows[i : i + cols], axis=1) for i in range(0, len(rows), cols)], axis=0
        )
        cv2.imwrite(str(args.sheet), cv2.cvtColor(grid, cv2.COLOR_RGB2BGR))


if __name__ == "__main__":
    main()
