"""Compare masked-regression variants on the project's held-out split, with the project's metrics.

Every variant is trained on the London pairs that are *not* in ``models/split_validation.txt`` and
evaluated on the held-out ones with :func:`mr_core.evaluation.evaluate.evaluate_crops` (the metric
definitions of ``python -m mr_core evaluate``: PSNR/SSIM against the real target, smile score
of input/output/target from the FaceLandmarker blendshapes, fraction of the real change, SSIM
over the eye band against the input, sharpness = var(Laplacian) output / input).

The aligned 128 x 128 crops and the FaceLandmarker mesh of every photo are computed once and
cached (``--cache``, an .npz outside the repository), so re-running is cheap.

Usage::

    python scripts/explore_variants.py                       # every variant, table on stdout
    python scripts/explore_variants.py --list                # the variant names
    python scripts/explore_variants.py --only paper-minmax,warp-res
    python scripts/explore_variants.py --out /tmp/variants.md --sheet /tmp/sheets

``--data`` is the London set (``<repo>/../shared/data/london`` by default), ``--sheet DIR``
writes an evaluation contact sheet (input | output | target) per variant.  Speed columns:
``train s`` is the whole training (warps included), ``apply ms`` the median time to turn one
aligned crop into the output (landmark detection excluded; ``landmarks`` says whether the
variant needs the FaceLandmarker mesh of the input at synthesis time).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TEST = REPO / "models" / "split_test.txt"
sys.path.insert(0, str(REPO))

from mr_core import MaskedRegression  # noqa: E402
from mr_core import geometry as en  # noqa: E402
from mr_core.data import read_name_list, scale_image  # noqa: E402
from mr_core.evaluation import evaluate as ev  # noqa: E402
from mr_core.evaluation import report as summary_report  # noqa: E402
from mr_core.face import DEFAULT_TEMPLATE  # noqa: E402
from mr_core.methods import ShapeTextureModel  # noqa: E402
from scripts.research_helpers import detail_transfer  # noqa: E402

SIZE = (128, 128)


# ----------------------------------------------------------------------------- data cache


def build_cache(data: Path, cache: Path, size=SIZE) -> dict:
    """Aligned crops (uint8) and FaceLandmarker landmarks/smile scores of every London pair."""
    if cache.is_file():
        with np.load(cache) as z:
            return {k: z[k] for k in z.files}
    from mr_core.face import align_photo
    from mr_core.face.landmarks import Landmarker, expression_score
    from mr_core.imageio import read_image

    names = sorted(p.stem for p in (data / "neutral").glob("*.jpg"))
    out = {k: [] for k in ("X", "Y", "LX", "LY", "SX", "SY")}
    with Landmarker() as lm:
        for n in names:
            for kind, c_key, l_key, s_key in (("neutral", "X", "LX", "SX"), ("smiling", "Y", "LY", "SY")):
                crop = align_photo(read_image(data / kind / f"{n}.jpg").rgb, size=size)
                a = lm.analyze(crop)
                if a is None:
                    raise SystemExit(f"the landmarker found no face in the {kind} crop of {n}")
                out[c_key].append(crop)
                out[l_key].append(a.landmarks)
                out[s_key].append(expression_score(a.blendshapes, "smiling"))
    arrays = {k: np.asarray(v) for k, v in out.items()}
    arrays["names"] = np.asarray(names)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **arrays)
    return arrays


# ----------------------------------------------------------------------------- variants


@dataclass
class Fitted:
    """A trained variant: ``apply(crop_uint8, landmarks) -> float (h, w, 3)``."""

    apply: object
    size: int  # stored numbers
    landmarks: bool = False
    extra: dict = field(default_factory=dict)


def _f(crops: np.ndarray) -> np.ndarray:
    return crops.astype(np.float32) / np.float32(255.0)


def _mr(rf, lam, X, Y, scaling="unit"):
    m = MaskedRegression(receptive_field=rf, lam=lam, scaling=scaling)
    m.fit(X, Y)
    _ = m.weights_  # solve now (counted in the training time)
    return m


def _mr_size(m) -> int:
    return int(m.weights_.size + m.bias_.size)


def train_plain(tr, rf=3, lam=0.4, scaling="unit", mirror=False, sigma=0.0, residual=False):
    """MR on the crops (paper), optionally residual (learn y - x), mirrored pairs, detail carry."""
    if scaling == "minmax":
        X = np.stack([scale_image(c, "minmax") for c in tr["X"]])
        Y = np.stack([scale_image(c, "minmax") for c in tr["Y"]])
    else:
        X, Y = _f(tr["X"]), _f(tr["Y"])
    if mirror:
        X, Y = en.mirror_pairs(X, Y, axis_x=SIZE[1] / 2)
    m = _mr(rf, lam, X, Y - X if residual else Y, scaling)

    def apply(crop, lms=None):
        if scaling == "minmax":
            x = scale_image(crop, "minmax")
            lo, hi = float(crop.min()) / 255.0, float(crop.max()) / 255.0
        else:
            x = _f(crop)
        p = m.predict(x)
        y = x + p if residual else p
        if sigma > 0:
            y = detail_transfer(x, y, sigma)
        if scaling == "minmax":
            y = y * (hi - lo) + lo
        return y

    return Fitted(apply, _mr_size(m))


#: FaceLandmarker mesh indices of the outer and inner lip contours.
# fmt: off
LIPS = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185,
        78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191)
# fmt: on


def _select_points(points, mirror_index):
    """Landmark indices that drive a warp: "all" 478, or "sparse" (lips + every 5th, mirror-closed)."""
    if points == "all":
        return np.arange(len(mirror_index))
    sel = set(LIPS) | set(range(0, len(mirror_index), 5))
    sel |= {int(mirror_index[i]) for i in sel}
    return np.array(sorted(sel))


def _mirror_index(L):
    return en.landmark_mirror_index(L, SIZE[1] / 2)


def train_warp(
    tr,
    rf=3,
    lam=0.4,
    sigma=0.0,
    mirror=False,
    texture=True,
    per_face=False,
    register=False,
    gain=1.0,
    step=4,
    interp="cubic",
    points="all",
    deadzone=None,
    lower_gain=1.0,
):
    """Shape + texture: warp the input to the smiling shape, then add a residual MR's change.

    ``per_face=False``: one fixed warp (mean neutral shape -> mean smiling shape), no landmarks
    at synthesis.  ``per_face=True``: the face's own landmarks + the mean landmark displacement
    (times ``gain``), a thin-plate warp per face.  ``register``: warp each training target from its
    real landmarks to the predicted ones before learning the texture change (features line up).
    """
    LX, LY = tr["LX"], tr["LY"]
    axis = SIZE[1] / 2
    mi = _mirror_index(np.concatenate([LX, LY]))
    # symmetric mean displacement
    delta = (LY - LX).mean(axis=0)
    dm = delta[mi].copy()
    dm[:, 0] = -dm[:, 0]
    delta = 0.5 * (delta + dm) * gain
    if lower_gain != 1.0:  # stronger motion below the nose tip (template y = 0.456), eyes untouched
        lower = LX.mean(axis=0)[:, 1] > 0.456 * SIZE[0]
        delta[lower] *= lower_gain
    sel = _select_points(points, mi)
    delta = delta[sel]
    if per_face:

        def face_map(lx):
            lx = lx[sel]
            mp = en.backward_map(lx + delta, lx, SIZE, step=step)
            return mp if deadzone is None else en.suppress_small_motion(mp, *deadzone)
    else:
        s = LX.mean(axis=0)
        sm = s[mi].copy()
        sm[:, 0] = 2 * axis - sm[:, 0]
        s = 0.5 * (s + sm)[sel]
        fixed = en.backward_map(s + delta, s, SIZE, step=step)
        if deadzone is not None:
            fixed = en.suppress_small_motion(fixed, *deadzone)

        def face_map(lx):
            return fixed

    X, Y = _f(tr["X"]), _f(tr["Y"])
    Xw = np.stack([en.warp_image(x, face_map(lx), interp) for x, lx in zip(X, LX, strict=True)])
    if register:
        Yr = np.stack(
            [
                en.warp_image(y, en.backward_map(lx[sel] + delta, ly[sel], SIZE, step=step), interp)
                for y, lx, ly in zip(Y, LX, LY, strict=True)
            ]
        )
    else:
        Yr = Y
    m = None
    if texture:
        A, B = Xw, Yr
        if mirror:
            A, B = en.mirror_pairs(A, B, axis_x=axis)
        m = _mr(rf, lam, A, B - A)

    def apply(crop, lms=None):
        x = _f(crop)
        xw = en.warp_image(x, face_map(lms), interp)
        if m is None:
            return xw
        d = m.predict(xw)
        if sigma > 0:
            d = en.lowpass(d, sigma)
        return xw + d

    size = (0 if m is None else _mr_size(m)) + (delta.size if per_face else SIZE[0] * SIZE[1] * 2)
    return Fitted(apply, size, landmarks=per_face)


def train_recipe(tr, rf=3, lam=0.4, sigma=2.0, lower_gain=1.2, deadzone=(0.25, 0.75), photometric=True):
    """The shipped method: :class:`mr_core.methods.ShapeTextureModel` (what ``train --method
    shape-texture`` fits), on the crops of the pipeline's template."""
    st = ShapeTextureModel(
        rf,
        lam,
        texture_sigma=sigma,
        lower_gain=lower_gain,
        deadzone=deadzone,
        photometric=photometric,
        template=DEFAULT_TEMPLATE,
    )
    st.fit(_f(tr["X"]), _f(tr["Y"]), tr["LX"], tr["LY"])
    _ = st.weights_  # solve now (counted in the training time)

    def apply(crop, lms=None):
        return st.predict(_f(crop))

    return Fitted(apply, _mr_size(st) + st.displacement_.size)


