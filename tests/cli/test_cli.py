"""The train/test/test_inthewild commands, through the real command line."""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import REPO, run_cli, smooth_faces, write_images
from PIL import Image

from mr_core import MaskedRegression, load_model
from mr_core import cli as mr_cli
from mr_core.data import CropLoader, iter_pair_chunks, pair_by_name, scale_image, to_gray


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
    """A refusal that is one sentence: exactly one line on stderr, naming every fragment."""
    assert proc.returncode != 0, proc.stdout
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "error: " in lines[0], proc.stderr
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


@pytest.fixture
def pair_dirs(tmp_path):
    """Folders a/ and b/ of four 16x16 pairs named 0..3.png."""
    src, tgt = smooth_faces(4, (16, 16))
    write_images(tmp_path / "a", src, [f"{i}.png" for i in range(4)])
    write_images(tmp_path / "b", tgt, [f"{i}.png" for i in range(4)])
    return tmp_path / "a", tmp_path / "b"


@pytest.fixture
def trained(pair_dirs, tmp_path):
    """A unit-scaled 16x16 model trained on ``pair_dirs``."""
    a, b = pair_dirs
    model = tmp_path / "m" / "model.safetensors"
    assert run_cli("train", "--source-dir", a, "--target-dir", b, "-o", model).returncode == 0
    return model


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

    ref = MaskedRegression(3, 0.4).fit(
        np.stack([prep(i) for i in src[:9]]), np.stack([prep(i) for i in tgt[:9]])
    )
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
        assert sorted(p.name for p in wild.iterdir()) == [
            f"neutral_{i}_test_inthewild.png" for i in (1, 2, 3)
        ]


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
    assert (m.source, m.target, m.scaling, m.receptive_field, m.channels_) == (
        "neutral",
        "smiling",
        "minmax",
        5,
        3,
    )


@pytest.mark.parametrize(
    ("setup", "args", "fragments"),
    [
        ("none", ["--train_dataset_dir", "{tmp}/missing"], ["missing: dataset folder not found"]),
        ("unpaired", ["--source-dir", "{tmp}/a", "--target-dir", "{tmp}/b"], ["unpaired", "extra.png"]),
        ("empty", ["--source-dir", "{tmp}/a", "--target-dir", "{tmp}/b"], ["no images found"]),
        (
            "ok",
            ["--source-dir", "{tmp}/a", "--target-dir", "{tmp}/b", "--receptive_field", "4"],
            ["odd integer"],
        ),
        (
            "ok",
            ["--source-dir", "{tmp}/a", "--target-dir", "{tmp}/b", "--receptive_field", "0"],
            ["odd integer"],
        ),
        ("ok", ["--source-dir", "{tmp}/a", "--target-dir", "{tmp}/b", "--lamda", "0"], ["number > 0"]),
        ("ok", ["--source-dir", "{tmp}/a", "--target-dir", "{tmp}/b", "--lamda", "-2"], ["number > 0"]),
        ("ok", ["--source-dir", "{tmp}/a"], ["--source-dir and --target-dir go together"]),
        (
            "ok",
            ["--source-dir", "{tmp}/a", "--target-dir", "{tmp}/b", "--backend", "tpu"],
            ["unknown backend"],
        ),
    ],
)
def test_bad_training_input_is_one_clear_line(tmp_path, setup, args, fragments):
    src, tgt = smooth_faces(4, (16, 16))
    if setup != "none":
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
    if setup in ("ok", "unpaired"):
        write_images(tmp_path / "a", src, [f"{i}.png" for i in range(4)])
        write_images(tmp_path / "b", tgt, [f"{i}.png" for i in range(4)])
    if setup == "unpaired":
        write_images(tmp_path / "a", src[:1], ["extra.png"])
    out = tmp_path / "model.safetensors"
    proc = run_cli("train", *[a.format(tmp=tmp_path) for a in args], "-o", out)
    _one_line_error(proc, *fragments)
    assert not out.exists()


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        (["bad.png"], "not an image"),
        (["0.png", "2.png"], "not an image"),  # the first file of the folder is corrupt
        (["odd.png"], "same size"),
    ],
)
def test_bad_training_images_are_listed_one_per_line_then_one_error(pair_dirs, tmp_path, bad, reason):
    a, b = pair_dirs
    for name in bad:
        if name == "odd.png":
            write_images(a, [np.zeros((20, 16, 3), np.uint8)], [name])
            write_images(b, [np.zeros((16, 16, 3), np.uint8)], [name])
        else:
            (a / name).write_bytes(b"this is not a png")
            if not (b / name).exists():
                write_images(b, [np.zeros((16, 16, 3), np.uint8)], [name])
    out = tmp_path / "model.safetensors"
    proc = run_cli("train", "--source-dir", a, "--target-dir", b, "-o", out)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = _lines(proc.stderr)
    assert lines[:-1] == [f"{a / name}: {lines[i].split(': ', 1)[1]}" for i, name in enumerate(bad)]
    assert all(reason in line for line in lines[:-1])
    assert lines[-1] == f"error: {len(bad)} image(s) could not be used (listed above); no model written"
    assert not out.exists()


