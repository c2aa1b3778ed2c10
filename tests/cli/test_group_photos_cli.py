"""``synthesize`` on group photos: small faces and many of them are found, and the CLI says how many."""

from __future__ import annotations

import cv2
import numpy as np
from conftest import run_cli
from PIL import Image

from demo.examples import grace_hopper_path


def grid(n: int, side: int = 400) -> np.ndarray:
    """``n`` x ``n`` copies of the public-domain portrait's face, ``side`` pixels each."""
    rgb = np.asarray(Image.open(grace_hopper_path()).convert("RGB"))
    face = cv2.resize(rgb[40:560, 0:512], (side, side), interpolation=cv2.INTER_AREA)
    return np.tile(face, (n, n, 1))


def test_every_face_of_a_group_photo_is_found_and_counted(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(grid(4)).save(inputs / "sixteen.png")
    Image.fromarray(grid(10)).save(inputs / "hundred.jpg", quality=92)
    out = tmp_path / "out"
    proc = run_cli("synthesize", "--expression", "smile", "--quiet", "-o", out, inputs)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert f"{inputs / 'sixteen.png'}: 16 faces changed of 16 found" in proc.stderr, proc.stderr
    assert f"{inputs / 'hundred.jpg'}: 100 faces changed of 100 found" in proc.stderr, proc.stderr
    assert "wrote 2 of 2 input(s)" in proc.stdout and "(116 faces changed in the photos)" in proc.stdout
    # each face of the grid changed, in place
    before = grid(4).astype(np.int16)
    after = np.asarray(Image.open(out / "sixteen.png").convert("RGB")).astype(np.int16)
    change = np.abs(after - before).max(axis=2)
    tiles = [change[y : y + 400, x : x + 400] for y in range(0, 1600, 400) for x in range(0, 1600, 400)]
    assert min(float((t > 8).mean()) for t in tiles) > 0.01, [round(float((t > 8).mean()), 3) for t in tiles]
