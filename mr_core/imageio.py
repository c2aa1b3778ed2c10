"""Reading and writing photos.

:func:`read_image` turns whatever a user brings (JPEG, PNG, WebP, BMP; RGB, RGBA, grayscale,
palette, CMYK, 16-bit) into an upright RGB ``uint8`` array plus an optional alpha channel.
The EXIF orientation is applied, decompression bombs are refused before any pixel is decoded,
and every failure is an :class:`~mr_core.errors.ImageReadError` whose message names the file.

:func:`write_image` writes atomically: to a temporary file in the destination folder, then
``os.replace``, so a reader never sees a half-written file and a failed write leaves nothing.
"""

from __future__ import annotations

import io
import os
import re
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .atomic import atomic_write_bytes
from .errors import ImageReadError, InvalidParameterError

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "WRITABLE_SUFFIXES",
    "LoadedImage",
    "read_image",
    "write_image",
]

#: Largest image accepted by default (width x height); 2**27 is about 134 megapixels, enough for
#: every phone camera (108 MP sensors included) while refusing decompression bombs.
DEFAULT_MAX_PIXELS = 2**27

#: File name suffixes treated as images when a folder is scanned.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")

#: Output suffix -> Pillow format name.
WRITABLE_SUFFIXES = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP", ".bmp": "BMP"}

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")


@dataclass
class LoadedImage:
    """An upright photo: ``rgb`` is ``uint8`` H x W x 3, ``alpha`` ``uint8`` H x W or ``None``."""

    rgb: np.ndarray
    alpha: np.ndarray | None
    name: str
    format: str | None = None  # Pillow's name of the file format, e.g. "JPEG"
    icc_profile: bytes | None = None  # the source's colour profile when it applies to ``rgb``

    @property
    def size(self) -> tuple[int, int]:
        """(height, width)."""
        return int(self.rgb.shape[0]), int(self.rgb.shape[1])


def _source_name(source, name: str | None) -> str:
    if name:
        return name
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return "<image bytes>"
    return str(getattr(source, "name", "") or "<image stream>")


def _to_rgb_alpha(im: Image.Image) -> tuple[np.ndarray, np.ndarray | None]:
    """Convert any Pillow mode to RGB uint8 (+ alpha uint8 or None)."""
    mode = im.mode
    if mode in _SIXTEEN_BIT_MODES or mode == "I":
        arr = np.asarray(im).astype(np.float64)
        if mode in _SIXTEEN_BIT_MODES or arr.max(initial=0) > 255:
            arr = arr / 257.0
        gray = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2), None
    if mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        if arr.size and np.nanmax(arr) <= 1.0:
            arr = arr * 255.0
        gray = np.clip(np.rint(np.nan_to_num(arr)), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2), None
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode in ("P", "L", "RGB", "1") and "transparency" in im.info
    )
    if has_alpha:
        rgba = np.asarray(im.convert("RGBA"))
        return np.ascontiguousarray(rgba[:, :, :3]), np.ascontiguousarray(rgba[:, :, 3])
    if mode != "RGB":
        im = im.convert("RGB")
    return np.asarray(im).copy(), None


