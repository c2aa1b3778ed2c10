"""Paired image folders: discovery, pairing, and streaming them to the model in chunks.

Two ways to pair a source folder with a target folder:

* :func:`pair_by_index` — the original code's layout: ``trainA/`` and ``trainB/`` (or ``testA``/``testB``)
  holding ``<anything>_<N>.png``, paired by the number ``N``;
* :func:`pair_by_name` — any two folders, paired by identical file names (the stem, so ``007.jpg`` pairs
  with ``007.png``);
* :func:`pair_files` — two lists of files (a web page's uploads), paired by name in any case, the files left
  out returned with their reasons instead of raising.

Images are read with :func:`mr_core.imageio.read_image` (any Pillow-readable format, EXIF orientation
applied) and turned into float crops in [0, 1] by a :class:`CropLoader`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .errors import DataError, ImageReadError, MRError
from .imageio import read_image

_INDEX = re.compile(r"_(\d+)$")
_LIST_AT_MOST = 10


def _image_suffixes() -> set[str]:
    Image.init()
    return {ext.lower() for ext in Image.registered_extensions()}


@dataclass(frozen=True)
class Pair:
    """A source image and its target; ``name`` is the pairing key (used for output file names)."""

    name: str
    source: Path
    target: Path


def _names(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_LIST_AT_MOST])
    more = len(items) - _LIST_AT_MOST
    return f"{shown} and {more} more" if more > 0 else shown


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files (by Pillow-readable suffix) directly inside ``folder``, sorted by name."""
    folder = Path(folder)
    if not folder.exists():
        raise DataError(f"{folder}: folder not found")
    if not folder.is_dir():
        raise DataError(f"{folder}: is not a folder")
    suffixes = _image_suffixes()
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes)


def _keyed(folder: Path, key: Callable[[Path], str | None]) -> tuple[dict[str, Path], list[str]]:
    keyed: dict[str, Path] = {}
    unkeyed = []
    for path in list_images(folder):
        k = key(path)
        if k is None:
            unkeyed.append(path.name)
            continue
        if k in keyed:
            raise DataError(f"{folder}: {keyed[k].name} and {path.name} both pair as {k!r}; keep one of them")
        keyed[k] = path
    return keyed, unkeyed


def _pair(source_dir, target_dir, key, sort_key) -> list[Pair]:
    source_dir, target_dir = Path(source_dir), Path(target_dir)
    a, bad_a = _keyed(source_dir, key)
    b, bad_b = _keyed(target_dir, key)
    unpaired = [str(source_dir / n) for n in bad_a] + [str(target_dir / n) for n in bad_b]
    unpaired += [str(a[k]) for k in sorted(set(a) - set(b), key=sort_key)]
    unpaired += [str(b[k]) for k in sorted(set(b) - set(a), key=sort_key)]
    if unpaired:
        raise DataError(f"{len(unpaired)} unpaired image file(s): {_names(unpaired)}")
    if not a:
        raise DataError(f"no images found in {source_dir} and {target_dir}")
    return [Pair(k, a[k], b[k]) for k in sorted(a, key=sort_key)]


def pair_by_index(source_dir: str | os.PathLike, target_dir: str | os.PathLike) -> list[Pair]:
    """Pair ``<anything>_<N>.<ext>`` files of two folders by ``N`` (the original layout)."""

    def key(path: Path) -> str | None:
        m = _INDEX.search(path.stem)
        return str(int(m.group(1))) if m else None

    return _pair(source_dir, target_dir, key, sort_key=int)


def pair_by_name(source_dir: str | os.PathLike, target_dir: str | os.PathLike) -> list[Pair]:
    """Pair the files of two folders by identical file name (stem)."""
    return _pair(source_dir, target_dir, lambda p: p.stem, sort_key=str)


def dataset_pairs(dataset_dir: str | os.PathLike, mode: str) -> list[Pair]:
    """Pairs of ``<dataset_dir>/<mode>A`` and ``<dataset_dir>/<mode>B`` (mode: "train" or "test")."""
    root = Path(dataset_dir)
    if not root.is_dir():
        raise DataError(f"{root}: dataset folder not found")
    a, b = root / f"{mode}A", root / f"{mode}B"
    for sub in (a, b):
        if not sub.is_dir():
            raise DataError(f"{sub}: folder not found (expected {mode}A/ and {mode}B/ inside {root})")
    return pair_by_index(a, b)


