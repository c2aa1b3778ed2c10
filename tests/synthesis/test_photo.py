"""Photo-level synthesis and ``python -m mr_core synthesize`` (skips without ../shared/data)."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from mr_core.cli import main
from mr_core.errors import FaceError, InvalidParameterError
from mr_core.face import (
    ASSETS_DIR,
    DEFAULT_TEMPLATE,
    DETECTOR_MODELS,
    FaceDetector,
    FacePipeline,
    align_photo,
)
from mr_core.imageio import read_image, write_image
from mr_core.synthesis import SynthesisResult, synthesize

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
HAVE_ASSETS = all((ASSETS_DIR / name).is_file() for name, _size, _sha in DETECTOR_MODELS.values())

pytestmark = [
    pytest.mark.skipif(not (DATA / "london").is_dir(), reason=f"{DATA} not present"),
    pytest.mark.skipif(not HAVE_ASSETS, reason="face detector models not vendored"),
]


def london(kind: str = "neutral") -> list[Path]:
    return sorted((DATA / "london" / kind).glob("*.jpg"))


@pytest.fixture(scope="module")
def detector():
    det = FaceDetector()
    yield det
    det.close()


@pytest.fixture(scope="module")
def pipeline(detector):
    with FacePipeline(detector) as pipe:
        yield pipe


@pytest.fixture(scope="module")
def model(detector):
    """A small real MR model: 20 aligned London pairs, 128 x 128, the pipeline's template."""
    from mr_core import MaskedRegression

    names = [p.name for p in london("neutral")[:20]]
    X = np.stack([align_photo(read_image(DATA / "london" / "neutral" / n), detector=detector) for n in names])
    Y = np.stack([align_photo(read_image(DATA / "london" / "smiling" / n), detector=detector) for n in names])
    m = MaskedRegression(
        receptive_field=3, lam=0.4, template=DEFAULT_TEMPLATE, source="neutral", target="smiling"
    )
    return m.fit(X / 255.0, Y / 255.0)