def read_image(
    source: str | os.PathLike | bytes | bytearray | BinaryIO,
    *,
    name: str | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> LoadedImage:
    """Read a photo from a path, from bytes or from a binary file object.

    Returns a :class:`LoadedImage` with the EXIF orientation applied.  Raises
    :class:`~mr_core.errors.ImageReadError` (message naming the file) when the file is missing,
    is not an image, is truncated or has more than ``max_pixels`` pixels.
    """
    label = _source_name(source, name)
    if not isinstance(max_pixels, int) or max_pixels <= 0:
        raise InvalidParameterError(f"max_pixels must be a positive integer, not {max_pixels!r}")
    if isinstance(source, (bytes, bytearray, memoryview)):
        stream = io.BytesIO(bytes(source))
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.exists():
            raise ImageReadError(f"{label}: file not found")
        if path.is_dir():
            raise ImageReadError(f"{label}: is a folder, not an image")
        stream = path
    else:
        stream = source
    try:
        with warnings.catch_warnings():
            # Pillow warns above Image.MAX_IMAGE_PIXELS and refuses above twice that; the size check
            # below (max_pixels) is the one that decides here, before any pixel is decoded.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(stream) as im:
                width, height = im.size
                if width * height > max_pixels:
                    raise ImageReadError(
                        f"{label}: image is too large ({width}x{height} = {width * height} pixels, "
                        f"limit {max_pixels})"
                    )
                if width == 0 or height == 0:
                    raise ImageReadError(f"{label}: image is empty ({width}x{height} pixels)")
                frames = int(getattr(im, "n_frames", 1) or 1)
                if frames > 1:
                    raise ImageReadError(
                        f"{label}: is an animated image ({frames} frames), not a photo; give one frame as a "
                        "photo, or the animation as a video (e.g. MP4)"
                    )
                fmt = im.format
                icc = im.info.get("icc_profile") if im.mode in ("RGB", "RGBA", "P") else None
                im.load()
                try:
                    im = ImageOps.exif_transpose(im)
                except (ValueError, TypeError, KeyError, SyntaxError, struct.error):
                    pass  # malformed EXIF: keep the stored orientation rather than refuse the photo
                rgb, alpha = _to_rgb_alpha(im)
    except ImageReadError:
        raise
    except Image.DecompressionBombError as exc:
        numbers = re.findall(r"\d+", str(exc))
        detail = f"{numbers[0]} pixels, limit {max_pixels}" if numbers else f"limit {max_pixels} pixels"
        raise ImageReadError(f"{label}: image is too large ({detail})") from None
    except UnidentifiedImageError:
        raise ImageReadError(f"{label}: not an image (or an unsupported format)") from None
    except FileNotFoundError:
        raise ImageReadError(f"{label}: file not found") from None
    except PermissionError:
        raise ImageReadError(f"{label}: permission denied") from None
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as exc:
        reason = str(exc) or type(exc).__name__
        if "truncated" in reason or isinstance(exc, EOFError):
            raise ImageReadError(f"{label}: the image file is truncated or corrupt ({reason})") from None
        raise ImageReadError(f"{label}: cannot decode the image ({reason})") from None
    return LoadedImage(rgb=rgb, alpha=alpha, name=label, format=fmt, icc_profile=icc)


def write_image(
    path: str | os.PathLike,
    rgb: np.ndarray,
    alpha: np.ndarray | None = None,
    *,
    quality: int = 95,
    icc_profile: bytes | None = None,
    replace: bool = True,
    another_name: Callable[[Path], Path] | None = None,
) -> Path:
    """Write ``rgb`` (uint8 H x W x 3) and optional ``alpha`` (uint8 H x W) atomically.

    The format follows the suffix (.jpg/.jpeg, .png, .webp, .bmp); JPEG cannot store alpha,
    so it is dropped there.  The destination folder must exist.  Returns the path written.
    ``replace=False`` never replaces a file: a taken name gets ``another_name(path)`` instead, or
    ``FileExistsError`` without it (:func:`mr_core.atomic.publish`).
    """
    path = Path(path)
    fmt = WRITABLE_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise InvalidParameterError(
            f"{path}: cannot write this file type; use one of {', '.join(sorted(WRITABLE_SUFFIXES))}"
        )
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise InvalidParameterError(f"{path}: rgb must be uint8 H x W x 3, got {rgb.dtype} {rgb.shape}")
    if alpha is not None and fmt != "JPEG":
        alpha = np.asarray(alpha)
        if alpha.dtype != np.uint8 or alpha.shape != rgb.shape[:2]:
            raise InvalidParameterError(
                f"{path}: alpha must be uint8 {rgb.shape[:2]}, got {alpha.dtype} {alpha.shape}"
            )
        im = Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
    else:
        im = Image.fromarray(np.ascontiguousarray(rgb), "RGB")
    options: dict = {}
    if fmt in ("JPEG", "WEBP"):
        options["quality"] = int(quality)
    if fmt == "JPEG":
        options["subsampling"] = 0 if quality >= 90 else 2
    if icc_profile and fmt != "BMP":
        options["icc_profile"] = icc_profile
    # Encode fully in memory first: Pillow writes some formats straight into the file descriptor and
    # does not notice a short write (a full disk), which would leave a truncated file counted as written.
    buf = io.BytesIO()
    im.save(buf, format=fmt, **options)
    return atomic_write_bytes(
        path, buf.getvalue(), make_parents=False, replace=replace, another_name=another_name
    )