def read_name_list(path: str | os.PathLike) -> list[str]:
    """Names listed in a text file, in order, without repeats (whitespace-separated; ``#`` starts a comment).

    A name written as an image file name (``007.jpg``) counts as its stem (``007``).  Used for held-out
    splits: ``train --exclude-file`` and ``evaluate --pairs-file``.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot be read as text ({exc})") from None
    suffixes = _image_suffixes()
    names = [tok for line in text.splitlines() for tok in line.split("#", 1)[0].split()]
    names = [Path(n).stem if Path(n).suffix.lower() in suffixes else n for n in names]
    if not names:
        raise DataError(f"{path}: lists no names")
    return list(dict.fromkeys(names))


# ---------------------------------------------------------------------------------------------- loading
def to_gray(rgb: np.ndarray) -> np.ndarray:
    """ITU-R 601 luma of uint8 RGB, as uint8 H x W x 1 (Pillow's "L")."""
    luma = rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114
    return np.clip(np.rint(luma), 0, 255).astype(np.uint8)[..., None]


def scale_image(img: np.ndarray, scaling: str) -> np.ndarray:
    """uint8 image -> float32 in [0, 1]: ``x / 255`` ("unit") or per-image min-max ("minmax")."""
    x = img.astype(np.float32)
    if scaling == "minmax":
        lo, hi = float(x.min()), float(x.max())
        return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
    return x / np.float32(255.0)


def to_uint8(x: np.ndarray) -> np.ndarray:
    """float image in [0, 1] (clipped) -> uint8."""
    return np.clip(np.rint(np.asarray(x, dtype=np.float64) * 255.0), 0, 255).astype(np.uint8)


@dataclass
class CropLoader:
    """Reads one image file as a float crop (h, w, channels) in [0, 1].

    ``size`` is (h, w): images of another size are refused, or resized when ``resize`` is true.
    ``size=None`` takes the size of the first image read.  ``prepare``, when given, turns the
    upright RGB photo into the crop first (face alignment: ``--align``).  ``max_pixels``: larger
    photos are refused before they are decoded (default: :func:`~mr_core.imageio.read_image`'s).
    """

    channels: int = 3
    size: tuple[int, int] | None = None
    resize: bool = False
    scaling: str = "unit"
    prepare: Callable[[np.ndarray, Path], np.ndarray] | None = None
    max_pixels: int | None = None

    def read_uint8(self, path: Path) -> np.ndarray:
        rgb = (
            read_image(path) if self.max_pixels is None else read_image(path, max_pixels=self.max_pixels)
        ).rgb
        if self.prepare is not None:
            rgb = self.prepare(rgb, path)
        h, w = rgb.shape[:2]
        if self.size is None:
            self.size = (h, w)
        elif (h, w) != tuple(self.size):
            if not self.resize:
                raise DataError(
                    f"{path}: image is {w}x{h} but the others are {self.size[1]}x{self.size[0]} "
                    "(all images must have the same size; --resize resizes them)"
                )
            rgb = np.asarray(Image.fromarray(rgb).resize((self.size[1], self.size[0]), Image.LANCZOS))
        return to_gray(rgb) if self.channels == 1 else rgb

    def __call__(self, path: Path) -> np.ndarray:
        return scale_image(self.read_uint8(path), self.scaling)


@dataclass
class Failure:
    """An input that could not be used: the file and one sentence of reason."""

    path: Path
    reason: str


def _first_of_each_name(files: list[Path], label: str, failures: list[Failure]) -> list[Path]:
    """The files with a name (without extension, any case) not taken by an earlier one; the others are
    listed in ``failures`` (the same photo given twice, or two photos called alike)."""
    first: dict[str, Path] = {}
    for p in files:
        key = p.stem.casefold()
        if key not in first:
            first[key] = p
        elif _same_bytes(first[key], p):
            failures.append(
                Failure(p, f"the same photo as {first[key].name}, given twice in the '{label}' photos")
            )
        else:
            failures.append(
                Failure(
                    p,
                    f"another '{label}' photo is also called {p.stem!r} ({first[key].name}); only that one is used",
                )
            )
    return list(first.values())


def _same_bytes(a: Path, b: Path) -> bool:
    try:
        return a.stat().st_size == b.stat().st_size and a.read_bytes() == b.read_bytes()
    except OSError:
        return False


def pair_files(
    sources: Sequence[Path], targets: Sequence[Path], labels: tuple[str, str] = ("before", "after")
) -> tuple[list[Pair], list[Failure]]:
    """Pair two lists of files by name (the stem, any case: ``Anna.jpg`` pairs with ``anna.png``).

    Returns the pairs and the files left out, each with its reason: no partner, the same photo given twice,
    or a name taken by an earlier file (``labels`` name the two lists in those sentences).  Raises
    :class:`DataError` when no file has a partner.
    """
    failures: list[Failure] = []
    src = _first_of_each_name([Path(p) for p in sources], labels[0], failures)
    tgt = _first_of_each_name([Path(p) for p in targets], labels[1], failures)
    by_stem = {p.stem.casefold(): p for p in tgt}
    pairs = []
    for p in src:
        t = by_stem.pop(p.stem.casefold(), None)
        if t is None:
            failures.append(Failure(p, f"no '{labels[1]}' photo of the same file name"))
        else:
            pairs.append(Pair(name=p.stem, source=p, target=t))
    failures += [Failure(t, f"no '{labels[0]}' photo of the same file name") for t in by_stem.values()]
    if not pairs:
        example = src[0].name if src else "a.jpg"
        raise DataError(
            f"none of the {len(src)} '{labels[0]}' photos has an '{labels[1]}' photo of the same file name "
            f"(e.g. {example} in both sets); name each pair's two photos alike"
        )
    return pairs, failures


def iter_pair_chunks(
    pairs: Sequence[Pair],
    loader: CropLoader,
    chunk_size: int = 64,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Iterator[tuple[np.ndarray, np.ndarray, list[Pair], list[Failure]]]:
    """Yield ``(X, Y, pairs_used, failures)`` chunk by chunk; memory is bounded by ``chunk_size``.

    A pair whose source or target cannot be used (unreadable, no face, wrong size) is left out of its
    chunk and reported in ``failures`` (one entry per bad file); the other pairs go on.  When the
    loader has no size yet, the first image that can be read sets it.
    """
    workers = workers or min(8, os.cpu_count() or 1)

    def load(pair: Pair):
        out, failed = [], []
        for path in (pair.source, pair.target):
            try:
                out.append(loader(path))
            except MRError as exc:
                failed.append(Failure(path, str(exc).removeprefix(f"{path}: ")))
        return pair, out, failed

    # Without a size, read pairs in this thread until one image fixes it (no race between workers);
    # their results are kept, so no image is read twice and a bad first file is just a failure.
    early: dict[int, tuple] = {}
    for i, pair in enumerate(pairs):
        if loader.size is not None:
            break
        early[i] = load(pair)

    def load_at(i: int):
        result = early.pop(i, None)
        return result if result is not None else load(pairs[i])

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for start in range(0, len(pairs), chunk_size):
            results = list(pool.map(load_at, range(start, min(start + chunk_size, len(pairs)))))
            xs, ys, used, failures = [], [], [], []
            for pair, out, failed in results:
                if failed:
                    failures.extend(failed)
                else:
                    xs.append(out[0])
                    ys.append(out[1])
                    used.append(pair)
            if progress is not None:
                progress(len(results))
            if used:
                yield np.stack(xs), np.stack(ys), used, failures
            else:
                yield None, None, used, failures


__all__ = [
    "CropLoader",
    "Failure",
    "ImageReadError",
    "Pair",
    "dataset_pairs",
    "iter_pair_chunks",
    "list_images",
    "pair_by_index",
    "pair_by_name",
    "read_name_list",
    "scale_image",
    "to_gray",
    "to_uint8",
]