@pytest.fixture(scope="module")
def model_file(model, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "smile.safetensors"
    model.save(path)
    return path


@pytest.fixture(scope="module")
def photo():
    return read_image(london()[-1])  # not one of the 20 training subjects


class ShiftModel:
    """A stand-in model: predicts ``x + shift`` (to check the gray and min-max paths exactly)."""

    def __init__(self, channels=3, scaling="unit", shift=0.1, template=DEFAULT_TEMPLATE):
        self.channels_, self.scaling, self.shift, self.template = channels, scaling, shift, template
        self.image_size_ = (128, 128)

    def predict(self, X):
        assert X.shape[1:] == (128, 128, self.channels_)
        return X + self.shift


# ------------------------------------------------------------------------------ library
def test_intensity_zero_is_identity(model, photo, detector, pipeline):
    res = synthesize(photo, model, intensity=0.0, pipeline=pipeline)
    assert isinstance(res, SynthesisResult)
    assert np.array_equal(res.image, photo.rgb)
    assert len(res.faces) == 1 and np.array_equal(res.faces[0].crop_in, res.faces[0].crop_out)


@pytest.mark.parametrize("bad", [-0.1, 1.51, float("nan"), "strong"])
def test_intensity_out_of_range(model, photo, detector, bad, pipeline):
    with pytest.raises(InvalidParameterError, match="intensity"):
        synthesize(photo, model, intensity=bad, pipeline=pipeline)


def test_output_is_the_blend_of_input_and_prediction(model, photo, detector, pipeline):
    res = synthesize(photo, model, intensity=0.5, pipeline=pipeline)
    f = res.faces[0]
    x = f.crop_in / 255.0
    expected = np.clip(x + 0.5 * (model.predict(x[None])[0] - x), 0, 1)
    assert np.abs(f.crop_out / 255.0 - expected).max() <= 0.5 / 255 + 1e-6
    assert res.image.shape == photo.rgb.shape and res.image.dtype == np.uint8
    full = synthesize(photo, model, intensity=1.0, pipeline=pipeline)
    assert np.abs(full.image.astype(int) - photo.rgb).sum() > np.abs(res.image.astype(int) - photo.rgb).sum()


def test_background_is_untouched(model, photo, detector, pipeline):
    res = synthesize(photo, model, intensity=1.5, pipeline=pipeline)
    changed = np.any(res.image != photo.rgb, axis=2)
    x, y, w, h = detector.detect(photo.rgb)[0].box
    assert changed.any()
    assert not changed[:, : max(0, int(x - w / 2))].any() and not changed[:, int(x + 1.5 * w) :].any()
    assert not changed[: max(0, int(y - h / 2))].any()


def test_gray_model_changes_all_three_channels_by_the_luma_change(photo, detector, pipeline):
    res = synthesize(photo, ShiftModel(channels=1, shift=0.1), intensity=1.0, pipeline=pipeline)
    f = res.faces[0]
    d = f.crop_out.astype(int) - f.crop_in.astype(int)
    inside = np.all(f.crop_in < 200, axis=2)  # where the +25.5 change is not clipped
    assert np.all(np.abs(d[inside] - 25.5) <= 0.51)


def test_minmax_model_predicts_in_its_own_scaling(photo, detector, pipeline):
    res = synthesize(photo, ShiftModel(scaling="minmax", shift=0.0), intensity=1.0, pipeline=pipeline)
    f = res.faces[0]
    assert np.abs(f.crop_out.astype(int) - f.crop_in.astype(int)).max() <= 1


def test_model_with_another_template_is_refused(photo, detector, pipeline):
    with pytest.raises(FaceError, match="'other-v9'.*'mp-eyes-nose-v1'"):
        synthesize(photo, ShiftModel(template="other-v9"), pipeline=pipeline)
    synthesize(photo, ShiftModel(template=None), pipeline=pipeline)  # unknown template: accepted


def test_every_face_or_only_the_largest(model, detector, pipeline):
    a = read_image(london()[-1]).rgb
    b = cv2.resize(read_image(london()[-2]).rgb, (300, 300), interpolation=cv2.INTER_AREA)
    group = np.full((512, 900, 3), 200, np.uint8)
    group[:, :512] = a
    group[100:400, 560:860] = b
    res = synthesize(group, model, pipeline=pipeline)
    assert len(res.faces) == 2
    assert res.faces[0].box[2] > res.faces[1].box[2]  # largest first
    one = synthesize(group, model, largest_only=True, pipeline=pipeline)
    assert len(one.faces) == 1
    assert np.array_equal(one.image[:, 540:], group[:, 540:])


def test_small_faces_are_reported(model, photo, detector):
    with pytest.raises(FaceError, match="no face large enough"):
        synthesize(photo, model, pipeline=FacePipeline(detector, min_eye_distance=1000), name="x.jpg")
    group = np.full((512, 700, 3), 200, np.uint8)
    group[:, :512] = photo.rgb
    group[200:264, 600:664] = cv2.resize(photo.rgb, (64, 64), interpolation=cv2.INTER_AREA)
    faces = detector.detect_all(group)  # what synthesize looks for: the small face too (tiles)
    assert len(faces) == 2
    least = faces[0].eye_distance - 1
    res = synthesize(group, model, pipeline=FacePipeline(detector, min_eye_distance=least))
    assert len(res.faces) == 1
    assert len(res.skipped) == 1
    assert all("too small" in s for s in res.skipped)


def test_no_face(model, detector, pipeline):
    with pytest.raises(FaceError, match="blank.png: no face found"):
        synthesize(np.full((200, 200, 3), 90, np.uint8), model, pipeline=pipeline, name="blank.png")


def test_alpha_gray_and_sixteen_bit_inputs(model, photo, detector, tmp_path, pipeline):
    alpha = np.full(photo.rgb.shape[:2], 180, np.uint8)
    path = write_image(tmp_path / "a.png", photo.rgb, alpha)
    res = synthesize(read_image(path), model, pipeline=pipeline)
    assert np.array_equal(res.alpha, alpha)

    gray = Image.fromarray(photo.rgb).convert("L")
    res = synthesize(read_image(_png(gray)), model, pipeline=pipeline)
    assert res.image.shape == photo.rgb.shape

    sixteen = Image.fromarray(np.asarray(gray).astype(np.uint16) * 257)
    res = synthesize(read_image(_png(sixteen)), model, pipeline=pipeline)
    assert len(res.faces) == 1


def test_exif_rotated_photo(model, photo, detector, tmp_path, pipeline):
    stored = np.ascontiguousarray(np.rot90(photo.rgb, k=1))  # as a sideways camera stores it
    exif = Image.Exif()
    exif[0x0112] = 6  # display: rotate 90 degrees clockwise
    path = tmp_path / "sideways.jpg"
    Image.fromarray(stored).save(path, exif=exif.tobytes(), quality=95)
    img = read_image(path)
    assert img.rgb.shape == photo.rgb.shape
    res = synthesize(img, model, pipeline=pipeline)
    assert res.image.shape == photo.rgb.shape and len(res.faces) == 1


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def _png_with_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims ``width`` x ``height`` (a decompression bomb's header)."""
    data = bytearray(_png(Image.new("1", (8, 8))))
    ihdr = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = ihdr
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr) & 0xFFFFFFFF)
    return bytes(data)


