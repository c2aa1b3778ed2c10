"""Examples that may be redistributed: photos and a clip made from an image an installed package ships,
and the Train tab's sample pairs shipped in ``examples/pairs/``.

The portrait of Grace Hopper in matplotlib's sample data is a U.S. Navy photograph in the public
domain.  The examples are that photo and two variants made from it at start-up (tilted and
small in a wide frame, like a webcam shot; mirrored in black and white), and a 3-second clip of it
drifting and zooming over a backdrop, all written to the system's temporary folder, from where the
web server may serve them.  Nothing is downloaded.  The pairs are six people of the Face Research Lab
London Set (CC BY 4.0, credited in ``examples/pairs/CREDIT.md``).
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image, ImageOps

from mr_core.atomic import atomic_write_bytes

__all__ = [
    "PAIRS_DIR",
    "example_clip",
    "example_pairs",
    "example_photos",
    "example_url",
    "examples_folder",
    "public_url",
    "grace_hopper_path",
]

#: The Train tab's sample pairs: ``neutral/NNN.jpg`` and ``smiling/NNN.jpg``.
PAIRS_DIR = Path(__file__).resolve().parent / "examples" / "pairs"

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


def examples_folder() -> Path:
    """Where the made examples are written (the system's temporary folder)."""
    return Path(tempfile.gettempdir()) / "mr-expression-examples"


def example_pairs() -> tuple[list[Path], list[Path]]:
    """The shipped sample pairs: (neutral photos, smiling photos), paired by file name."""
    before = sorted((PAIRS_DIR / "neutral").glob("*.jpg"))
    after = [PAIRS_DIR / "smiling" / p.name for p in before]
    kept = [(b, a) for b, a in zip(before, after, strict=True) if a.is_file()]
    return [b for b, _ in kept], [a for _, a in kept]


def _clip_frames(face: np.ndarray, n: int, size: tuple[int, int]):
    """The portrait drifting sideways and zooming in slowly over a soft backdrop (RGB uint8 frames)."""
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    backdrop = np.stack([150 + 50 * xx / w, 165 + 25 * yy / h, 185 - 35 * xx / w], axis=-1)
    fh, fw = face.shape[:2]
    ones = np.ones((fh, fw), np.float32)
    for i in range(n):
        t = i / max(n - 1, 1)
        s = 0.9 * h / fh * (1.0 + 0.12 * t)
        m = np.array(
            [[s, 0, (w - fw * s) / 2 + 30.0 * np.sin(2 * np.pi * t)], [0, s, (h - fh * s) / 2 + 6.0 * t]]
        )
        warped = cv2.warpAffine(face, m, (w, h), flags=cv2.INTER_LINEAR).astype(np.float32)
        inside = cv2.warpAffine(ones, m, (w, h), flags=cv2.INTER_LINEAR)[..., None]
        yield np.clip(np.rint(backdrop * (1 - inside) + warped * inside), 0, 255).astype(np.uint8)


def example_clip(folder: str | Path | None = None, seconds: float = 3.0, fps: int = 15) -> Path | None:
    """Path of the example clip (an H.264 MP4 made once per folder from the portrait); ``None`` when
    the portrait is missing or the clip cannot be written."""
    src = grace_hopper_path()
    if src is None:
        return None
    folder = Path(folder) if folder is not None else examples_folder()
    path = folder / "grace_hopper_clip.mp4"
    if path.is_file():
        return path
    partial = folder / f".grace_hopper_clip-{os.getpid()}.mp4"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with Image.open(src) as im:
            face = np.asarray(im.convert("RGB"))
        with av.open(str(partial), "w") as out:
            stream = out.add_stream("libx264", rate=Fraction(fps))
            stream.width, stream.height, stream.pix_fmt = 480, 360, "yuv420p"
            stream.options = {"crf": "23", "preset": "veryfast"}
            for rgb in _clip_frames(face, round(seconds * fps), (480, 360)):
                out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
            out.mux(stream.encode(None))
        os.replace(partial, path)  # whole or not at all: a parallel start never sees half a clip
    except (OSError, av.FFmpegError) as exc:  # the demo works without examples
        partial.unlink(missing_ok=True)
        log.warning("cannot write the example clip to %s: %s", folder, exc)
        return None
    return path


def example_photos(folder: str | Path | None = None) -> list[Path]:
    """Paths of the example photos (made once per folder); empty when the source image is missing."""
    src = grace_hopper_path()
    if src is None:
        return []
    folder = Path(folder) if folder is not None else examples_folder()
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


def public_url() -> str:
    """This server's public address: ``$MR_PUBLIC_URL``; on a Hugging Face Space ``https://$SPACE_HOST``;
    else the local address Gradio serves on (``$GRADIO_SERVER_NAME``/``$GRADIO_SERVER_PORT``, default
    http://127.0.0.1:7860)."""
    if os.environ.get("MR_PUBLIC_URL"):
        return os.environ["MR_PUBLIC_URL"].rstrip("/")
    if os.environ.get("SPACE_HOST"):
        return f"https://{os.environ['SPACE_HOST']}"
    host = os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://{host}:{os.environ.get('GRADIO_SERVER_PORT') or 7860}"


def example_url(path: Path) -> str:
    """The address at which this app's server offers the example file ``path`` (the API page's example
    calls use it): :func:`public_url` followed by Gradio's file route."""
    return f"{public_url()}/gradio_api/file={Path(path).resolve()}"
