"""Evaluation: metric functions, pairing, report/contact sheet, and the ``evaluate`` command end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from mr_core import cli
from mr_core.data import read_name_list, to_gray, to_uint8
from mr_core.errors import DataError
from mr_core.evaluation import evaluate as ev
from mr_core.evaluation import report as summary_report

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
LONDON = DATA / "london"
SPLIT = ROOT / "models" / "split_validation.txt"
TEST_SPLIT = ROOT / "models" / "split_test.txt"
TRAIN_SUBJECTS = ["003", "004", "005", "007", "008", "009", "010", "011", "013", "014", "016", "017"]
TEST_SUBJECTS = ["002", "026", "062"]


def _needs_london():
    if not (LONDON / "neutral").is_dir() or not (LONDON / "smiling").is_dir():
        pytest.skip(f"London set not found under {LONDON}")


# ----------------------------------------------------------------------------------------- fakes


class _IdentityModel:
    def __init__(self, channels=3, scaling="unit", size=(32, 32)):
        self.channels_ = channels
        self.scaling = scaling
        self.image_size_ = size
        self.target = "smiling"
        self.seen = None

    def predict(self, x):
        self.seen = x
        return x.copy()


def test_change_fraction():
    assert ev.change_fraction(0.1, 0.3, 0.5) == pytest.approx(0.5)
    assert ev.change_fraction(0.9, 0.5, 0.1) == pytest.approx(0.5)  # towards neutral
    assert ev.change_fraction(0.1, 0.3, 0.12) is None  # the real change is too small
    assert ev.change_fraction(None, 0.3, 0.5) is None


def test_sharpness_ratio():
    rng = np.random.default_rng(0)
    img = rng.random((64, 64, 3))
    assert ev.sharpness_ratio(img, img) == pytest.approx(1.0)
    blurred = ndimage.gaussian_filter(img, (1.5, 1.5, 0))
    assert ev.sharpness_ratio(blurred, img) < 0.2
    assert ev.sharpness_ratio(img, np.full_like(img, 0.5)) is None
    # measured on the uint8 image's luma: float input in [0, 1] is the same as its uint8 rounding
    u8 = to_uint8(img)
    assert ev.sharpness(img) == ev.sharpness(u8) == ev.sharpness(to_gray(u8))
    gray = to_gray(u8)[..., 0] / 255.0
    assert ev.sharpness(u8) == pytest.approx(np.var(ndimage.laplace(gray, mode="reflect")))


def test_eye_box_and_similarity():
    pts = np.zeros((478, 2))
    pts[:, 0], pts[:, 1] = 64, 100  # everything else far below the eyes
    pts[[33, 133]] = [(30, 50), (50, 50)]
    pts[[263, 362]] = [(98, 50), (78, 50)]
    for i in ev.EYE_LANDMARKS:
        if i not in (33, 133, 263, 362):
            pts[i] = (64, 45)
    top, bottom, left, right = ev.eye_box(pts, (128, 128))
    pad = 0.2 * 48  # eye centres (40, 50) and (88, 50)
    assert top == int(np.floor(45 - pad)) and bottom == int(np.ceil(50 + pad))
    assert left == int(np.floor(30 - pad)) and right == int(np.ceil(98 + pad))
    img = np.random.default_rng(1).random((128, 128, 3))
    out = img.copy()
    out[100:] = 0  # a change outside the band does not count
    assert ev.eye_similarity(out, img, (top, bottom, left, right)) == pytest.approx(1.0)
    assert ev.eye_box(pts[:10], (128, 128)) is None


def test_predict_crop_scaling_and_gray():
    crop = np.zeros((32, 32, 3), np.uint8)
    crop[..., 0] = np.linspace(50, 200, 32).astype(np.uint8)
    m = _IdentityModel(scaling="minmax")
    out = ev.predict_crop(m, crop)
    assert m.seen.min() == pytest.approx(0.0) and m.seen.max() == pytest.approx(1.0)
    np.testing.assert_allclose(out, crop / 255.0, atol=0.5 / 255)
    gray = _IdentityModel(channels=1)
    out = ev.predict_crop(gray, crop)
    # a gray model sees the luma and its change is applied to R, G and B alike: identity stays identity
    assert gray.seen.shape == (1, 32, 32, 1) and out.shape == (32, 32, 3)
    np.testing.assert_allclose(out, crop / 255.0, atol=0.5 / 255)


def test_fit_crop():
    crop = np.zeros((64, 64, 3), np.uint8)
    assert ev.fit_crop(crop, (64, 64)) is crop
    assert ev.fit_crop(crop, (32, 32)).shape == (32, 32, 3)
    with pytest.raises(DataError, match="aspect ratio"):
        ev.fit_crop(np.zeros((64, 80, 3), np.uint8), (32, 32), "x.png")


def test_pairs_file_and_find_pairs(tmp_path):
    src, tgt = tmp_path / "a", tmp_path / "b"
    src.mkdir()
    tgt.mkdir()
    for name in ("001.jpg", "002.png", "003.jpg", "notes.txt"):
        (src / name).write_bytes(b"x")
    for name in ("001.png", "002.png", "004.jpg"):
        (tgt / name).write_bytes(b"x")
    (src / ".001.jpg").write_bytes(b"x")  # hidden files (e.g. macOS metadata) are not photos
    pairs = ev.find_pairs(src, tgt)
    # every photo comes back; one without a partner has the other side None (a failed pair)
    assert [(p.name, p.source and p.source.name, p.target and p.target.name) for p in pairs] == [
        ("001", "001.jpg", "001.png"),
        ("002", "002.png", "002.png"),
        ("003", "003.jpg", None),
        ("004", None, "004.jpg"),
    ]
    failed = ev.evaluate_pair(_IdentityModel(), pairs[2])
    assert not failed.ok and failed.error.startswith("no target image named 003 for ")
    assert ev.evaluate_pair(_IdentityModel(), pairs[3]).error.startswith("no source image named 004 for ")
    listed = tmp_path / "split.txt"
    listed.write_text("# comment\n002\n\n003.jpg  # trailing\n")
    names = read_name_list(listed)
    assert names == ["002", "003"]
    pairs = ev.find_pairs(src, tgt, names)
    assert pairs[1].source is not None and pairs[1].target is None
    with pytest.raises(DataError, match="partner"):
        ev.find_pairs(src, tmp_path)
    with pytest.raises(DataError, match="folder not found"):
        ev.find_pairs(tmp_path / "nope", tgt)
    (tgt / "002.jpg").write_bytes(b"x")
    with pytest.raises(DataError, match="002.jpg and 002.png both pair as '002'"):
        ev.find_pairs(src, tgt)
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(DataError, match="lists no names"):
        read_name_list(tmp_path / "empty.txt")
    with pytest.raises(DataError, match="file not found"):
        read_name_list(tmp_path / "missing.txt")


def test_summary_report_and_sheet(tmp_path):
    crops = tuple(np.full((16, 16, 3), v, np.uint8) for v in (0, 128, 255))
    results = [
        ev.PairResult(
            "a",
            psnr=20.0,
            ssim=0.5,
            score_input=0.0,
            score_output=0.2,
            score_target=0.6,
            fraction=1 / 3,
            eye_ssim=0.9,
            sharpness=0.2,
            crops=crops,
        ),
        ev.PairResult(
            "b",
            psnr=float("inf"),
            ssim=0.7,
            score_input=0.1,
            score_output=0.2,
            score_target=0.12,
            eye_ssim=0.8,
            sharpness=0.4,
            crops=crops,
        ),
        ev.PairResult("c", error="no face found"),
    ]
    summary = summary_report.summarize(results)
    assert summary["evaluated"] == 2 and summary["failed"] == 1
    assert summary["psnr"] == pytest.approx(20.0) and summary["psnr_n"] == 1  # inf is left out
    assert summary["fraction"] == pytest.approx(1 / 3) and summary["fraction_n"] == 1
    assert summary["fraction_aggregate"] == pytest.approx((0.2 - 0.05) / (0.36 - 0.05))
    path = summary_report.write_report(tmp_path / "out" / "report.json", summary_report.build_report(results))
    report = json.loads(path.read_text())
    assert report["pairs"][1]["psnr"] is None and report["pairs"][2]["error"] == "no face found"
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]  # no temporary file left
    sheet = summary_report.contact_sheet(results, columns=2)
    assert sheet.dtype == np.uint8 and sheet.shape[2] == 3
    assert sheet.shape[1] >= 2 * 3 * 128  # small crops are enlarged
    summary_report.write_contact_sheet(tmp_path / "sheet.png", results)
    assert Image.open(tmp_path / "sheet.png").size[0] > 0


def test_validation_and_test_split_files():
    names = read_name_list(SPLIT)
    assert len(names) == 10 and len(set(names)) == 10
    test = read_name_list(TEST_SPLIT)
    assert len(test) == 15 and len(set(test)) == 15 and not set(test) & set(names)
    if (LONDON / "neutral").is_dir():
        stems = sorted(p.stem for p in (LONDON / "neutral").glob("*.jpg"))
        assert names == stems[::9] and test == stems[4::6]


def test_no_settings_script_reads_the_test_split():
    """The test subjects are only ever excluded while choosing settings: the scripts that choose
    them name split_test.txt only to leave it out of training and evaluation."""
    for script in (
        "choose_settings.py",
        "choose_gain.py",
        "explore_variants.py",
        "measure_teeth_cap.py",
        "measure_under_eyes.py",
    ):
        text = (ROOT / "scripts" / script).read_text()
        for line in text.splitlines():
            if "split_test" in line:
                assert line.strip().startswith(("TEST =", "#", "The test subjects")), (script, line)
    text = (ROOT / "scripts" / "choose_settings.py").read_text()
    assert "--subjects" in text and "--pairs-file" not in text  # evaluated on folds of training subjects


def test_model_description_names_the_method_and_its_settings():
    from mr_core import load_model
    from mr_core.core.modelfile import MODELS_DIR

    model = load_model(MODELS_DIR / "smile.safetensors")
    info = summary_report.model_description(model, MODELS_DIR / "smile.safetensors")
    assert info["method"] == "mesh-mr" and info["target"] == "smiling"
    assert info["shape_lam"] == model.shape_lam_ > 0 and info["mirror"] is True
    assert isinstance(info["open_only"], bool) and info["image_size"] == [256, 256]
    json.dumps(info, allow_nan=False)  # goes into report.json as is
    paper = summary_report.model_description(load_model(MODELS_DIR / "smile-paper.safetensors"))
    assert paper["method"] == "mr" and paper["scaling"] == "minmax" and "texture_sigma" not in paper
    assert summary_report.model_description(_IdentityModel())["method"] == "mr"  # a model without the attribute


def test_cli_reports_photos_without_a_partner(tmp_path, capsys):
    """Without --subjects/--pairs-file a photo with no partner is a failed pair: reported, exit 1."""
    from mr_core import MaskedRegression

    rng = np.random.default_rng(2)
    X = rng.random((4, 32, 32, 3)).astype(np.float32)
    model = tmp_path / "m.safetensors"
    MaskedRegression(3, 0.4, source="neutral", target="smiling").fit(X, X).save(model)
    src, tgt = tmp_path / "src", tmp_path / "tgt"
    for folder, names in ((src, ("001", "002", "003")), (tgt, ("001", "002", "004"))):
        folder.mkdir()
        for n in names:
            Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{n}.png")
    argv = ["evaluate", "--model", str(model), "--source-dir", str(src), "--target-dir", str(tgt)]
    argv += ["--crops", "--quiet", "-o", str(tmp_path / "o")]
    rc = cli.main(argv)
    err = capsys.readouterr().err
    assert rc == 1
    assert f"003: no target image named 003 for {src / '003.png'}" in err
    assert f"004: no source image named 004 for {tgt / '004.png'}" in err
    assert "2 of 4 pairs failed" in err and "Traceback" not in err
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert [p["name"] for p in report["pairs"]] == ["001", "002", "003", "004"]
    assert [p.get("error") is None for p in report["pairs"]] == [True, True, False, False]
    assert report["summary"]["evaluated"] == 2 and report["summary"]["failed"] == 2
    assert report["model"]["method"] == "mr"
    (src / "003.png").unlink()
    (tgt / "004.png").unlink()
    assert cli.main(argv) == 0  # every photo has its partner
    assert "failed" not in capsys.readouterr().err


# ---------------------------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def smile_model(tmp_path_factory):
    """A small smile model trained on aligned crops of 12 London subjects (not the test ones)."""
    _needs_london()
    from mr_core import MaskedRegression
    from mr_core.face import DEFAULT_TEMPLATE, align_photo

    def crops(expr):
        return (
            np.stack(
                [
                    align_photo(
                        np.asarray(Image.open(LONDON / expr / f"{n}.jpg").convert("RGB")), size=(64, 64)
                    )
                    for n in TRAIN_SUBJECTS
                ]
            ).astype(np.float32)
            / 255.0
        )

    model = MaskedRegression(
        receptive_field=3, lam=0.4, source="neutral", target="smiling", template=DEFAULT_TEMPLATE
    ).fit(crops("neutral"), crops("smiling"))
    path = tmp_path_factory.mktemp("model") / "smile.safetensors"
    model.save(path)
    return path


def test_cli_evaluate_photos(smile_model, tmp_path, capsys):
    out = tmp_path / "eval"
    rc = cli.main(
        [
            "evaluate",
            "--model",
            str(smile_model),
            "--source-dir",
            str(LONDON / "neutral"),
            "--target-dir",
            str(LONDON / "smiling"),
            "--subjects",
            *TEST_SUBJECTS,
            "999",
            "--quiet",
            "-o",
            str(out),
        ],
    )
    captured = capsys.readouterr()
    assert rc == 1  # one pair failed, the rest were evaluated
    assert "999: no source image named 999" in captured.err
    assert "Traceback" not in captured.err
    lines = captured.out.splitlines()
    assert lines[0].split()[:3] == ["pair", "PSNR", "SSIM"]
    assert any(line.startswith("mean") for line in lines)
    report = json.loads((out / "report.json").read_text())
    assert [p["name"] for p in report["pairs"]] == [*TEST_SUBJECTS, "999"]
    s = report["summary"]
    assert s["evaluated"] == 3 and s["failed"] == 1
    assert report["model"]["score_expression"] == "smiling"
    assert 12 < s["psnr"] < 40 and 0.3 < s["ssim"] < 1
    assert s["score_input"] < 0.2 and s["score_target"] > 0.4
    assert s["score_output"] > s["score_input"]  # the model moves towards a smile
    assert 0.5 < s["eye_ssim"] <= 1 and 0.05 < s["sharpness"] < 1
    assert Image.open(out / "contact_sheet.png").size[0] > 3 * 128
    # the whole blendshape profile and the key blendshapes, per pair and in the summary
    assert 0 < s["profile_ratio"] < 1.5 and s["profile_ratio_median"] is not None
    assert set(s["changes"]) >= {"mouthSmile", "mouthUpperUp", "jawOpen", "eyeSquint", "mouthPress"}
    smile = s["changes"]["mouthSmile"]
    assert smile["target"] > smile["input"] and smile["fraction"] is not None
    first = report["pairs"][0]
    assert first["profile_ratio"] is not None and "mouthUpperUp" in first["changes"]
    assert "blendshape profile: output-to-real distance" in captured.out
    assert "mouthUpperUp" in captured.out


def test_cli_evaluate_crops(smile_model, tmp_path, capsys):
    from mr_core.face import align_photo

    for expr in ("neutral", "smiling"):
        (tmp_path / expr).mkdir()
        for n in TEST_SUBJECTS[:2]:
            rgb = np.asarray(Image.open(LONDON / expr / f"{n}.jpg").convert("RGB"))
            Image.fromarray(align_photo(rgb, size=(128, 128))).save(tmp_path / expr / f"{n}.png")
    (tmp_path / "neutral" / "bad.png").write_bytes(b"not an image")
    (tmp_path / "smiling" / "bad.png").write_bytes(b"not an image")
    rc = cli.main(
        [
            "evaluate",
            "--model",
            str(smile_model),
            "--source-dir",
            str(tmp_path / "neutral"),
            "--target-dir",
            str(tmp_path / "smiling"),
            "--crops",
            "--quiet",
            "-o",
            str(tmp_path / "o"),
        ],
    )
    captured = capsys.readouterr()
    assert rc == 1 and "bad.png" in captured.err and "Traceback" not in captured.err
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["summary"]["evaluated"] == 2 and report["settings"]["crops"] is True


def test_cli_bad_input_is_one_line(smile_model, tmp_path, capsys):
    rc = cli.main(
        [
            "evaluate",
            "--model",
            str(smile_model),
            "--source-dir",
            str(tmp_path / "nope"),
            "--target-dir",
            str(tmp_path),
            "-o",
            str(tmp_path / "o"),
        ],
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error:") and "nope" in err[0]
    rc = cli.main(
        [
            "evaluate",
            "--model",
            str(tmp_path / "missing.safetensors"),
            "--source-dir",
            str(tmp_path),
            "--target-dir",
            str(tmp_path),
            "-o",
            str(tmp_path / "o"),
        ],
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "missing.safetensors" in err[0]


def test_python_m_evaluate_help():
    proc = subprocess.run(
        [sys.executable, "-m", "mr_core", "evaluate", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0 and "--pairs-file" in proc.stdout


def test_evaluate_editor_reports_closed_loop_figures(london, tmp_path):
    """``evaluate --editor`` on two subjects: requests, presets, a reference copy, a contact sheet."""
    from conftest import run_cli

    out = tmp_path / "editor"
    proc = run_cli(
        "evaluate", "--editor", "--source-dir", london / "neutral", "--target-dir", london / "smiling",
        "--subjects", "026", "037", "-o", out,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "single-key requests: asked vs measured" in proc.stdout and "reference copy" in proc.stdout
    import json

    report = json.loads((out / "report.json").read_text())
    s = report["summary"]
    assert s["faces"] == 2 and 0 <= s["requests"]["error"] < 0.3 and s["requests"]["drift"] < 0.1
    assert set(s["presets"]) >= {"happy", "sad", "surprised", "neutral"}
    assert s["reference"]["profile_ratio"] < 1.0
    from PIL import Image

    assert Image.open(out / "editor_sheet.png").size == (256 * 9, 256 * 2)