# name: (trainer, params, description)
VARIANTS: dict[str, tuple] = {
    "recipe": (
        train_recipe,
        dict(rf=3, lam=0.4, sigma=2.0, lower_gain=1.2),
        "shipped recipe (ShapeTextureModel)",
    ),
    "recipe-rf5": (train_recipe, dict(rf=5, lam=0.4, sigma=2.0, lower_gain=1.2), "recipe, texture MR rf 5"),
    "recipe-lam4": (train_recipe, dict(rf=3, lam=4.0, sigma=2.0, lower_gain=1.2), "recipe, lam 4"),
    "recipe-g10": (
        train_recipe,
        dict(rf=3, lam=0.4, sigma=2.0, lower_gain=1.0),
        "recipe without the lower-face gain",
    ),
    "recipe-g14": (
        train_recipe,
        dict(rf=3, lam=0.4, sigma=2.0, lower_gain=1.4),
        "recipe, lower-face gain 1.4",
    ),
    "paper-minmax": (
        train_plain,
        dict(rf=3, lam=0.4, scaling="minmax"),
        "paper MR, authors' min-max scaling",
    ),
    "paper-unit": (train_plain, dict(rf=3, lam=0.4), "paper MR, x/255"),
    "mr-rf5": (train_plain, dict(rf=5, lam=0.4), "MR rf 5"),
    "mr-rf7": (train_plain, dict(rf=7, lam=0.4), "MR rf 7"),
    "res-rf3": (train_plain, dict(rf=3, lam=0.4, residual=True), "residual MR (learn y - x)"),
    "res-rf3-l4": (train_plain, dict(rf=3, lam=4.0, residual=True), "residual MR, lam 4"),
    "res-rf5": (train_plain, dict(rf=5, lam=0.4, residual=True), "residual MR rf 5"),
    "res-rf7": (train_plain, dict(rf=7, lam=0.4, residual=True), "residual MR rf 7"),
    "res-rf5-mir": (
        train_plain,
        dict(rf=5, lam=0.4, residual=True, mirror=True),
        "residual MR rf 5, mirrored pairs",
    ),
    "mr-rf5-carry2": (train_plain, dict(rf=5, lam=0.4, sigma=2.0), "MR rf 5 + detail carry sigma 2"),
    "res-rf5-carry2": (
        train_plain,
        dict(rf=5, lam=0.4, residual=True, sigma=2.0),
        "residual MR rf 5 + detail carry sigma 2",
    ),
    "res-rf7-mir-carry2": (
        train_plain,
        dict(rf=7, lam=0.4, residual=True, mirror=True, sigma=2.0),
        "residual MR rf 7, mirrored, detail carry 2",
    ),
    "warp-only": (train_warp, dict(texture=False), "fixed mean-shape warp only"),
    "warp-res3": (train_warp, dict(rf=3, lam=0.4), "fixed warp + residual MR rf 3"),
    "warp-res3-mir": (
        train_warp,
        dict(rf=3, lam=0.4, mirror=True),
        "fixed warp + residual MR rf 3, mirrored",
    ),
    "warp-res3-mir-s1": (
        train_warp,
        dict(rf=3, lam=0.4, mirror=True, sigma=1.0),
        "fixed warp + residual MR rf 3 mirrored, lowpass 1",
    ),
    "warp-res5-mir-s1": (
        train_warp,
        dict(rf=5, lam=0.4, mirror=True, sigma=1.0),
        "fixed warp + residual MR rf 5 mirrored, lowpass 1",
    ),
    "warp-dz-only": (
        train_warp,
        dict(texture=False, deadzone=(0.25, 0.75)),
        "fixed warp, motion < 0.25 px dropped",
    ),
    "warp-dz-res3-mir-s2": (
        train_warp,
        dict(rf=3, lam=0.4, mirror=True, sigma=2.0, deadzone=(0.25, 0.75)),
        "fixed warp (dead zone) + res MR rf3 mirrored, lowpass 2",
    ),
    "warp-dz-lg12-res3-mir-s2": (
        train_warp,
        dict(rf=3, lam=0.4, mirror=True, sigma=2.0, deadzone=(0.25, 0.75), lower_gain=1.2),
        "fixed warp (dead zone, lower face x1.2) + res MR rf3 mirrored, lowpass 2",
    ),
    "warp-dz-lg12-res3-mir-s3": (
        train_warp,
        dict(rf=3, lam=0.4, mirror=True, sigma=3.0, deadzone=(0.25, 0.75), lower_gain=1.2),
        "fixed warp (dead zone, lower face x1.2) + res MR rf3 mirrored, lowpass 3",
    ),
    "lmwarp-dz-res3-mir-s2": (
        train_warp,
        dict(rf=3, lam=0.4, mirror=True, per_face=True, points="sparse", sigma=2.0, deadzone=(0.25, 0.75)),
        "per-face sparse warp (dead zone) + res MR rf3 mirrored, lowpass 2",
    ),
    "lmwarp-only": (train_warp, dict(texture=False, per_face=True), "per-face landmark warp only"),
    "lmwarp-sparse-only": (
        train_warp,
        dict(texture=False, per_face=True, points="sparse"),
        "per-face warp on lips + every 5th point",
    ),
    "warp-g13-only": (train_warp, dict(texture=False, gain=1.3), "fixed warp, displacement x 1.3"),
    "warp-g13-res3-mir-s2": (
        train_warp,
        dict(gain=1.3, rf=3, lam=0.4, mirror=True, sigma=2.0),
        "fixed warp x1.3 + res MR rf3 mir, lowpass 2",
    ),
    "warp-res3-mir-s2": (
        train_warp,
        dict(rf=3, lam=0.4, mirror=True, sigma=2.0),
        "fixed warp + residual MR rf 3 mirrored, lowpass 2",
    ),
    "lmwarp-sparse-res3-mir-s1": (
        train_warp,
        dict(rf=3, lam=0.4, mirror=True, per_face=True, points="sparse", sigma=1.0),
        "per-face sparse warp + res MR rf3 mirrored, lowpass 1",
    ),
    "lmwarp-sparse-res3-mir-s2": (
        train_warp,
        dict(rf=3, lam=0.4, mirror=True, per_face=True, points="sparse", sigma=2.0),
        "per-face sparse warp + res MR rf3 mirrored, lowpass 2",
    ),
    "lmwarp-sparse-reg-res3-mir-s1": (
        train_warp,
        dict(rf=3, lam=0.4, mirror=True, per_face=True, points="sparse", sigma=1.0, register=True),
        "per-face sparse warp + res MR rf3 mirrored, registered targets, lowpass 1",
    ),
    "lmwarp-res3-mir": (
        train_warp,
        dict(rf=3, lam=0.4, mirror=True, per_face=True),
        "per-face warp + residual MR rf 3 mirrored",
    ),
    "lmwarp-reg-res3-mir": (
        train_warp,
        dict(rf=3, lam=0.4, mirror=True, per_face=True, register=True),
        "per-face warp + residual MR rf 3 mirrored, targets registered",
    ),
}


