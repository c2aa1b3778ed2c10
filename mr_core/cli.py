"""Command line: ``python -m mr_core train|test|test_inthewild|synthesize|evaluate ...``.

The original code's usage keeps working: ``--mode train`` (or ``test``, ``test_inthewild``) may
stand in for the command, with its flags ``--train_dataset_dir``, ``--test_dataset_dir``,
``--inthewild_dataset_dir``, ``--image_size``, ``--total_images``, ``--input_ch``,
``--receptive_field``, ``--lamda``, ``--weights_dir``, ``--test_results_dir`` and
``--inthewild_results_dir``.  Every command only calls library functions; a user error is one
line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import __version__
from .argtypes import ranged
from .atomic import write_error_reason
from .data import (
    CropLoader,
    Failure,
    _names,
    dataset_pairs,
    iter_pair_chunks,
    list_images,
    pair_by_name,
    read_name_list,
    to_uint8,
)
from .errors import DataError, InvalidParameterError, ModelFileError, MRError
from .expression import METHODS, LightingStats, ShapeTextureModel
from .imageio import write_image
from .metrics import psnr, ssim
from .model import MAX_RECEPTIVE_FIELD, MaskedRegression
from .modelfile import load_model

DEFAULT_MODEL_NAME = "mr_model.safetensors"
MODES = ("train", "test", "test_inthewild")


# ------------------------------------------------------------------------------------------- helpers
def _err(message: str) -> None:
    print(message, file=sys.stderr)


def _report_failures(failures: Sequence[Failure]) -> None:
    for f in failures:
        _err(f"{f.path}: {f.reason}")


def _model_path(args) -> Path:
    if getattr(args, "model", None):
        return Path(args.model)
    return Path(args.weights_dir) / DEFAULT_MODEL_NAME


def make_output_dir(path: Path, what: str = "output folder") -> Path:
    """Create the folder ``path`` (and its parents); DataError naming it when that is impossible."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise DataError(f"{path}: the {what} is a file, not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"{path}: cannot create the {what} ({write_error_reason(path, exc)})") from None
    return path


def _check_output_file(path: Path) -> None:
    """Refuse, before any work, a model file name that cannot be written (a folder, or under a file)."""
    if path.is_dir():
        raise ModelFileError(
            f"{path}: is a folder; give a model file name such as {path / DEFAULT_MODEL_NAME}"
        )
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ModelFileError(
                    f"{path}: cannot write the model file ({parent} is a file, not a folder)"
                )
            break


def check_model_size(model, path) -> None:
    """Refuse, once, a model whose crop size the face pipeline cannot align to (naming the model file)."""
    from .face import _check_size

    h, w = (int(v) for v in model.image_size_)
    try:
        _check_size((h, w))
    except InvalidParameterError as exc:
        raise ModelFileError(
            f"{path}: the model's crops are {h}x{w}, which the face pipeline cannot align to ({exc})"
        ) from None


_odd_int = ranged(int, 1, MAX_RECEPTIVE_FIELD, odd=True)
_positive_float = ranged(float, 0, above=True)
_positive_int = ranged(int, 1)


def _add_data_args(p: argparse.ArgumentParser, mode: str) -> None:
    p.add_argument(f"--{mode}_dataset_dir", help=f"folder holding {mode}A/ (sources) and {mode}B/ (targets)")
    p.add_argument("--source-dir", help="folder of source images (paired with --target-dir by file name)")
    p.add_argument("--target-dir", help="folder of target images")
    p.add_argument("--image_size", type=_positive_int, help="crop side in pixels (default: the images' size)")
    p.add_argument("--resize", action="store_true", help="resize images of another size to --image_size")
    p.add_argument("--total_images", type=_positive_int, help="use only the first N pairs (default: all)")
    p.add_argument(
        "--exclude-file",
        help="text file of pair names (file stems, or N for the original layout) to leave out, e.g. a held-out split",
    )
    p.add_argument("--input_ch", type=int, choices=(1, 3), default=3, help="1: grayscale, 3: RGB (default 3)")
    p.add_argument(
        "--scaling",
        choices=("unit", "minmax"),
        default=None,
        help="pixel scaling: unit = x/255 (default), minmax = per-image min-max (the original code's); "
        "test reads it from the model file and refuses another value",
    )
    p.add_argument("--backend", default="numpy", help="numpy (default), cupy, auto, or a plugin's name")
    p.add_argument("--chunk-size", type=_positive_int, default=64, help="pairs read per chunk (default 64)")


