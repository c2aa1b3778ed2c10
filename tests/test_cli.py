"""The train/test/test_inthewild commands, through the real command line."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import REPO, run_cli, smooth_faces, write_images
from PIL import Image

from mr_core import MaskedRegression, load_model
from mr_core.data import scale_image, to_gray


@pytest.fixture
def seed_dataset(tmp_path):
    """The original layout: train/trainA + trainB and test/testA + testB with <name>_<N>.png files."""
    src, tgt = smooth_faces(12, (24, 20))
    root = tmp_path / "dataset"
    write_images(root / "train" / "trainA", src[:9], [f"neutral_{i}.png" for i in range(1, 10)])
    write_images(root / "train" / "trainB", tgt[:9], [f"happy_{i}.png" for i in range(1, 10)])
    write_images(root / "test" / "testA", src[9:], [f"neutral_{i}.png" for i in range(1, 4)])
    write_images(root / "test" / "testB", tgt[9:], [f"happy_{i}.png" for i in range(1, 4)])
    return root, src, tgt


def _one_line_error(proc, *fragments):
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) >= 1
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr


def test_original_usage_train_test_and_inthewild(seed_dataset, tmp_path):
    root, src, tgt = seed_dataset
    weights = tmp_path / "Exp" / "weights"
    proc = run_cli(
        "--mode", "train", "--train_dataset_dir", f"{root / 'train'}/", "--image_size", 24,
        "--total_images", 200, "--input_ch", 1, "--receptive_field", 3, "--lamda", 0.4,
        "--weights_dir", f"{weights}/", "--resize",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "on 9 pairs of 24x24x1" in proc.stdout and "rf 3, lam 0.4" in proc.stdout
    model = load_model(weights / "mr_model.safetensors")
    assert (model.receptive_field, model.lam, model.channels_, model.n_pairs_) == (3, 0.4, 1, 9)

    # The CLI's model equals the library's fit on the same (resized, gray, /255) pairs.
    def prep(img):
        return scale_image(to_gray(np.asarray(Image.fromarray(img).resize((24, 24), Image.LANCZOS))), "unit")

    ref = MaskedRegression(3, 0.4).fit(np.stack([prep(i) for i in src[:9]]), np.stack([prep(i) for i in tgt[:9]]))
    np.testing.assert_allclose(model.weights_, ref.weights_, atol=1e-6)

    results = tmp_path / "test_results"
    proc = run_cli(
        "--mode", "test", "--test_dataset_dir", root / "test", "--image_size", 24, "--input_ch", 1,
        "--weights_dir", weights, "--test_results_dir", results, "--resize",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["image", "PSNR", "dB", "SSIM"]
    assert [line.split()[0] for line in lines[1:4]] == ["neutral_1.png", "neutral_2.png", "neutral_3.png"]
    assert lines[4].startswith("mean")
    psnrs = [float(line.split()[1]) for line in lines[1:4]]
    assert all(10 < p < 80 for p in psnrs)
    strip = np.asarray(Image.open(results / "neutral_1_test.png"))
    assert strip.shape == (24, 72, 3)
    # The strip shows input | output | target: the first panel is the input, not the target.
    expected_input = to_gray(np.asarray(Image.fromarray(src[9]).resize((24, 24), Image.LANCZOS)))[..., 0]
    np.testing.assert_array_equal(strip[:, :24, 0], expected_input)
    assert not np.array_equal(strip[:, :24], strip[:, 48:])

    # test_inthewild, also with the flag the original README used by mistake.
    wild = tmp_path / "wild"
    for flag in ("--inthewild_dataset_dir", "--test_dataset_dir"):
        proc = run_cli(
            "--mode", "test_inthewild", flag, root / "test" / "testA", "--weights_dir", weights,
            "--inthewild_results_dir", wild, "--resize",
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        assert sorted(p.name for p in wild.iterdir()) == [f"neutral_{i}_test_inthewild.png" for i in (1, 2, 3)]


def test_pairing_by_file_name_any_format_and_minmax(tmp_path):
    src, tgt = smooth_faces(6, (16, 16), seed=3)
    names = [f"{i:03d}" for i in range(6)]
    write_images(tmp_path / "neutral", src, [f"{n}.jpg" for n in names])
    write_images(tmp_path / "smiling", tgt, [f"{n}.png" for n in names])
    out = tmp_path / "m.safetensors"
    proc = run_cli(
        "train", "--source-dir", tmp_path / "neutral", "--target-dir", tmp_path / "smiling", "-o", out,
        "--scaling", "minmax", "--receptive_field", 5, "--lamda", 0.1,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    m = load_model(out)
    assert (m.source, m.target, m.scaling, m.receptive_field, m.channels_) == ("neutral", "smiling", "minmax", 5, 3)


@pytest.mark.parametrize(
    ("setup", "args", "fragments"),
    [
        ("none", ["--train_dataset_dir", "{tmp}/missing"], ["missing: dataset folder not found"]),
        ("unpaired", ["--source-dir", "{tmp}/a", "--target-dir", "{tmp}/b"], ["unpaired", "extra.png"]),
        ("sizes", ["--source-dir", "{tmp}/a", "--target-dir", "{tmp}/b"], ["odd.png", "same size"]),
        ("unreadable", ["--source-dir", "{tmp}/a", "--target-dir", "{tmp}/b"], ["bad.png", "no model written"]),
        ("empty", ["--source-dir", "{tmp}/a", "--target-dir", "{tmp}/b"], ["no images found"]),
        ("ok", ["--source-dir", "{tmp}/a", "--target-dir", "{tmp}/b", "--receptive_field", "4"], ["odd integer"]),
        ("ok", ["--source-dir", "{tmp}/a", "--target-dir", "{tmp}/b", "--receptive_field", "0"], ["odd integer"]),
        ("ok", ["--source-dir", "{tmp}/a", "--target-dir", "{tmp}/b", "--lamda", "0"], ["number > 0"]),
        ("ok", ["--source-dir", "{tmp}/a", "--target-dir", "{tmp}/b", "--lamda", "-2"], ["number > 0"]),
        ("ok", ["--source-dir", "{tmp}/a"], ["--source-dir and --target-dir go together"]),
        ("ok", ["--source-dir", "{tmp}/a", "--target-dir", "{tmp}/b", "--backend", "tpu"], ["unknown backend"]),
    ],
)
def test_bad_training_input_is_one_clear_line(tmp_path, setup, args, fragments):
    src, tgt = smooth_faces(4, (16, 16))
    if setup != "none":
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
    if setup in ("ok", "unpaired", "sizes", "unreadable"):
        write_images(tmp_path / "a", src, [f"{i}.png" for i in range(4)])
        write_images(tmp_path / "b", tgt, [f"{i}.png" for i in range(4)])
    if setup == "unpaired":
        write_images(tmp_path / "a", src[:1], ["extra.png"])
    if setup == "sizes":
        write_images(tmp_path / "a", [np.zeros((20, 16, 3), np.uint8)], ["odd.png"])
        write_images(tmp_path / "b", [np.zeros((20, 16, 3), np.uint8)], ["odd.png"])
    if setup == "unreadable":
        (tmp_path / "a" / "bad.png").write_bytes(b"this is not a png")
        write_images(tmp_path / "b", tgt[:1], ["bad.png"])
    out = tmp_path / "model.safetensors"
    proc = run_cli("train", *[a.format(tmp=tmp_path) for a in args], "-o", out)
    _one_line_error(proc, *fragments)
    assert not out.exists()


def test_test_reports_a_bad_image_and_goes_on(seed_dataset, tmp_path):
    root, _, _ = seed_dataset
    weights = tmp_path / "w"
    assert run_cli("train", "--train_dataset_dir", root / "train", "--weights_dir", weights).returncode == 0
    (root / "test" / "testA" / "neutral_3.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    proc = run_cli(
        "test", "--test_dataset_dir", root / "test", "--weights_dir", weights, "--test_results_dir", tmp_path / "r"
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "neutral_3.png" in proc.stderr
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["neutral_1_test.png", "neutral_2_test.png"]


def test_test_refuses_a_corrupt_model(seed_dataset, tmp_path):
    root, _, _ = seed_dataset
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    proc = run_cli("test", "--test_dataset_dir", root / "test", "--model", bad)
    _one_line_error(proc, "bad.safetensors", "not a model file")


def test_cli_runs_from_the_repository_root():
    proc = run_cli("--help", cwd=REPO)
    assert proc.returncode == 0 and "train" in proc.stdout
