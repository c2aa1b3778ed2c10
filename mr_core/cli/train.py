"""``train``: fit a model on pairs of photos (or crops) and write its model file."""

from __future__ import annotations

import hashlib
import sys
import threading
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..atomic import write_error_reason
from ..data import CropLoader
from ..errors import DataError, InvalidParameterError, MRError
from ..imageio import write_image
from ..methods import get_method, trainable_methods
from ..training import DEFAULT_METHOD, fit_pairs, new_model
from .common import (
    DEFAULT_MODEL_NAME,
    _add_data_args,
    _check_output_file,
    _err,
    _odd_int,
    _pairs_from_args,
    _positive_float,
    _report_failures,
    _size,
    make_output_dir,
    ranged,
)


def add_parser(sub) -> None:
    p = sub.add_parser("train", help="learn an MR model from paired source/target images")
    _add_data_args(p, "train")
    p.add_argument("--receptive_field", type=_odd_int, default=3, help="window side, odd (default 3)")
    p.add_argument(
        "--lamda", "--lam", dest="lam", type=_positive_float, default=0.4, help="ridge penalty > 0"
    )
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--weights_dir", default="Exp_N2H/weights/", help="folder for the model file")
    p.add_argument("-o", "--output", help=f"model file (default: <weights_dir>/{DEFAULT_MODEL_NAME})")
    p.add_argument(
        "--force",
        action="store_true",
        help="replace the model file given by -o when it exists (never another file)",
    )
    p.add_argument("--source-name", help="source expression name (default: the source folder's name)")
    p.add_argument("--target-name", help="target expression name (default: the target folder's name)")
    p.add_argument("--training-set", help="description of the training data, stored in the model file")
    p.add_argument("--align", action="store_true", help="detect and align the face in each photo first")
    p.add_argument("--crop-cache", help="with --align: folder to keep aligned crops in and reuse")
    methods = trainable_methods()
    p.add_argument(
        "--method",
        choices=methods,
        default=None,
        help="; ".join(
            f"{name}: {get_method(name).description}"
            + {
                DEFAULT_METHOD: " (the default with --align: what the shipped models are)",
                "mr": " (the default without --align)",
            }.get(name, "")
            for name in methods
        ),
    )
    p.add_argument(
        "--shape-lam",
        type=_positive_float,
        help="mesh-mr: ridge weight of the shape model (default: chosen by cross-validation)",
    )
    p.add_argument(
        "--motion-gain",
        type=_positive_float,
        help="mesh-mr: gain on the predicted motion (default: the one chosen by cross-validation, "
        "scripts/choose_settings.py)",
    )
    p.add_argument(
        "--mouth-gain",
        type=_positive_float,
        help="mesh-mr: gain on the lips' own motion, on top of --motion-gain (default: 1)",
    )
    p.add_argument(
        "--lid-gain",
        type=ranged(float, 0),
        help="mesh-mr: gain on the lower lids' predicted motion (default: 1)",
    )
    p.add_argument(
        "--lid-sink",
        type=ranged(float, 0, 1),
        help="mesh-mr: how far the lower lids may come down, a fraction of the eye's height (default: 0)",
    )
    p.add_argument(
        "--shading-gain",
        type=ranged(float, 0),
        help="mesh-mr: gain on the low frequencies of the appearance change (default: 1)",
    )
    p.add_argument(
        "--texture-sigma", type=ranged(float, 0), default=2.0, help="shape-texture: blur of the change"
    )
    p.add_argument(
        "--lower-gain", type=ranged(float, 0), default=1.2, help="shape-texture: lower-face motion gain"
    )
    p.add_argument(
        "--no-mirror", action="store_true", help="shape-texture, mesh-mr: do not add mirrored pairs"
    )
    p.set_defaults(func=run_train)


def crop_cache_path(cache: Path, path: Path, template: str, size: tuple[int, int]) -> Path:
    """Where ``--crop-cache`` keeps the aligned crop of the photo ``path``.

    ``<cache>/<template>-<h>x<w>/<stem>-<12 hex>.png``: the hex digits hash the photo's resolved path,
    size and modification time, so another photo of the same name, or an edited photo, gets its own crop.
    """
    st = path.stat()
    key = f"{path.resolve()}\0{st.st_size}\0{st.st_mtime_ns}".encode("utf-8", "surrogateescape")
    digest = hashlib.sha256(key).hexdigest()[:12]
    return cache / f"{template}-{size[0]}x{size[1]}" / f"{path.stem}-{digest}.png"


