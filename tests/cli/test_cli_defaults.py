"""What the CLI does without being told: train's method, synthesize on folders of folders."""

from __future__ import annotations

import shutil

from conftest import run_cli

from demo.examples import grace_hopper_path
from mr_core.methods import load_model


def test_train_on_photos_it_aligns_fits_what_ships(tmp_path, london):
    a, b = tmp_path / "neutral", tmp_path / "smiling"
    a.mkdir()
    b.mkdir()
    for n in sorted(p.name for p in (london / "neutral").glob("*.jpg"))[:4]:
        shutil.copy(london / "neutral" / n, a / n)
        shutil.copy(london / "smiling" / n, b / n)
    out = tmp_path / "m.safetensors"
    proc = run_cli("train", "--align", "--source-dir", a, "--target-dir", b, "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert "(mesh-mr)" in proc.stdout and type(load_model(out)).__name__ == "MeshRegressionModel"
    help_text = run_cli("train", "--help").stdout
    assert "the default with --align" in " ".join(help_text.split())


def test_synthesize_recursive_takes_subfolders_and_keeps_them(tmp_path):
    inputs = tmp_path / "album"
    (inputs / "2024" / "june").mkdir(parents=True)
    (inputs / ".hidden").mkdir()
    shutil.copy(grace_hopper_path(), inputs / "2024" / "june" / "hopper.jpg")
    shutil.copy(grace_hopper_path(), inputs / "2024" / "hopper.jpg")
    shutil.copy(grace_hopper_path(), inputs / ".hidden" / "skip.jpg")
    out = tmp_path / "out"
    proc = run_cli("synthesize", "--expression", "smile", "--quiet", "-o", out, inputs)
    assert proc.returncode == 2 and "add --recursive" in proc.stderr, proc.stderr
    proc = run_cli("synthesize", "--expression", "smile", "--quiet", "--recursive", "-o", out, inputs)
    assert proc.returncode == 0, proc.stderr
    assert "wrote 2 of 2 input(s)" in proc.stdout
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.jpg")) == [
        "2024/hopper.jpg",
        "2024/june/hopper.jpg",
    ]
