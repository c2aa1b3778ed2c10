"""Closed-loop calibration of the expression rig: what weight of each shape gives what MediaPipe score.

For every blendshape the rig can show (a key and its other side together), each calibration face (a neutral London Set photo, aligned as the
pipeline aligns faces) is edited with that blendshape's ICT shape at weights 0, 0.25, ..., 3 and the
FaceLandmarker's own score of the blendshape is measured on the result (an opened mouth filled by the
shipped ``smile`` model, as the editor fills it).  The mean over the faces is the
shape's response curve, stored in ``mr_core/assets/expression_rig.safetensors`` (``calibration_weights``,
``calibration_scores``) with the faces used; :meth:`mr_core.face.rig.ExpressionRig.weights_for` inverts it.

The faces are London subjects in neither ``models/split_test.txt`` nor ``models/split_validation.txt``
(the first ``--faces`` of the others, sorted), so the face editor's figures, measured on the test
subjects, come from faces the rig never saw.

Usage::

    python scripts/calibrate_expression_rig.py --data ../shared/data/london [--faces 16]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

GRID = np.round(np.arange(0.0, 3.01, 0.25), 2)


def _held_out(models: Path) -> set[str]:
    out: set[str] = set()
    for name in ("split_test.txt", "split_validation.txt", "split_heldout.txt"):
        p = models / name
        if p.exists():
            out |= {
                ln.split()[0]
                for ln in p.read_text(encoding="utf-8").splitlines()
                if ln.strip() and not ln.startswith("#")
            }
    return out


def main(argv=None) -> int:
    from PIL import Image
    from safetensors import safe_open
    from safetensors.numpy import save_file

    from mr_core.face import DEFAULT_TEMPLATE, align_face, default_detector, get_template
    from mr_core.face.landmarks import Landmarker
    from mr_core.face.rig import BLENDSHAPES, RIG_PATH, ict_shapes, load_rig
    from mr_core.methods.mesh_render import render

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="the London Set folder (with neutral/)")
    ap.add_argument("--faces", type=int, default=16, help="calibration faces (default 16)")
    ap.add_argument("--size", type=int, default=256, help="crop size (default 256, the shipped models')")
    args = ap.parse_args(argv)
    held = _held_out(ROOT / "models")
    photos = [p for p in sorted((args.data / "neutral").glob("*.jpg")) if p.stem not in held][: args.faces]
    if not photos:
        print(f"{args.data}: no neutral photos outside the held-out subjects", file=sys.stderr)
        return 2
    from mr_core.core.modelfile import resolve_model
    from mr_core.methods import load_model

    rig = load_rig.__wrapped__(RIG_PATH)
    mouth = load_model(resolve_model(expression="smile"))
    det, marker = default_detector(), Landmarker(blendshapes=True)
    faces = []
    for p in photos:
        rgb = np.asarray(Image.open(p).convert("RGB"))
        found = det.detect(rgb)
        if not found:
            continue
        crop = align_face(rgb, found[0], template=get_template(DEFAULT_TEMPLATE), size=(args.size,) * 2).crop
        a = marker.analyze(crop)
        if a is not None:
            faces.append((crop.astype(np.float32) / 255.0, a, rig.pose(a.points3d)))
    t0 = time.time()
    scores = np.zeros((len(BLENDSHAPES), len(GRID)))
    # a key and its other side (mouthSmileLeft, mouthSmileRight) are calibrated together, both moved at
    # once, as the sliders, presets and most requests move them: a lone side reads differently
    families: dict[str, list[int]] = {}
    for k, key in enumerate(BLENDSHAPES):
        families.setdefault(key.removesuffix("Left").removesuffix("Right"), []).append(k)
    for members in families.values():
        keys = [BLENDSHAPES[k] for k in members]
        if not all(rig.supported(key) for key in keys):
            for k in members:
                scores[k] = GRID / GRID[-1]  # never used: weights_for skips what the rig cannot show
            continue
        for x, a, pose in faces:
            for g, w in enumerate(GRID):
                d = rig.displacement({key: float(w) for key in keys}, pose)
                moved, change, _ = render(x, a.landmarks, a.landmarks + d, mouth)
                out = np.rint(np.clip(moved + change, 0, 1) * 255).astype(np.uint8)
                r = marker.analyze(out) if w else a
                for k, key in zip(members, keys, strict=True):
                    scores[k, g] += (r.blendshapes[key] if r is not None else 0.0) / len(faces)
        for k, key in zip(members, keys, strict=True):
            print(f"{key:20s} {' '.join(f'{v:.2f}' for v in scores[k])}  ({ict_shapes(key)})", flush=True)
    with safe_open(RIG_PATH, "np") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys() if not k.startswith("calibration")}
        meta = dict(f.metadata() or {})
    tensors["calibration_weights"] = GRID.astype(np.float32)
    tensors["calibration_scores"] = scores.astype(np.float32)
    meta["calibration_faces"] = json.dumps([p.stem for p in photos])
    meta["calibration"] = f"London Set neutral photos, {len(faces)} faces, {args.size}px crops"
    tmp = RIG_PATH.with_suffix(".tmp")
    save_file(tensors, tmp, metadata=meta)
    tmp.replace(RIG_PATH)
    RIG_PATH.chmod(0o644)
    digest = hashlib.sha256(RIG_PATH.read_bytes()).hexdigest()
    (RIG_PATH.parent / "expression_rig.sha256").write_text(f"{digest}  {RIG_PATH.name}\n", encoding="utf-8")
    print(f"calibrated on {len(faces)} faces in {time.time() - t0:.0f} s; wrote {RIG_PATH}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