def _aligner(args, size):
    """The --align step: photo -> aligned face crop (uses the face pipeline)."""
    from ..face import DEFAULT_TEMPLATE, align_photo
    from ..imageio import read_image

    cache = None
    if args.crop_cache:
        cache = Path(args.crop_cache)
        make_output_dir(cache / f"{DEFAULT_TEMPLATE}-{size[0]}x{size[1]}", "crop cache folder")
    warned = threading.Event()

    def prepare(rgb: np.ndarray, path: Path) -> np.ndarray:
        cached = None
        if cache is not None:
            try:
                cached = crop_cache_path(cache, path, DEFAULT_TEMPLATE, size)
            except OSError:
                cached = None  # the photo was just read; a failing stat only skips the cache
            if cached is not None and cached.is_file():
                try:
                    crop = read_image(cached).rgb
                except MRError:
                    crop = None  # a damaged cached crop is made again
                if crop is not None and crop.shape[:2] == tuple(size):
                    return crop
        crop = align_photo(rgb, size=size, name=str(path))
        if cached is not None:
            try:
                write_image(cached, crop)
            except OSError as exc:
                if not warned.is_set():
                    warned.set()
                    _err(
                        f"warning: {cached}: cannot write to the crop cache ({write_error_reason(cached, exc)})"
                    )
        return crop

    return prepare, DEFAULT_TEMPLATE


#: The method-specific flags, by the parameter they set (each method takes those it has).
_METHOD_FLAGS = {
    "texture_sigma": lambda args: args.texture_sigma,
    "lower_gain": lambda args: args.lower_gain,
    "mirror": lambda args: not args.no_mirror,
    "shape_lam": lambda args: args.shape_lam,
    "motion_gain": lambda args: args.motion_gain,
    "mouth_gain": lambda args: args.mouth_gain,
    "lid_gain": lambda args: args.lid_gain,
    "lid_sink": lambda args: args.lid_sink,
    "shading_gain": lambda args: args.shading_gain,
}


def _new_model(args, source: str, target: str, template: str | None):
    names = get_method(args.method).param_names()  # its argument combinations are checked by _check_method
    params = {name: flag(args) for name, flag in _METHOD_FLAGS.items() if name in names}
    for name in ("motion_gain", "mouth_gain", "lid_gain", "lid_sink", "shading_gain"):
        if name in params and params[name] is None:  # not given: the method's default
            del params[name]
    return new_model(
        args.method,
        receptive_field=args.receptive_field,
        lam=args.lam,
        backend=args.backend,
        dtype=args.dtype,
        source=source,
        target=target,
        template=template,
        training_set=args.training_set or "",
        scaling=args.scaling or "unit",
        **params,
    )


def _check_method(args) -> None:
    cls = get_method(args.method)
    if cls.needs_alignment and not args.align:
        raise InvalidParameterError(
            f"--method {args.method} needs --align: its shapes are drawn in the template's frame"
        )
    if args.input_ch not in cls.channels or (
        "scaling" not in cls.param_names() and (args.scaling or "unit") != "unit"
    ):
        raise InvalidParameterError(
            f"--method {args.method} works on RGB crops scaled by /255 (--input_ch 3)"
        )


def run_train(args) -> int:
    t0 = time.perf_counter()
    if args.method is None:  # what ships (mesh + MR) on photos it aligns; the paper's MR on ready crops
        args.method = DEFAULT_METHOD if args.align else "mr"
    _check_method(args)
    pairs = _pairs_from_args(args, "train")
    size = _size(args)
    prepare, template = None, None
    if args.align:
        size = size or get_method(args.method).crop_size
        prepare, template = _aligner(args, size)
    out = Path(args.output) if args.output else Path(args.weights_dir) / DEFAULT_MODEL_NAME
    _check_output_file(out, [f for pair in pairs for f in (pair.source, pair.target)], force=args.force)
    source_dir = Path(args.source_dir) if args.source_dir else pairs[0].source.parent
    target_dir = Path(args.target_dir) if args.target_dir else pairs[0].target.parent
    model = _new_model(
        args, args.source_name or source_dir.name, args.target_name or target_dir.name, template
    )
    loader = CropLoader(
        channels=args.input_ch, size=size, resize=args.resize, scaling=model.scaling, prepare=prepare
    )
    bars = dict(file=sys.stderr, leave=False, disable=None, unit="pair")
    with (
        tqdm(total=len(pairs), desc="landmarks", **bars) as marks_bar,
        tqdm(total=len(pairs), desc="train", **bars) as bar,
    ):
        # Without --align a bad image is fatal: keep reading only to name every bad file.
        used, failures = fit_pairs(
            model,
            pairs,
            loader,
            chunk_size=args.chunk_size,
            keep_going=args.align,
            landmark_progress=marks_bar.update if get_method(args.method).trains_on_landmarks else None,
            progress=bar.update,
        )
    _report_failures(failures)
    if failures and not args.align:
        raise DataError(f"{len(failures)} image(s) could not be used (listed above); no model written")
    if used == 0:
        raise DataError("no usable training pairs: nothing to train on")
    if not args.training_set:
        model.training_set = f"{used} pairs from {source_dir} -> {target_dir}"
    model.save(out)
    h, w = model.image_size_
    skipped = f", {len(failures)} photo(s) skipped" if failures else ""
    print(
        f"trained {model.source} -> {model.target} ({args.method}) on {used} pairs of {h}x{w}x{model.channels_} "
        f"(rf {model.receptive_field}, lam {model.lam:g}, {model.backend}) in "
        f"{time.perf_counter() - t0:.2f} s{skipped}; wrote {out}"
    )
    return 0