def _pairs_from_args(args, mode: str):
    dataset_dir = getattr(args, f"{mode}_dataset_dir")
    if args.source_dir or args.target_dir:
        if not (args.source_dir and args.target_dir):
            raise InvalidParameterError("--source-dir and --target-dir go together: give both")
        pairs = pair_by_name(args.source_dir, args.target_dir)
    elif dataset_dir:
        pairs = dataset_pairs(dataset_dir, mode)
    else:
        raise InvalidParameterError(f"give --{mode}_dataset_dir DIR or --source-dir A --target-dir B")
    if args.exclude_file:
        names = read_name_list(args.exclude_file)
        known = {p.name for p in pairs}
        unmatched = [n for n in names if n not in known]
        if unmatched:
            _err(
                f"warning: {args.exclude_file}: {len(unmatched)} name(s) match no pair and exclude "
                f"nothing: {_names(unmatched)}"
            )
        excluded = set(names)
        pairs = [p for p in pairs if p.name not in excluded]
        if not pairs:
            raise DataError(f"{args.exclude_file}: it excludes every pair; nothing is left")
    if args.total_images:
        pairs = pairs[: args.total_images]
    return pairs


def _size(args) -> tuple[int, int] | None:
    return (args.image_size, args.image_size) if args.image_size else None


# --------------------------------------------------------------------------------------------- train
def _add_train(sub) -> None:
    p = sub.add_parser("train", help="learn an MR model from paired source/target images")
    _add_data_args(p, "train")
    p.add_argument("--receptive_field", type=_odd_int, default=3, help="window side, odd (default 3)")
    p.add_argument(
        "--lamda", "--lam", dest="lam", type=_positive_float, default=0.4, help="ridge penalty > 0"
    )
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--weights_dir", default="Exp_N2H/weights/", help="folder for the model file")
    p.add_argument("-o", "--output", help=f"model file (default: <weights_dir>/{DEFAULT_MODEL_NAME})")
    p.add_argument("--source-name", help="source expression name (default: the source folder's name)")
    p.add_argument("--target-name", help="target expression name (default: the target folder's name)")
    p.add_argument("--training-set", help="description of the training data, stored in the model file")
    p.add_argument("--align", action="store_true", help="detect and align the face in each photo first")
    p.add_argument("--crop-cache", help="with --align: folder to keep aligned crops in and reuse")
    p.add_argument(
        "--method",
        choices=METHODS,
        default="mr",
        help="mr: the paper's masked regression (default); shape-texture: a fixed expression warp learned "
        "from face landmarks plus a residual MR texture change, sharper and stronger (needs --align)",
    )
    p.add_argument(
        "--texture-sigma", type=ranged(float, 0), default=2.0, help="shape-texture: blur of the change"
    )
    p.add_argument(
        "--lower-gain", type=ranged(float, 0), default=1.2, help="shape-texture: lower-face motion gain"
    )
    p.add_argument("--no-mirror", action="store_true", help="shape-texture: do not add mirrored pairs")
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
    from .face import DEFAULT_TEMPLATE, align_photo
    from .imageio import read_image

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