# ----------------------------------------------------------------------------- evaluation


class _Duck:
    """What :func:`mr_core.evaluation.evaluate.evaluate_crops` needs of a model, around a variant."""

    channels_ = 3
    scaling = "unit"
    target = "smiling"
    image_size_ = SIZE

    def __init__(self, fitted: Fitted, landmarks_of: dict):
        self.fitted = fitted
        self.landmarks_of = landmarks_of

    def predict(self, xb):
        crop = np.clip(np.rint(np.asarray(xb[0], dtype=np.float64) * 255), 0, 255).astype(np.uint8)
        lms = self.landmarks_of.get(crop.tobytes())
        return np.asarray(self.fitted.apply(crop, lms))[None]


def run_variant(name, data, train_idx, test_idx, landmarker, sheet_dir=None) -> dict:
    trainer, params, desc = VARIANTS[name]
    tr = {k: data[k][train_idx] for k in ("X", "Y", "LX", "LY")}
    t0 = time.perf_counter()
    fitted = trainer(tr, **params)
    train_s = time.perf_counter() - t0
    landmarks_of = {data["X"][i].tobytes(): data["LX"][i] for i in test_idx}
    times = []
    for i in test_idx:
        for _ in range(3):
            t = time.perf_counter()
            fitted.apply(data["X"][i], data["LX"][i])
            times.append(time.perf_counter() - t)
    duck = _Duck(fitted, landmarks_of)
    results = [
        ev.evaluate_crops(str(data["names"][i]), duck, data["X"][i], data["Y"][i], landmarker, "smiling")
        for i in test_idx
    ]
    s = summary_report.summarize(results)
    if sheet_dir is not None:
        summary_report.write_contact_sheet(Path(sheet_dir) / f"{name}.png", results, columns=2)
    return {
        "variant": name,
        "params": ", ".join(f"{k}={v}" for k, v in params.items()),
        "desc": desc,
        **{k: s[k] for k in ev.METRICS},
        "fraction_aggregate": s["fraction_aggregate"],
        "train_s": train_s,
        "apply_ms": 1000 * statistics.median(times),
        "size": fitted.size,
        "landmarks": fitted.landmarks,
    }