def test_pair_chunks_take_the_size_from_the_first_readable_image_and_read_each_once(pair_dirs):
    a, b = pair_dirs
    (a / "0.png").write_bytes(b"corrupt")
    reads = []

    def prepare(rgb, path):
        reads.append(path.name)
        return rgb

    loader = CropLoader(prepare=prepare)
    chunks = list(iter_pair_chunks(pair_by_name(a, b), loader, chunk_size=2, workers=2))
    assert loader.size == (16, 16)
    assert [len(c[2]) for c in chunks] == [1, 2]
    assert [f.path for c in chunks for f in c[3]] == [a / "0.png"]
    assert sorted(reads) == sorted(["0.png", "1.png", "1.png", "2.png", "2.png", "3.png", "3.png"])


def test_test_reports_a_bad_image_and_goes_on(seed_dataset, tmp_path):
    root, _, _ = seed_dataset
    weights = tmp_path / "w"
    assert run_cli("train", "--train_dataset_dir", root / "train", "--weights_dir", weights).returncode == 0
    (root / "test" / "testA" / "neutral_3.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    proc = run_cli(
        "test",
        "--test_dataset_dir",
        root / "test",
        "--weights_dir",
        weights,
        "--test_results_dir",
        tmp_path / "r",
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


# ------------------------------------------------------------------------------------ writing results
def test_train_output_that_cannot_be_written_is_one_sentence(pair_dirs, tmp_path):
    a, b = pair_dirs
    folder = tmp_path / "existing"
    folder.mkdir()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for out, fragment in [
        (folder, "is a folder; give a model file name"),
        (blocker / "x.safetensors", f"{blocker} is a file, not a folder"),
    ]:
        proc = run_cli("train", "--source-dir", a, "--target-dir", b, "-o", out)
        _one_line_error(proc, str(out), fragment)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a", "b", "existing", "file"]


def test_train_output_in_an_unwritable_place(pair_dirs, tmp_path, monkeypatch, capsys):
    import mr_core.core.modelfile

    def refuse(path, data):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(mr_core.core.modelfile, "atomic_write_bytes", refuse)
    a, b = pair_dirs
    out = tmp_path / "locked" / "m.safetensors"
    assert mr_cli.main(["train", "--source-dir", str(a), "--target-dir", str(b), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert _lines(err) == [f"error: {out}: cannot write the model file (Permission denied)"]


def test_test_and_inthewild_result_folders_that_cannot_be_made(pair_dirs, trained, tmp_path):
    a, b = pair_dirs
    blocker = tmp_path / "file"
    blocker.write_text("x")
    proc = run_cli(
        "test", "--source-dir", a, "--target-dir", b, "--model", trained, "--test_results_dir", blocker
    )
    _one_line_error(proc, f"{blocker}: the results folder is a file, not a folder")
    proc = run_cli(
        "test_inthewild",
        "--inthewild_dataset_dir",
        a,
        "--model",
        trained,
        "--inthewild_results_dir",
        blocker / "x",
    )
    _one_line_error(
        proc, f"{blocker / 'x'}: cannot create the results folder ({blocker} is a file, not a folder)"
    )


def test_a_result_that_cannot_be_written_is_reported_and_the_rest_written(pair_dirs, trained, tmp_path):
    a, b = pair_dirs
    out = tmp_path / "r"
    (out / "1_test.png").mkdir(parents=True)  # a folder stands where a strip goes
    proc = run_cli(
        "test", "--source-dir", a, "--target-dir", b, "--model", trained, "--test_results_dir", out
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert _lines(proc.stderr) == [f"{out / '1_test.png'}: cannot write the result (it is a folder)"]
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == ["0_test.png", "2_test.png", "3_test.png"]
    assert "mean" in proc.stdout

    wild = tmp_path / "w"
    (wild / "2_test_inthewild.png").mkdir(parents=True)
    proc = run_cli(
        "test_inthewild", "--inthewild_dataset_dir", a, "--model", trained, "--inthewild_results_dir", wild
    )
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert _lines(proc.stderr) == [
        f"{wild / '2_test_inthewild.png'}: cannot write the result (it is a folder)"
    ]
    assert "wrote 3 input|output strip(s)" in proc.stdout and "1 failed" in proc.stdout


def test_synthesize_and_evaluate_output_folders_that_are_files(pair_dirs, trained, tmp_path):
    a, b = pair_dirs
    blocker = tmp_path / "file"
    blocker.write_text("x")
    shipped = REPO / "models" / "smile.safetensors"
    for out, fragment in [
        (blocker, f"{blocker}: the output folder is a file, not a folder"),
        (
            blocker / "x",
            f"{blocker / 'x'}: cannot create the output folder ({blocker} is a file, not a folder)",
        ),
    ]:
        _one_line_error(run_cli("synthesize", "--model", shipped, "-o", out, a / "0.png"), fragment)
        proc = run_cli(
            "evaluate", "--model", trained, "--source-dir", a, "--target-dir", b, "--crops", "-o", out
        )
        _one_line_error(proc, fragment)


def test_a_model_too_small_for_the_face_pipeline_is_refused_once(pair_dirs, tmp_path):
    a, b = pair_dirs
    rng = np.random.default_rng(0)
    X = rng.random((3, 8, 8, 3)).astype(np.float32)
    model = tmp_path / "tiny.safetensors"
    MaskedRegression(3, 0.4).fit(X, X).save(model)
    fragment = f"{model}: the model's crops are 8x8, which the face pipeline cannot align to"
    proc = run_cli("synthesize", "--model", model, "-o", tmp_path / "o", a)
    _one_line_error(proc, fragment, "between 16 and 4096")
    proc = run_cli("evaluate", "--model", model, "--source-dir", a, "--target-dir", b, "-o", tmp_path / "o")
    _one_line_error(proc, fragment)
    assert not (tmp_path / "o").exists()


# ---------------------------------------------------------------------------------- test settings
def test_test_refuses_a_scaling_other_than_the_models(pair_dirs, trained, tmp_path):
    a, b = pair_dirs
    for command, data in (
        ("test", ["--source-dir", a, "--target-dir", b]),
        ("test_inthewild", ["--inthewild_dataset_dir", a]),
    ):
        proc = run_cli(command, *data, "--model", trained, "--scaling", "minmax")
        _one_line_error(proc, f"--scaling is minmax but {trained} was trained with unit scaling")
    proc = run_cli("test", "--source-dir", a, "--target-dir", b, "--model", trained, "--scaling", "unit",
                   "--test_results_dir", tmp_path / "r")  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_exclude_file_names_that_match_no_pair_are_warned_about(pair_dirs, tmp_path):
    a, b = pair_dirs
    held = tmp_path / "held.txt"
    held.write_text("1\n3.png\nO2  # a typo\n" + "\n".join(f"x{i}" for i in range(11)) + "\n")
    out = tmp_path / "m.safetensors"
    proc = run_cli("train", "--source-dir", a, "--target-dir", b, "--exclude-file", held, "-o", out)
    assert proc.returncode == 0, proc.stderr
    assert _lines(proc.stderr) == [
        f"warning: {held}: 12 name(s) match no pair and exclude nothing: O2, x0, x1, x2, x3, x4, x5, x6, x7, x8 "
        "and 2 more"
    ]
    assert load_model(out).n_pairs_ == 2  # 1 and 3 left out
    held.write_text("0\n2\n")
    proc = run_cli("train", "--source-dir", a, "--target-dir", b, "--exclude-file", held, "-o", out, "--force")
    assert proc.returncode == 0 and proc.stderr == ""


# -------------------------------------------------------------------------------------- --align
def _fake_aligner(monkeypatch, size):
    """``_aligner`` with a stand-in for face alignment (a resize) that counts its calls."""
    import mr_core.face

    calls = []

    def align_photo(rgb, size, name=None, **kwargs):
        calls.append(name)
        return np.asarray(Image.fromarray(rgb).resize((size[1], size[0])))

    monkeypatch.setattr(mr_core.face, "align_photo", align_photo)
    return calls


def test_crop_cache_is_keyed_on_the_photo_itself(tmp_path, monkeypatch):
    size = (16, 16)
    calls = _fake_aligner(monkeypatch, size)
    cache = tmp_path / "cache"
    args = mr_cli.build_parser().parse_args(["train", "--align", "--crop-cache", str(cache)])
    prepare, template = mr_cli.train._aligner(args, size)
    # two data sets with the same folder and file names, different photos
    src1, _ = smooth_faces(1, (24, 24), seed=1)
    src2, _ = smooth_faces(1, (24, 24), seed=2)
    one = write_images(tmp_path / "set1" / "neutral", src1, ["001.png"])[0]
    two = write_images(tmp_path / "set2" / "neutral", src2, ["001.png"])[0]
    crop1, crop2 = prepare(src1[0], one), prepare(src2[0], two)
    assert calls == [str(one), str(two)]  # the face pipeline names the file (once) in its messages
    assert not np.array_equal(crop1, crop2)
    np.testing.assert_array_equal(prepare(src1[0], one), crop1)  # read back from the cache
    assert len(calls) == 2
    files = sorted(p.relative_to(cache) for p in cache.rglob("*.png"))
    assert len(files) == 2 and all(f.parent.name == f"{template}-16x16" for f in files)
    assert all(f.stem.startswith("001-") and len(f.stem) == len("001-") + 12 for f in files)
    # an edited photo is aligned again
    edited = np.ascontiguousarray(src1[0][::-1])
    Image.fromarray(edited).save(one)
    os.utime(one, ns=(os.stat(one).st_atime_ns, os.stat(one).st_mtime_ns + 10**9))
    assert not np.array_equal(prepare(edited, one), crop1)
    assert len(calls) == 3


def test_align_failures_name_the_file_once(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    blank = np.full((2, 200, 200, 3), 128, np.uint8)
    write_images(a, blank, ["0.png", "1.png"])
    write_images(b, blank, ["0.png", "1.png"])
    proc = run_cli("train", "--align", "--source-dir", a, "--target-dir", b, "-o", tmp_path / "m.safetensors")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert _lines(proc.stderr) == [
        *(f"{d / n}: no face found" for n in ("0.png", "1.png") for d in (a, b)),
        "error: no usable training pairs: nothing to train on",
    ]


def test_train_never_overwrites_an_input_or_a_file_that_is_not_a_model(pair_dirs, tmp_path):
    a, b = pair_dirs
    photo = a / "0.png"
    before = photo.read_bytes()
    for args in ((), ("--force",)):
        proc = run_cli("train", "--source-dir", a, "--target-dir", b, "-o", photo, *args)
        _one_line_error(proc, str(photo), "choose another -o")
        assert photo.read_bytes() == before
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    proc = run_cli("train", "--source-dir", a, "--target-dir", b, "-o", notes, "--force")
    _one_line_error(proc, str(notes), "not a model file")
    assert notes.read_text() == "keep me"


def test_train_replaces_an_existing_model_file_only_with_force(pair_dirs, trained):
    a, b = pair_dirs
    before = trained.read_bytes()
    proc = run_cli("train", "--source-dir", a, "--target-dir", b, "-o", trained, "--lam", "2")
    _one_line_error(proc, str(trained), "--force")
    assert trained.read_bytes() == before
    proc = run_cli("train", "--source-dir", a, "--target-dir", b, "-o", trained, "--lam", "2", "--force")
    assert proc.returncode == 0, proc.stderr
    assert load_model(trained).lam == 2


@pytest.mark.parametrize(
    ("blank", "args", "fragment"),
    [
        (None, ["--lam", "1e300"], "lam 1e+300 is too large for these pairs: the model misses 100% of"),
        (None, ["--lam", "1e6"], "lam 1e+06 is too large"),
        ("a", [], "the source images are all black"),
        ("b", [], "the target images are all black"),
        ("same", [], "the target images are the same as the source images"),
    ],
)
def test_train_refuses_a_model_that_would_not_change_a_face(pair_dirs, trained, blank, args, fragment):
    """A penalty so large that every weight is ~0, black images or targets equal to the sources would
    give a model that blackens, ignores or keeps every face: refused in one sentence, and the model
    file given with --force is kept."""
    a, b = pair_dirs
    if blank == "same":
        for i in range(4):
            (b / f"{i}.png").write_bytes((a / f"{i}.png").read_bytes())
    elif blank:
        folder = {"a": a, "b": b}[blank]
        write_images(folder, np.zeros((4, 16, 16, 3), np.uint8), [f"{i}.png" for i in range(4)])
    before = trained.read_bytes()
    proc = run_cli("train", "--source-dir", a, "--target-dir", b, "-o", trained, "--force", *args)
    _one_line_error(proc, fragment)
    assert trained.read_bytes() == before


def test_train_refuses_a_mesh_mr_model_with_a_huge_lam_on_photos(london, tmp_path):
    names = sorted(p.name for p in (london / "neutral").glob("*.jpg"))[:4]
    for side in ("neutral", "smiling"):
        (tmp_path / side).mkdir()
        for n in names:
            (tmp_path / side / n).symlink_to(london / side / n)
    out = tmp_path / "huge.safetensors"
    args = ["--align", "--method", "mesh-mr", "--source-dir", tmp_path / "neutral"]
    args += ["--target-dir", tmp_path / "smiling", "--shape-lam", "0.1", "-o", out]
    proc = run_cli("train", *args, "--lam", "1e300")
    _one_line_error(proc, "lam 1e+300 is too large", "use a smaller lam")
    proc = run_cli("train", *args, "--lid-sink", "2")
    _one_line_error(proc, "--lid-sink", "[0, 1]")
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["neutral", "smiling"]  # nothing written
    assert run_cli("train", *args).returncode == 0 and out.is_file()  # the default lam is fine


# ---------------------------------------------------------------------------------------- face editor
def test_synthesize_with_presets_targets_and_a_reference(london, tmp_path):
    """The face editor through the command line: --preset, --set and --reference, alone and on top of the
    shipped smile; what it asks for is what the landmarker measures on the written photos."""
    from mr_core.face import align_photo
    from mr_core.face.landmarks import Landmarker

    src = london / "neutral" / "026.jpg"
    runs = {
        "surprised": ["--preset", "surprised"],
        "jaw": ["--set", "jawOpen=0.5"],
        "copy": ["--reference", london / "smiling" / "062.jpg", "--parts", "mouth"],
        "smile-blink": ["--expression", "smile", "--set", "eyeBlink=0.5"],
    }
    scores = {}
    with Landmarker() as marker:
        base = marker.analyze(align_photo(src, size=(256, 256))).blendshapes
        for name, flags in runs.items():
            out = tmp_path / name
            proc = run_cli("synthesize", *flags, "-o", out, src)
            assert proc.returncode == 0, proc.stderr
            assert "wrote 1 of 1" in proc.stdout
            scores[name] = marker.analyze(align_photo(out / "026.jpg", size=(256, 256))).blendshapes
        ref = marker.analyze(align_photo(london / "smiling" / "062.jpg", size=(256, 256))).blendshapes
    assert scores["surprised"]["browInnerUp"] > base["browInnerUp"] + 0.15
    assert abs(scores["jaw"]["jawOpen"] - 0.5) < 0.2
    smile = lambda s: (s["mouthSmileLeft"] + s["mouthSmileRight"]) / 2  # noqa: E731
    assert abs(smile(scores["copy"]) - smile(ref)) < abs(smile(base) - smile(ref)) / 2
    assert smile(scores["smile-blink"]) > smile(base) + 0.3
    assert scores["smile-blink"]["eyeBlinkLeft"] > base["eyeBlinkLeft"] + 0.08


def test_synthesize_refuses_bad_editor_requests_in_one_sentence(tmp_path):
    photo = tmp_path / "p.png"
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(photo)
    cases = [
        (["--preset", "joy"], "unknown preset 'joy'; valid: happy, sad, surprised"),
        (["--set", "jawOpen=2"], "jawOpen: the value must be in 0..1, got 2"),
        (["--set", "smiel=1"], "unknown blendshape 'smiel'; valid:"),
        (["--set", "jawOpen"], "expected KEY=VALUE"),
        (["--reference", tmp_path / "missing.jpg"], "missing.jpg"),
        ([], "say what to change"),
    ]
    for flags, message in cases:
        proc = run_cli("synthesize", *flags, "-o", tmp_path / "out", photo)
        assert proc.returncode == 2, (flags, proc.stderr)
        assert message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert not (tmp_path / "out").exists()


def test_synthesize_says_what_the_rig_cannot_give(london, tmp_path):
    proc = run_cli(
        "synthesize", "--set", "jawOpen=0.95,mouthFrown=0.5,eyeLookUp=0.5", "-o", tmp_path / "out",
        london / "neutral" / "026.jpg",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "note: past what the rig reaches on most faces, so the edit stops short: jawOpen=0.95" in proc.stderr
    assert "note: mouthFrown: shown with a fixed strength" in proc.stderr
    assert "eyeLookUp is not rendered by the rig" in proc.stderr
