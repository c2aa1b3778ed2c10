"""Reading and writing photos: formats, modes, EXIF orientation, bad inputs (no data needed)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from mr_core.errors import ImageReadError, InvalidParameterError
from mr_core.imageio import DEFAULT_MAX_PIXELS, LoadedImage, read_image, write_image


def _gradient(h=24, w=32) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.dstack([x * 255 // (w - 1), y * 255 // (h - 1), (x + y) % 256]).astype(np.uint8)


def _png_bytes(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def _png_with_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` (a decompression bomb's header)."""
    data = bytearray(_png_bytes(Image.new("1", (8, 8))))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return bytes(data)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".webp", ".jpg"])
def test_round_trip(tmp_path, suffix):
    rgb = _gradient()
    path = write_image(tmp_path / f"a{suffix}", rgb)
    img = read_image(path)
    assert isinstance(img, LoadedImage)
    assert img.rgb.shape == rgb.shape and img.rgb.dtype == np.uint8
    assert img.alpha is None
    assert img.name == str(path)
    tol = 0 if suffix in (".png", ".bmp") else 12
    assert np.abs(img.rgb.astype(int) - rgb).mean() <= tol
    assert [p.name for p in tmp_path.iterdir()] == [f"a{suffix}"]  # no temporary file left


@pytest.mark.parametrize("suffix", [".png", ".webp"])
def test_alpha_is_kept(tmp_path, suffix):
    rgb = _gradient()
    alpha = np.tile(np.arange(32, dtype=np.uint8) * 8, (24, 1))
    img = read_image(write_image(tmp_path / f"a{suffix}", rgb, alpha))
    assert img.alpha is not None and img.alpha.shape == (24, 32)
    if suffix == ".png":
        assert np.array_equal(img.alpha, alpha) and np.array_equal(img.rgb, rgb)


def test_jpeg_drops_alpha(tmp_path):
    img = read_image(write_image(tmp_path / "a.jpg", _gradient(), np.zeros((24, 32), np.uint8)))
    assert img.alpha is None


def test_modes_become_rgb():
    gray = Image.fromarray(np.arange(256, dtype=np.uint8).reshape(16, 16), "L")
    img = read_image(_png_bytes(gray))
    assert img.rgb.shape == (16, 16, 3)
    assert np.array_equal(img.rgb[..., 0], np.asarray(gray)) and np.array_equal(img.rgb[..., 1], img.rgb[..., 2])

    la = Image.merge("LA", [gray, gray])
    assert read_image(_png_bytes(la)).alpha is not None

    pal = Image.fromarray(_gradient()).convert("P")
    pal.info["transparency"] = 0
    assert read_image(_png_bytes(pal)).alpha is not None
    assert read_image(_png_bytes(Image.fromarray(_gradient()).convert("P"))).alpha is None

    buf = io.BytesIO()
    Image.fromarray(_gradient()).convert("CMYK").save(buf, format="JPEG")
    assert read_image(buf.getvalue()).rgb.shape == (24, 32, 3)


def test_sixteen_bit_grayscale_is_scaled():
    values = np.array([[0, 257 * 100, 65535, 257 * 7]], dtype=np.uint16)
    im = Image.fromarray(values)
    assert im.mode.startswith("I")
    img = read_image(_png_bytes(im))
    assert img.rgb[0, :, 0].tolist() == [0, 100, 255, 7]


def test_exif_orientation_is_applied(tmp_path):
    rgb = np.zeros((20, 40, 3), np.uint8)
    rgb[:, :20] = (255, 0, 0)  # red left half, blue right half
    rgb[:, 20:] = (0, 0, 255)
    im = Image.fromarray(rgb)
    exif = Image.Exif()
    exif[0x0112] = 6  # stored image must be rotated 90 degrees clockwise to display
    path = tmp_path / "rot.jpg"
    im.save(path, exif=exif.tobytes(), quality=95)
    img = read_image(path)
    assert img.rgb.shape == (40, 20, 3)
    assert img.rgb[5, 10, 0] > 200 and img.rgb[35, 10, 2] > 200  # red now on top, blue at the bottom


def test_sources_bytes_and_file_object(tmp_path):
    data = _png_bytes(Image.fromarray(_gradient()))
    assert read_image(data).name == "<image bytes>"
    assert read_image(io.BytesIO(data), name="upload.png").name == "upload.png"
    with open(write_image(tmp_path / "f.png", _gradient()), "rb") as fh:
        assert read_image(fh).rgb.shape == (24, 32, 3)


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"this is not an image", "not an image"),
        (b"", "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 20, "not an image"),
    ],
)
def test_not_an_image(tmp_path, content, reason):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageReadError, match=reason) as info:
        read_image(path)
    assert str(path) in str(info.value)


def test_truncated(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(buf, "JPEG")
    path = tmp_path / "cut.jpg"
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageReadError, match="truncated") as info:
        read_image(path)
    assert "cut.jpg" in str(info.value)


def test_missing_and_folder(tmp_path):
    with pytest.raises(ImageReadError, match="file not found"):
        read_image(tmp_path / "nope.png")
    with pytest.raises(ImageReadError, match="folder"):
        read_image(tmp_path)


@pytest.mark.parametrize("size", [(20_000, 20_000), (12_000, 12_000)])
def test_decompression_bomb_is_refused(tmp_path, size):
    path = tmp_path / "bomb.png"
    path.write_bytes(_png_with_size(*size))
    with pytest.raises(ImageReadError, match="too large") as info:
        read_image(path)
    assert "bomb.png" in str(info.value) and f"limit {DEFAULT_MAX_PIXELS})" in str(info.value)


def test_max_pixels_parameter():
    data = _png_bytes(Image.fromarray(_gradient()))
    with pytest.raises(ImageReadError, match=r"too large \(32x24 = 768 pixels, limit 500\)"):
        read_image(data, max_pixels=500)
    with pytest.raises(InvalidParameterError):
        read_image(data, max_pixels=0)


def test_write_refuses_unknown_suffix_and_bad_arrays(tmp_path):
    with pytest.raises(InvalidParameterError, match="cannot write"):
        write_image(tmp_path / "a.gifx", _gradient())
    with pytest.raises(InvalidParameterError):
        write_image(tmp_path / "a.png", _gradient().astype(np.float32))
    assert list(tmp_path.iterdir()) == []


def test_write_replaces_atomically(tmp_path):
    path = tmp_path / "a.png"
    write_image(path, _gradient())
    write_image(path, 255 - _gradient())
    assert np.array_equal(read_image(path).rgb, 255 - _gradient())
    assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


_FULL_DISK_SCRIPT = r"""
import resource, signal, sys
import numpy as np
from mr_core.imageio import write_image
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[2]), resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
rng = np.random.default_rng(0)
try:
    write_image(sys.argv[1], rng.integers(0, 256, (80, 80, 3), dtype=np.uint8))
except OSError as exc:
    print("failed", exc.errno)
else:
    print("written")
"""


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".bmp"])
def test_a_full_disk_fails_the_write_and_leaves_nothing(tmp_path, suffix):
    """A write cut short (here by a file size limit, as on a full disk) raises and leaves no file."""
    import subprocess
    import sys

    target = tmp_path / f"out{suffix}"
    proc = subprocess.run(
        [sys.executable, "-c", _FULL_DISK_SCRIPT, str(target), "4096"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.stdout.startswith("failed"), proc.stdout + proc.stderr
    assert list(tmp_path.iterdir()) == []
