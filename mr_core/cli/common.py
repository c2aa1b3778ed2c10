"""Helpers shared by the entry point and the commands: one-line errors, output folders, model checks,
the dataset flags of train and test, and argparse value types that name their valid range."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from ..atomic import write_error_reason
from ..core.regression import MAX_RECEPTIVE_FIELD
from ..data import Failure, _names, dataset_pairs, pair_by_name, read_name_list
from ..errors import DataError, InvalidParameterError, ModelFileError

DEFAULT_MODEL_NAME = "mr_model.safetensors"


def ranged(
    cast: type = float,
    low: float = -math.inf,
    high: float = math.inf,
    *,
    above: bool = False,
    odd: bool = False,
) -> Callable[[str], float]:
    """A type that parses ``cast(text)`` and checks ``low <= value <= high`` (``low < value`` when ``above``)."""
    noun = "an odd integer" if odd else "an integer" if cast is int else "a number"
    if high < math.inf:
        desc = f"{noun} in [{low:g}, {high:g}]"
    else:
        desc = f"{noun} {'>' if above else '>='} {low:g}"

    def parse(text: str):
        try:
            value = cast(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {desc}, got {text!r}") from None
        ok = (value > low if above else value >= low) and value <= high and math.isfinite(value)
        if not ok or (odd and value % 2 == 0):
            raise argparse.ArgumentTypeError(f"must be {desc}, got {text}")
        return value

    return parse


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


def _check_output_file(path: Path, inputs: Sequence[Path] = (), force: bool = False) -> None:
    """Refuse, before any work, a model file name that cannot be written (a folder, or under a file),
    that is one of the training ``inputs``, or that is an existing file: a file that is not a model is
    never replaced, an existing model file only with ``force``."""
    from ..core.modelfile import read_metadata

    key = os.path.normcase(os.path.abspath(path))
    for item in inputs:
        if key == os.path.normcase(os.path.abspath(item)) or (
            path.exists() and item.exists() and os.path.samefile(path, item)
        ):
            raise ModelFileError(
                f"{path}: the model file would overwrite the training image {item}; choose another -o"
            )
    if path.is_file():
        try:
            read_metadata(path)
        except ModelFileError:
            raise ModelFileError(
                f"{path}: this file exists and is not a model file; it is never replaced, choose another -o"
            ) from None
        if not force:
            raise ModelFileError(
                f"{path}: a model file already exists here; give --force to replace it, or choose another -o"
            )
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
    from ..face import _check_size

    h, w = (int(v) for v in model.image_size_)
    try:
        _check_size((h, w))
    except InvalidParameterError as exc:
        raise ModelFileError(
            f"{path}: the model's crops are {h}x{w}, which the face pipeline cannot align to ({exc})"
        ) from None


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors (the usage is one --help away)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


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