COLUMNS = (
    ("variant", "variant", "{}"),
    ("params", "params", "{}"),
    ("psnr", "PSNR", "{:.2f}"),
    ("ssim", "SSIM", "{:.3f}"),
    ("score_input", "smile in", "{:.3f}"),
    ("score_output", "smile out", "{:.3f}"),
    ("score_target", "smile real", "{:.3f}"),
    ("fraction", "fraction", "{:.2f}"),
    ("fraction_aggregate", "fraction agg", "{:.2f}"),
    ("eye_ssim", "eye SSIM", "{:.3f}"),
    ("sharpness", "sharpness", "{:.2f}"),
    ("train_s", "train s", "{:.1f}"),
    ("apply_ms", "apply ms", "{:.2f}"),
    ("size", "stored numbers", "{:,}"),
    ("landmarks", "landmarks", "{}"),
)


def markdown_row(row: dict) -> str:
    cells = []
    for key, _, fmt in COLUMNS:
        v = row.get(key)
        cells.append("n/a" if v is None else fmt.format("yes" if v is True else "no" if v is False else v))
    return "| " + " | ".join(cells) + " |"


def markdown_header() -> str:
    names = [title for _, title, _ in COLUMNS]
    return "| " + " | ".join(names) + " |\n|" + "---|" * len(names)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "london")
    p.add_argument("--split", type=Path, default=REPO / "models" / "split_validation.txt")
    p.add_argument("--cache", type=Path, default=Path("/tmp/mr_explore/cache_128.npz"))
    p.add_argument("--only", help="comma-separated variant names (default: all)")
    p.add_argument("--list", action="store_true", help="list the variants and exit")
    p.add_argument("--out", type=Path, help="also write the markdown table here")
    p.add_argument("--sheet", type=Path, help="folder for one contact sheet per variant")
    args = p.parse_args(argv)
    if args.list:
        for k, (_, _params, desc) in VARIANTS.items():
            print(f"{k:24s} {desc}")
        return 0
    names = list(VARIANTS) if not args.only else [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in VARIANTS]
    if unknown:
        p.error(f"unknown variant(s): {', '.join(unknown)}; see --list")
    data = build_cache(args.data, args.cache)
    held = set(read_name_list(args.split))
    unused = set(read_name_list(TEST))  # the test subjects: neither trained on nor measured
    all_names = [str(n) for n in data["names"]]
    test_idx = np.array([i for i, n in enumerate(all_names) if n in held and n not in unused])
    train_idx = np.array([i for i, n in enumerate(all_names) if n not in held and n not in unused])
    from mr_core.face.landmarks import Landmarker

    rows = []
    print(f"train {len(train_idx)} pairs, held-out {len(test_idx)} pairs, crops {SIZE[0]}x{SIZE[1]}")
    print(markdown_header(), flush=True)
    with Landmarker() as lm:
        for n in names:
            row = run_variant(n, data, train_idx, test_idx, lm, args.sheet)
            rows.append(row)
            print(markdown_row(row), flush=True)
    if args.out:
        text = markdown_header() + "\n" + "\n".join(markdown_row(r) for r in rows) + "\n"
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