# ------------------------------------------------------------------------------ command line
def run_cli(argv) -> int:
    """``python -m mr_core ARGV`` in-process, through the real command registration."""
    return main([str(a) for a in argv])


@pytest.fixture()
def inputs(tmp_path, photo):
    d = tmp_path / "in"
    d.mkdir()
    write_image(d / "good.jpg", photo.rgb)
    write_image(d / "second.png", read_image(london()[-2]).rgb, np.full(photo.rgb.shape[:2], 255, np.uint8))
    (d / "notimage.jpg").write_text("hello")
    data = (d / "good.jpg").read_bytes()
    (d / "truncated.jpg").write_bytes(data[: len(data) // 3])
    write_image(d / "noface.png", np.full((300, 300, 3), 128, np.uint8))
    (d / "bomb.png").write_bytes(_png_with_size(30_000, 30_000))
    (d / "readme.txt").write_text("not an image suffix: ignored in a folder")
    return d


def test_cli_batch_reports_each_failure_and_writes_the_rest(model_file, inputs, tmp_path, capsys):
    before = {p.name: p.read_bytes() for p in inputs.iterdir()}
    out = tmp_path / "out"
    rc = run_cli(["synthesize", "--model", model_file, "--intensity", "0.8", "-o", out, inputs])
    err = capsys.readouterr().err
    assert rc == 1
    assert sorted(p.name for p in out.iterdir()) == ["good.jpg", "second.png"]
    assert read_image(out / "second.png").alpha is not None
    lines = [line for line in err.splitlines() if line.strip()]
    for name, reason in [
        ("notimage.jpg", "not an image"),
        ("truncated.jpg", "truncated"),
        ("noface.png", "no face found"),
        ("bomb.png", "too large"),
    ]:
        assert sum(name in line and reason in line for line in lines) == 1, (name, lines)
    assert len(lines) == 4
    assert "Traceback" not in err
    assert {p.name: p.read_bytes() for p in inputs.iterdir()} == before  # inputs never touched


def test_cli_all_good_exits_zero_and_keeps_names(model_file, inputs, tmp_path, capsys):
    out = tmp_path / "out"
    rc = run_cli(["synthesize", "--model", model_file, "-o", out, inputs / "good.jpg", inputs / "second.png"])
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == ["good.jpg", "second.png"]
    assert read_image(out / "good.jpg").rgb.shape == read_image(inputs / "good.jpg").rgb.shape


def test_cli_never_overwrites_an_input(model_file, inputs, capsys):
    before = (inputs / "good.jpg").read_bytes()
    rc = run_cli(["synthesize", "--model", model_file, "-o", inputs, inputs / "good.jpg"])
    assert rc == 1
    assert "overwrite" in capsys.readouterr().err
    assert (inputs / "good.jpg").read_bytes() == before


def test_cli_never_overwrites_a_file_it_did_not_create(model_file, inputs, photo, tmp_path, capsys):
    """Output folder = input folder holding face.gif and an unrelated face.png: face.png is kept."""
    Image.fromarray(photo.rgb).save(inputs / "face.gif")
    unrelated = (inputs / "good.jpg").read_bytes()
    (inputs / "face.png").write_bytes(unrelated)
    (inputs / "face (1).png").write_bytes(b"also unrelated")
    rc = run_cli(["synthesize", "--model", model_file, "-o", inputs, inputs / "face.gif"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert (inputs / "face.png").read_bytes() == unrelated
    assert (inputs / "face (1).png").read_bytes() == b"also unrelated"
    assert read_image(inputs / "face (2).png").rgb.shape == photo.rgb.shape
    assert "face (2).png" in err
    # the same file name from two folders in one run: the second gets its own name
    other = tmp_path / "other"
    other.mkdir()
    write_image(other / "good.jpg", photo.rgb)
    out = tmp_path / "out2"
    rc = run_cli(["synthesize", "--model", model_file, "-o", out, inputs / "good.jpg", other / "good.jpg"])
    assert rc == 0
    assert sorted(p.name for p in out.iterdir()) == ["good (1).jpg", "good.jpg"]


@pytest.mark.parametrize("hard_links", [True, False], ids=["hard links", "no hard links"])
def test_cli_a_name_taken_during_the_write_is_kept(
    model_file, inputs, tmp_path, monkeypatch, capsys, hard_links
):
    """Another program creates the output's name after the name was found free and before the result
    is moved there: its file is kept, and the result goes to the next free name (also on a file
    system without hard links)."""
    import errno
    import tempfile

    if not hard_links:

        def no_link(*args, **kwargs):
            raise OSError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(os, "link", no_link)

    real = tempfile.mkstemp
    theirs = b"written meanwhile by another program"

    def racing(*args, **kwargs):
        fd, tmp = real(*args, **kwargs)  # the name was checked, the result is being written ...
        if Path(tmp).name.startswith(".good.jpg."):
            (Path(tmp).parent / "good.jpg").write_bytes(theirs)  # ... and someone else takes the name
        return fd, tmp

    monkeypatch.setattr(tempfile, "mkstemp", racing)
    out = tmp_path / "out"
    rc = run_cli(["synthesize", "--model", model_file, "-o", out, inputs / "good.jpg"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert (out / "good.jpg").read_bytes() == theirs
    assert read_image(out / "good (1).jpg").rgb.shape == read_image(inputs / "good.jpg").rgb.shape
    assert (
        f"note: {out / 'good.jpg'} already exists; the result of {inputs / 'good.jpg'} is written to " in err
    )
    assert sorted(p.name for p in out.iterdir()) == ["good (1).jpg", "good.jpg"]  # no temporary left


def test_cli_removes_only_its_own_stale_temporary_files(model_file, inputs, tmp_path, capsys):
    """A write killed before it could clean up leaves ``.<name>.<pid>.<random>.mr-tmp``; the next write
    to that folder removes it once its writer is gone, and nothing else."""
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    dead, alive = ended.pid, os.getpid()
    out = tmp_path / "out"
    out.mkdir()
    minutes_ago = time.time() - 300
    days_ago = time.time() - 3 * 24 * 3600
    files = {
        f".good.jpg.{dead}.k3j_x9a2.mr-tmp": (minutes_ago, False),  # writer gone: removed
        f".clip.mp4.{alive}.zz01abcd.mr-tmp": (days_ago, False),  # days old: removed whoever wrote it
        f".good.jpg.{alive}.a1b2c3d4.mr-tmp": (minutes_ago, True),  # writer still running
        f".fresh.png.{dead}.qwertyui.mr-tmp": (time.time(), True),  # just written (another machine?)
        f".good.jpg.{dead}.k3j_x9a2.mr-tmp.bak": (days_ago, True),  # the user's names, all kept
        f"good.jpg.{dead}.k3j_x9a2.mr-tmp": (days_ago, True),
        f".good.jpg.{dead}.k3j_x9a.mr-tmp": (days_ago, True),
        ".good.jpg.abc123.tmp": (days_ago, True),
        "notes.mr-tmp": (days_ago, True),
    }
    for name, (mtime, _) in files.items():
        (out / name).write_bytes(b"x")
        os.utime(out / name, (mtime, mtime))
    (out / f".dir.{dead}.abcdefgh.mr-tmp").mkdir()  # not a file: kept
    rc = run_cli(["synthesize", "--model", model_file, "-o", out, inputs / "good.jpg"])
    assert rc == 0, capsys.readouterr().err
    kept = {name for name, (_, keep) in files.items() if keep}
    assert {p.name for p in out.iterdir()} == kept | {f".dir.{dead}.abcdefgh.mr-tmp", "good.jpg"}


def test_cli_an_empty_input_folder_is_warned_about(model_file, inputs, tmp_path, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    rc = run_cli(["synthesize", "--model", model_file, "-o", tmp_path / "out", empty, inputs / "good.jpg"])
    err = capsys.readouterr().err
    assert rc == 0
    assert f"warning: {empty}: the folder holds no" in err


def test_cli_corrupt_model_is_one_line(inputs, tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    rc = run_cli(["synthesize", "--model", bad, "-o", tmp_path / "out", inputs / "good.jpg"])
    err = capsys.readouterr().err
    assert rc == 2
    assert len(err.strip().splitlines()) == 1 and "bad.safetensors" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_cli_bad_intensity_is_refused(model_file, inputs, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        run_cli(["synthesize", "--model", model_file, "--intensity", "2", "-o", tmp_path / "o", inputs])
    assert info.value.code == 2


def test_python_m_mr_core_synthesize(model_file, inputs, tmp_path):
    """The real entry point: no traceback and no native log lines reach the user."""
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mr_core",
            "synthesize",
            "--model",
            str(model_file),
            "-o",
            str(out),
            str(inputs),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert len([line for line in proc.stderr.splitlines() if line.strip()]) == 4, proc.stderr
    assert (out / "good.jpg").is_file()