def _new_model(args, source: str, target: str, template: str | None):
    common = dict(
        receptive_field=args.receptive_field,
        lam=args.lam,
        backend=args.backend,
        dtype=args.dtype,
        source=source,
        target=target,
        template=template,
        training_set=args.training_set or "",
    )
    if args.method == "shape-texture":  # its argument combinations are checked by _check_method
        model = ShapeTextureModel(
            **common, texture_sigma=args.texture_sigma, lower_gain=args.lower_gain, mirror=not args.no_mirror
        )
        model._check_params()
        return model
    model = MaskedRegression(**common, scaling=args.scaling or "unit")
    model._backend()  # validate the settings and the backend before reading any image
    return model


def _landmark_pass(pairs, loader, args, failures: list[Failure], template: str):
    """Shape-texture, first pass over the aligned crops: FaceLandmarker meshes of every pair (pairs
    without one are skipped) and the training set's lighting statistics."""
    from .landmarker import Landmarker

    kept, src_marks, tgt_marks = [], [], []
    lighting = LightingStats(template)
    with (
        Landmarker() as marker,
        tqdm(
            total=len(pairs), desc="landmarks", unit="pair", file=sys.stderr, leave=False, disable=None
        ) as bar,
    ):
        for X, Y, chunk_pairs, chunk_failures in iter_pair_chunks(
            pairs, loader, args.chunk_size, progress=bar.update
        ):
            failures.extend(chunk_failures)
            for pair, x, y in zip(
                chunk_pairs, X if X is not None else [], Y if Y is not None else [], strict=True
            ):
                a, b = marker.analyze(to_uint8(x)), marker.analyze(to_uint8(y))
                if a is None or b is None:
                    bad = pair.source if a is None else pair.target
                    failures.append(Failure(bad, "no face landmarks found in its aligned crop"))
                    continue
                kept.append(pair)
                src_marks.append(a.landmarks)
                tgt_marks.append(b.landmarks)
                lighting.add(x[None])
    return kept, np.array(src_marks), np.array(tgt_marks), lighting


def _check_method(args) -> None:
    if args.method == "shape-texture":
        if not args.align:
            raise InvalidParameterError(
                "--method shape-texture needs --align: its warp is drawn in the template's frame"
            )
        if args.input_ch != 3 or (args.scaling or "unit") != "unit":
            raise InvalidParameterError(
                "--method shape-texture works on RGB crops scaled by /255 (--input_ch 3)"
            )


def run_train(args) -> int:
    t0 = time.perf_counter()
    _check_method(args)
    pairs = _pairs_from_args(args, "train")
    size = _size(args)
    prepare, template = None, None
    if args.align:
        size = size or (128, 128)
        prepare, template = _aligner(args, size)
    out = Path(args.output) if args.output else Path(args.weights_dir) / DEFAULT_MODEL_NAME
    _check_output_file(out)
    source_dir = Path(args.source_dir) if args.source_dir else pairs[0].source.parent
    target_dir = Path(args.target_dir) if args.target_dir else pairs[0].target.parent
    model = _new_model(
        args, args.source_name or source_dir.name, args.target_name or target_dir.name, template
    )
    loader = CropLoader(
        channels=args.input_ch, size=size, resize=args.resize, scaling=model.scaling, prepare=prepare
    )
    failures: list[Failure] = []
    if args.method == "shape-texture":
        pairs, src_marks, tgt_marks, lighting = _landmark_pass(pairs, loader, args, failures, template)
        if not pairs:
            _report_failures(failures)
            raise DataError("no usable training pairs: nothing to train on")
        model.fit_shape(
            src_marks, tgt_marks, loader.size, lighting=lighting.value if model.photometric else None
        )
    used = 0
    with tqdm(total=len(pairs), desc="train", unit="pair", file=sys.stderr, leave=False, disable=None) as bar:
        for X, Y, chunk_pairs, chunk_failures in iter_pair_chunks(
            pairs, loader, args.chunk_size, progress=bar.update
        ):
            failures.extend(chunk_failures)
            # Without --align a bad image is fatal: keep reading only to name every bad file.
            if X is not None and (args.align or not failures):
                model.partial_fit(X, Y)
                used += len(chunk_pairs)
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


