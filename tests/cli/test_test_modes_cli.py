"""``test`` and ``test_inthewild`` with the shipped mesh + MR models, not only the paper's MR."""

from __future__ import annotations

import shutil

import pytest
from conftest import run_cli

from mr_core.core.modelfile import MODELS_DIR


@pytest.mark.parametrize("model", ["smile", "neutral"])
def test_test_modes_take_every_shipped_model(tmp_path, london, model):
    src, tgt = tmp_path / "a", tmp_path / "b"
    src.mkdir()
    tgt.mkdir()
    names = sorted(p.name for p in (london / "neutral").glob("*.jpg"))[-2:]
    for n in names:
        shutil.copy(london / "neutral" / n, src / n)
        shutil.copy(london / "smiling" / n, tgt / n)
    path = MODELS_DIR / f"{model}.safetensors"
    proc = run_cli(
        "test", "--model", path, "--source-dir", src, "--target-dir", tgt, "--resize",
        "--test_results_dir", tmp_path / "paired",
    )  # fmt: skip
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "(2 pairs; strips input|output|target in" in proc.stdout
    assert sorted(p.name for p in (tmp_path / "paired").iterdir()) == [f"{n[:-4]}_test.png" for n in names]
    proc = run_cli(
        "test_inthewild", "--model", path, "--inthewild_dataset_dir", src, "--resize",
        "--inthewild_results_dir", tmp_path / "wild",
    )  # fmt: skip
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "wrote 2 input|output strip(s)" in proc.stdout
