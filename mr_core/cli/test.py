"""``test`` and ``test_inthewild``: apply a model to test pairs (PSNR, SSIM) or to unpaired photos."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..atomic import write_error_reason
from ..core.regression import MaskedRegression
from ..data import CropLoader, Failure, iter_pair_chunks, list_images, to_uint8
from ..errors import DataError, InvalidParameterError, MRError
from ..evaluation.metrics import psnr, ssim
from ..imageio import write_image
from ..methods import ShapeTextureModel, load_model
from .common import (
    DEFAULT_MODEL_NAME,
    _add_data_args,
    _model_path,
    _odd_int,
    _pairs_from_args,
    _positive_int,
    _report_failures,
    make_output_dir,
)


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


def add_parser(sub) -> None:
    _add_test(sub)
    _add_test_inthewild(sub)
