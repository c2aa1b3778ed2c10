"""Hashes of photo and video synthesis outputs, to show a refactoring leaves every pixel as it was.

    python scripts/check_identical_outputs.py --save before.json      # before the change
    python scripts/check_identical_outputs.py --check before.json     # after: exit 1 on any difference

Photos: a few London neutral photos and one wild photo, edited by the shipped ``smile`` and ``neutral``
models, by the face editor's ``happy`` and ``surprised`` presets (an opened mouth: the mouth fill) through
:func:`mr_core.synthesis.synthesize` and through the editor's prepare/edit path.  Training: a mesh + MR model on a few London pairs
(its saved tensors).  Video: a short made clip
edited by ``smile`` (the decoded output frames are hashed, not the file, whose header holds times).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
LONDON_NAMES = ("002.jpg", "010.jpg", "031.jpg")
WILD_NAME = "canada/003f.jpg"
TRAIN_PAIRS = 24


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def _photos() -> dict[str, np.ndarray]:
    from mr_core.imageio import read_image

    out = {}
    for name in LONDON_NAMES:
        path = DATA / "london" / "neutral" / name
        if path.is_file():
            out[f"london/{name}"] = read_image(path).rgb
    wild = DATA / "wild" / WILD_NAME
    if wild.is_file():
        out[f"wild/{WILD_NAME}"] = read_image(wild).rgb
    if not out:
        sys.exit(f"no photos found under {DATA}")
    return out


def photo_hashes() -> dict[str, str]:
    from mr_core.core.modelfile import resolve_model
    from mr_core.methods import load_model
    from mr_core.synthesis import make_editor, synthesize
    from mr_core.synthesis.editing import edit_prepared, prepare_photo

    smile = load_model(resolve_model(expression="smile"))
    neutral = load_model(resolve_model(expression="neutral"))
    editors = {p: make_editor(preset=p) for p in ("happy", "surprised")}
    out = {}
    for key, rgb in _photos().items():
        for label, model, a in (("smile", smile, 1.0), ("smile@1.5", smile, 1.5), ("neutral", neutral, 1.0)):
            res = synthesize(rgb, model, a)
            out[f"{key} {label}"] = _digest(res.image, *[f.crop_out for f in res.faces])
        for preset, editor in editors.items():
            res = synthesize(rgb, editor, 1.0)
            out[f"{key} editor {preset}"] = _digest(res.image)
            res = edit_prepared(prepare_photo(rgb), editor, 0.8)
            out[f"{key} prepared {preset}"] = _digest(res.image)
    return out


def training_hashes() -> dict[str, str]:
    from mr_core.core.modelfile import save_model
    from mr_core.data import pair_by_name
    from mr_core.methods import load_model
    from mr_core.training import train_photos

    london = DATA / "london"
    pairs = pair_by_name(london / "neutral", london / "smiling")[:TRAIN_PAIRS]
    result = train_photos(pairs, source="neutral", target="smiling", method="mesh-mr")
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = save_model(result.model, Path(tmp) / "m.safetensors")
        model = load_model(path)
        tensors = [getattr(model, k) for k in ("shape_weights_", "reference_shape_", "mouth_bank_")]
        out[f"mesh-mr trained on {len(pairs)} London pairs"] = _digest(
            *tensors, model.texture_.weights_, np.float64(model.shape_lam_)
        )
    return out


def video_hashes() -> dict[str, str]:
    import av

    from mr_core.core.modelfile import resolve_model
    from mr_core.methods import load_model
    from mr_core.synthesis import VideoOptions, synthesize_video
    from testclips import make_clip
    smile = load_model(resolve_model(expression="smile"))
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        src = make_clip(Path(tmp) / "clip.mp4", n=12)
        for every in (1, 2):
            dst = Path(tmp) / f"out{every}.mp4"
            res = synthesize_video(src, dst, smile, 1.0, options=VideoOptions(detect_every=every))
            with av.open(str(res.path)) as c:
                frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
            out[f"clip smile every={every}"] = _digest(*frames) + f" frames={len(frames)}"
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--save", type=Path, help="write the hashes to this JSON file")
    g.add_argument("--check", type=Path, help="compare with the hashes of this JSON file")
    p.add_argument("--photos-only", action="store_true")
    args = p.parse_args(argv)
    sys.path.insert(0, str(REPO))
    hashes = photo_hashes()
    if not args.photos_only:
        hashes.update(video_hashes())
        hashes.update(training_hashes())
    if args.save:
        if args.save.exists():
            sys.exit(f"{args.save} exists; remove it or choose another name")
        args.save.write_text(json.dumps(hashes, indent=1) + "\n")
        print(f"{len(hashes)} hashes written to {args.save}")
        return 0
    want = json.loads(args.check.read_text())
    bad = [k for k in want if k in hashes and hashes[k] != want[k]]
    missing = [k for k in want if k not in hashes]
    for k in bad:
        print(f"DIFFERENT {k}: {want[k]} -> {hashes[k]}")
    for k in missing:
        print(f"MISSING {k}")
    print(f"{len(hashes)} outputs, {len(bad)} different, {len(missing)} missing")
    return 1 if bad or missing else 0


if __name__ == "__main__":
    sys.exit(main())
