from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
LONDON = DATA / "london"


def run_cli(*args, cwd=REPO, timeout=600) -> subprocess.CompletedProcess:
    """Run ``python -m mr_core ARGS`` as a user would; returns the completed process (text mode)."""
    return subprocess.run(
        [sys.executable, "-m", "mr_core", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def london() -> Path:
    if not (LONDON / "neutral").is_dir():
        pytest.skip("the London face set is not here (../shared/data/london)")
    return LONDON


def smooth_faces(n: int, size=(32, 32), seed=0) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic uint8 source/target image pairs with local structure (for tests without data)."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    src, tgt = [], []
    for _ in range(n):
        phase = rng.random(3) * 6
        base = 0.5 + 0.3 * np.sin(6 * xx[..., None] + phase) * np.cos(5 * yy[..., None] + phase[::-1])
        smile = 0.15 * np.exp(-(((yy - 0.7) / 0.08) ** 2)) * np.sin(12 * xx) ** 2
        src.append(base)
        tgt.append(np.clip(base + smile[..., None], 0, 1))
    to8 = lambda a: (np.clip(np.stack(a), 0, 1) * 255).round().astype(np.uint8)  # noqa: E731
    return to8(src), to8(tgt)


def write_images(folder: Path, images: np.ndarray, names) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for img, name in zip(images, names, strict=True):
        path = folder / name
        Image.fromarray(img).save(path)
        paths.append(path)
    return paths
