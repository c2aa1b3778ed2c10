"""Example photos that may be redistributed, made from images the installed packages ship.

The portrait of Grace Hopper in matplotlib's sample data is a U.S. Navy photograph in the public
domain.  The examples are that photo and two variants made from it at start-up (tilted and
small in a wide frame, like a webcam shot; mirrored in black and white), all written to the
system's temporary folder, from where the web server may serve them.  Nothing is downloaded.
"""

from __future__ import annotations

import io
import logging
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from mr_core.atomic import atomic_write_bytes

__all__ = ["example_photos", "grace_hopper_path"]

log = logging.getLogger("demo")


def grace_hopper_path() -> Path | None:
    """Path of matplotlib's ``grace_hopper.jpg`` sample image, or None without matplotlib."""
    try:
        import matplotlib
    except ImportError:
        return None
    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return path if path.is_file() else None


def _tilted_in_frame(im: Image.Image) -> Image.Image:
    """The portrait rotated 12 degrees, at 70 % size, left of centre in a 4:3 frame with a soft backdrop."""
    w, h = 960, 720
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    backdrop = np.stack(
        [170 + 40 * xx / w, 180 + 20 * yy / h, 190 - 30 * xx / w],
        axis=-1,
    )
    frame = Image.fromarray(backdrop.clip(0, 255).astype(np.uint8), "RGB")
    small = im.resize((round(im.width * 0.7), round(im.height * 0.7)), Image.Resampling.LANCZOS)
    rotated = small.convert("RGBA").rotate(12, resample=Image.Resampling.BICUBIC, expand=True)
    frame.paste(rotated, (90, (h - rotated.height) // 2), rotated)
    return frame


def _mirrored_gray(im: Image.Image) -> Image.Image:
    return ImageOps.mirror(ImageOps.grayscale(im))


def example_photos(folder: str | Path | None = None) -> list[Path]:
    """Paths of the example photos (made once per folder); empty when the source image is missing."""
    src = grace_hopper_path()
    if src is None:
        return []
    folder = Path(folder) if folder is not None else Path(tempfile.gettempdir()) / "mr-expression-examples"
    makers = (
        ("grace_hopper.jpg", None),
        ("grace_hopper_tilted.jpg", _tilted_in_frame),
        ("grace_hopper_bw.jpg", _mirrored_gray),
    )
    paths = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with Image.open(src) as im:
            im = im.convert("RGB")
            for name, make in makers:
                path = folder / name
                if not path.is_file():
                    # Written atomically: a parallel start never sees half a file.
                    if make is None:
                        data = Path(src).read_bytes()
                    else:
                        buf = io.BytesIO()
                        make(im).save(buf, format="JPEG", quality=92)
                        data = buf.getvalue()
                    atomic_write_bytes(path, data, make_parents=False)
                paths.append(path)
    except OSError as exc:  # the demo works without examples
        log.warning("cannot write the example photos to %s: %s", folder, exc)
    return paths