# ---------------------------------------------------------------------------------------------- test
def _add_test(sub) -> None:
    p = sub.add_parser("test", help="predict paired test images; write input|output|target strips, PSNR/SSIM")
    _add_data_args(p, "test")
    p.add_argument("--receptive_field", type=_odd_int, help="(ignored: read from the model file)")
    p.add_argument("--weights_dir", default="Exp_N2H/weights/", help="folder of the model file")
    p.add_argument("--model", help=f"model file (default: <weights_dir>/{DEFAULT_MODEL_NAME})")
    p.add_argument("--test_results_dir", default="Exp_N2H/test_results/", help="folder for the strips")
    p.set_defaults(func=run_test)


def _loader_for(model: MaskedRegression | ShapeTextureModel, args, path: Path) -> CropLoader:
    if args.input_ch != model.channels_ and args.input_ch == 3 and model.channels_ == 1:
        channels = 1  # the default --input_ch 3 must not fight a gray model
    else:
        channels = args.input_ch
    if channels != model.channels_:
        raise DataError(f"--input_ch is {channels} but the model has {model.channels_} channel(s)")
    size = model.image_size_
    if args.image_size and (args.image_size, args.image_size) != tuple(size):
        raise DataError(f"--image_size is {args.image_size} but the model was trained on {size[1]}x{size[0]}")
    if args.scaling and args.scaling != model.scaling:
        raise DataError(
            f"--scaling is {args.scaling} but {path} was trained with {model.scaling} scaling; "
            "leave --scaling out (the model file sets it)"
        )
    return CropLoader(channels=channels, size=size, resize=args.resize, scaling=model.scaling)


def _write_strip(path: Path, strip: np.ndarray, failures: list[Failure]) -> bool:
    """Write one result strip; a failure is recorded for the report (the batch goes on)."""
    try:
        write_image(path, strip)
    except OSError as exc:
        failures.append(Failure(path, f"cannot write the result ({write_error_reason(path, exc)})"))
        return False
    except MRError as exc:
        failures.append(Failure(path, str(exc).removeprefix(f"{path}: ")))
        return False
    return True


def _strip(*images: np.ndarray) -> np.ndarray:
    strip = np.concatenate([to_uint8(im) for im in images], axis=1)
    return np.repeat(strip, 3, axis=2) if strip.shape[2] == 1 else strip


def run_test(args) -> int:
    model_path = _model_path(args)
    model = load_model(model_path, backend=args.backend)
    pairs = _pairs_from_args(args, "test")
    loader = _loader_for(model, args, model_path)
    out_dir = make_output_dir(Path(args.test_results_dir), "results folder")
    rows, failures = [], []
    with tqdm(total=len(pairs), desc="test", unit="pair", file=sys.stderr, leave=False, disable=None) as bar:
        for X, Y, used, chunk_failures in iter_pair_chunks(
            pairs, loader, args.chunk_size, progress=bar.update
        ):
            failures.extend(chunk_failures)
            if X is None:
                continue
            P = np.clip(model.predict(X), 0.0, 1.0)
            for pair, x, p, y in zip(used, X, P, Y, strict=True):
                _write_strip(out_dir / f"{pair.source.stem}_test.png", _strip(x, p, y), failures)
                rows.append((pair.source.name, psnr(p, y), ssim(p, y)))
    _report_failures(failures)
    if rows:
        width = max(len(r[0]) for r in rows)
        print(f"{'image':<{width}}  {'PSNR dB':>8}  {'SSIM':>6}")
        for name, p, s in rows:
            print(f"{name:<{width}}  {p:8.2f}  {s:6.4f}")
        print(
            f"{'mean':<{width}}  {np.mean([r[1] for r in rows]):8.2f}  {np.mean([r[2] for r in rows]):6.4f}"
            f"   ({len(rows)} pairs; strips input|output|target in {out_dir})"
        )
    if not rows:
        raise DataError("no test pair could be used")
    return 1 if failures else 0


