"""The project as an installed package: a built wheel holds every package and the shipped models, and
``mr-expression synthesize --expression smile`` works from a fresh virtual environment in any folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
_SKIP = {
    ".git",
    ".venv",
    "build",
    "dist",
    "runs",
    "out",
    ".pytest_cache",
    ".ruff_cache",
    ".gradio",
    "__pycache__",
}


def _source_packages() -> set[str]:
    """Every package folder of the source tree (a folder with ``__init__.py``), as a dotted name."""
    found = set()
    for top in ("mr_core", "backends", "demo"):
        for init in (REPO / top).rglob("__init__.py"):
            if "__pycache__" not in init.parts:
                found.add(".".join(init.parent.relative_to(REPO).parts))
    return found


def test_pyproject_lists_every_package_and_the_models():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    missing = _source_packages() - listed
    assert not missing, (
        f"add these packages to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"
    )
    assert config["package-dir"]["mr_core.models"] == "models"
    assert (REPO / "models" / "smile.safetensors").is_file()


def _copy_source(dest: Path) -> Path:
    """The source tree without build outputs, so the build never writes into the checkout."""
    ignore = shutil.ignore_patterns(*_SKIP, "*.egg-info", "*.pyc")
    shutil.copytree(REPO, dest, ignore=ignore)
    return dest


def _run(cmd, cwd, env=None, timeout=600) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, f"{cmd}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.mark.slow
def test_built_wheel_installs_and_synthesizes_from_any_folder(tmp_path):
    """Build the wheel (pip, with build isolation: the setuptools pyproject.toml asks for), install it
    into a fresh venv and run the installed command on the example photo from an unrelated folder.

    The fresh venv sees the test environment's site-packages through a ``.pth`` file, so the installed
    dependencies are reused (no download) while pip still checks that the wheel's requirements are met;
    the package itself and its models come only from the wheel."""
    src = _copy_source(tmp_path / "src")
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", dist, src], cwd=tmp_path)
    (wheel,) = dist.glob("mr_expression-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for shipped in ("smile", "neutral", "smile-paper"):
        assert f"mr_core/models/{shipped}.safetensors" in names
    assert "mr_core/models/README.md" in names  # the model card travels with the models
    assert "mr_core/assets/face_landmarker.task" in names

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=tmp_path)
    py = venv / "bin" / "python"
    purelib = _run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=tmp_path)
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    Path(purelib.stdout.strip(), "test-environment.pth").write_text("\n".join(sorted(ours)) + "\n")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    _run([py, "-m", "pip", "install", "--no-index", "--no-cache-dir", wheel], cwd=tmp_path, env=env)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = _run([py, "-c", "import mr_core; print(mr_core.__file__)"], cwd=elsewhere, env=env)
    assert Path(where.stdout.strip()).is_relative_to(venv), (
        where.stdout
    )  # the installed copy, not the checkout

    import matplotlib.cbook

    photo = elsewhere / "grace_hopper.jpg"
    shutil.copyfile(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False), photo)
    exe = venv / "bin" / "mr-expression"
    proc = _run([exe, "synthesize", "--expression", "smile", "-o", "out", photo.name], cwd=elsewhere, env=env)
    out = elsewhere / "out" / photo.name
    assert out.is_file(), proc.stdout + proc.stderr
    before = np.asarray(Image.open(photo).convert("RGB"), dtype=np.int16)
    after = np.asarray(Image.open(out).convert("RGB"), dtype=np.int16)
    assert after.shape == before.shape
    changed = np.abs(after - before).max(axis=-1) > 8
    assert 0.002 < changed.mean() < 0.2  # the face changed, the rest of the photo did not