# ------------------------------------------------------------------------------------ test_inthewild
def _add_test_inthewild(sub) -> None:
    p = sub.add_parser("test_inthewild", help="predict unpaired face crops; write input|output strips")
    p.add_argument("--inthewild_dataset_dir", help="folder of face crops")
    p.add_argument("--test_dataset_dir", help=argparse.SUPPRESS)  # the original README passed this one
    p.add_argument("--image_size", type=_positive_int, help="crop side in pixels (checked against the model)")
    p.add_argument("--resize", action="store_true", help="resize crops of another size to the model's")
    p.add_argument("--total_images", type=_positive_int, help="use only the first N images (default: all)")
    p.add_argument("--input_ch", type=int, choices=(1, 3), default=3)
    p.add_argument("--receptive_field", type=_odd_int, help="(ignored: read from the model file)")
    p.add_argument(
        "--scaling",
        choices=("unit", "minmax"),
        default=None,
        help="(read from the model file; another value is refused)",
    )
    p.add_argument("--backend", default="numpy")
    p.add_argument("--weights_dir", default="Exp_N2H/weights/")
    p.add_argument("--model", help=f"model file (default: <weights_dir>/{DEFAULT_MODEL_NAME})")
    p.add_argument("--inthewild_results_dir", default="Exp_N2H/inthewild_results/")
    p.set_defaults(func=run_test_inthewild)


def run_test_inthewild(args) -> int:
    folder = args.inthewild_dataset_dir or args.test_dataset_dir
    if not folder:
        raise InvalidParameterError("give --inthewild_dataset_dir DIR (a folder of face crops)")
    model_path = _model_path(args)
    model = load_model(model_path, backend=args.backend)
    loader = _loader_for(model, args, model_path)
    paths = list_images(folder)[: args.total_images] if args.total_images else list_images(folder)
    if not paths:
        raise DataError(f"{folder}: no images found")
    out_dir = make_output_dir(Path(args.inthewild_results_dir), "results folder")
    failures, written = [], 0
    for path in tqdm(paths, desc="test_inthewild", unit="image", file=sys.stderr, leave=False, disable=None):
        try:
            x = loader(path)
        except MRError as exc:
            failures.append(Failure(path, str(exc).removeprefix(f"{path}: ")))
            continue
        p = np.clip(model.predict(x), 0.0, 1.0)
        written += _write_strip(out_dir / f"{path.stem}_test_inthewild.png", _strip(x, p), failures)
    _report_failures(failures)
    print(
        f"wrote {written} input|output strip(s) to {out_dir}"
        + (f"; {len(failures)} failed" if failures else "")
    )
    return 1 if failures else 0


# ---------------------------------------------------------------------------------------- dispatcher
def _plugin_commands():
    """Subcommand modules beyond train/test (each has add_parser(subparsers))."""
    from . import cli_evaluate, cli_synthesize

    return (cli_synthesize, cli_evaluate)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (the usage is one --help away)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m mr_core",
        description="Facial expression synthesis by masked linear regression (MR).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _add_train(sub)
    _add_test(sub)
    _add_test_inthewild(sub)
    for module in _plugin_commands():
        module.add_parser(sub)
    return parser


def _mode_to_command(argv: list[str]) -> list[str]:
    """Rewrite the original ``--mode X ...`` usage as ``X ...``."""
    for i, arg in enumerate(argv):
        if arg == "--mode" and i + 1 < len(argv):
            return [argv[i + 1], *argv[:i], *argv[i + 2 :]]
        if arg.startswith("--mode="):
            return [arg.split("=", 1)[1], *argv[:i], *argv[i + 1 :]]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    argv = _mode_to_command(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MRError as exc:
        _err(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
