"""The shape-texture method: training, model files, crop editing, photo synthesis and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_cli

from mr_core import load_model, read_metadata
from mr_core.errors import DataError, InvalidParameterError, ModelFileError, NotFittedError
from mr_core.face import DEFAULT_TEMPLATE, align_photo
from mr_core.imageio import read_image
from mr_core.methods import ShapeTextureModel, edit_crops
from mr_core.methods.shape_texture import face_statistics, to_canonical
from mr_core.synthesis import synthesize

SIZE = (48, 40)


def _synthetic_model(seed=0, **kwargs):
    """A small shape-texture model from synthetic crops and landmarks that move the lower half down."""
    rng = np.random.default_rng(seed)
    h, w = SIZE
    X = rng.random((12, h, w, 3)).astype(np.float32)
    Y = np.clip(X + 0.05, 0, 1)
    pts = np.stack([rng.uniform([4, 4], [w - 5, h - 5], size=(30, 2)) for _ in range(12)])
    pts = np.concatenate([pts, pts * [-1, 1] + [w, 0]], axis=1)  # left/right symmetric
    moved = pts.copy()
    moved[:, :, 1] += np.where(pts[:, :, 1] > h * 0.6, 2.0, 0.0)
    model = ShapeTextureModel(template=DEFAULT_TEMPLATE, **kwargs)
    return model.fit(X, Y, pts, moved), X


def test_fit_learns_a_motion_and_a_texture_change():
    model, X = _synthetic_model()
    assert model.displacement_.shape == (*SIZE, 2) and model.displacement_.dtype == np.float32
    assert np.abs(model.displacement_).max() > 1.0  # the lower face moves
    assert np.abs(model.displacement_[:3]).max() < 0.05  # the top of the crop hardly moves
    assert model.n_pairs_ == 12 and model.texture_.n_pairs_ == 24  # mirrored pairs
    assert model.weights_.shape == (9, *SIZE, 3) and model.image_size_ == SIZE and model.channels_ == 3
    out = model.predict(X[:2])
    assert out.shape == X[:2].shape
    assert abs(float((out - X[:2]).mean()) - 0.05) < 0.03  # the learned brightening is applied


def test_edit_crops_intensity_zero_is_identity_and_motion_scales():
    model, X = _synthetic_model()
    crops = np.rint(X[:3] * 255).astype(np.uint8)
    same = edit_crops(model, crops, 0.0)
    np.testing.assert_array_equal(same.crops, crops)
    half, full = edit_crops(model, crops, 0.5), edit_crops(model, crops, 1.0)
    np.testing.assert_allclose(half.motion, 0.5 * full.motion)
    assert np.abs(full.crops.astype(int) - crops).max() > 5


def test_model_file_round_trip_and_validation(tmp_path):
    model, X = _synthetic_model(texture_sigma=1.5, lower_gain=1.1)
    path = tmp_path / "st.safetensors"
    model.save(path)
    meta = read_metadata(path)
    assert meta["method"] == "shape-texture" and meta["texture_sigma"] == "1.5" and meta["mirror"] == "true"
    loaded = load_model(path)
    assert isinstance(loaded, ShapeTextureModel)
    assert (loaded.texture_sigma, loaded.lower_gain, loaded.n_pairs_) == (1.5, 1.1, 12)
    np.testing.assert_array_equal(loaded.displacement_, model.displacement_)
    np.testing.assert_allclose(loaded.predict(X[:2]), model.predict(X[:2]), atol=1e-6)

    from safetensors.numpy import load, save

    tensors = load(path.read_bytes())
    tensors["displacement"] = np.full_like(tensors["displacement"], np.nan)
    path.write_bytes(save(tensors, metadata=meta))
    with pytest.raises(ModelFileError, match="displacement tensor must be finite"):
        load_model(path)
    del tensors["displacement"]
    path.write_bytes(save(tensors, metadata=meta))
    with pytest.raises(ModelFileError, match="expected tensors bias, displacement, weights"):
        load_model(path)


def test_photometric_normalisation_round_trip():
    rng = np.random.default_rng(3)
    x = rng.random((2, *SIZE, 3)).astype(np.float32)
    weights = np.zeros(SIZE, np.float32)
    weights[10:40, 8:32] = 1.0
    mean, std = face_statistics(x, weights)
    assert mean.shape == std.shape == (2, 3)
    inside = x[:, 10:40, 8:32]
    np.testing.assert_allclose(mean, inside.mean(axis=(1, 2)), atol=1e-5)
    np.testing.assert_allclose(std, inside.std(axis=(1, 2)), atol=1e-5)
    # an affine change of lighting (per channel) maps to the same canonical crop
    y = x * np.float32([0.5, 0.4, 0.3]) + np.float32([0.1, 0.05, 0.0])
    m2, s2 = face_statistics(y, weights)
    np.testing.assert_allclose(s2, std * [0.5, 0.4, 0.3], rtol=1e-4)
    canon = ([0.6, 0.5, 0.4], [0.15, 0.14, 0.13])
    np.testing.assert_allclose(to_canonical(y, m2, s2, *canon), to_canonical(x, mean, std, *canon), atol=1e-4)
    flat_mean, flat_std = face_statistics(np.full((*SIZE, 3), 0.3, np.float32), weights)
    np.testing.assert_allclose(flat_mean, 0.3, atol=1e-6)
    assert (flat_std > 0).all()  # floored: a flat crop is never divided by zero


def test_photometric_change_follows_the_crop_brightness_and_tint():
    model, X = _synthetic_model()
    assert model.photometric and model.photometric_std_.shape == (3,)
    tint = np.float32([0.7, 0.5, 0.35])  # dim, warm light: every channel's std below the canonical one
    bright, dim = X[0] * tint, X[0] * tint * np.float32(0.5)
    _, change_bright = model.edit_one(bright)
    _, change_dim = model.edit_one(dim)
    assert np.abs(change_bright).max() > 0.01
    np.testing.assert_allclose(change_dim, 0.5 * change_bright, atol=1e-5)
    # per channel, the change is scaled by the crop's contrast over the canonical one
    plain, _ = _synthetic_model(photometric=False)
    _, change_canonical = model.edit_one(X[0])
    assert abs(float(change_canonical.mean()) - 0.05) < 0.03
    ratio = change_bright.mean(axis=(0, 1)) / change_canonical.mean(axis=(0, 1))
    assert ratio[0] > ratio[1] > ratio[2]  # the warm tint keeps red, loses blue
    # the plain (absolute) change hardly depends on the lighting; the photometric one follows it
    assert plain.edit_one(dim)[1].mean() > 0.6 * plain.edit_one(X[0])[1].mean()
    assert change_dim.mean() < 0.4 * change_canonical.mean()
    # the factor is capped: a contrasty crop gets at most the canonical change
    contrasty = np.clip((X[0] - 0.5) * 1.5 + 0.5, 0, 1)
    assert (model._gain(face_statistics(contrasty, model._face_weights())[1]) <= 1.0).all()


def test_photometric_model_file_round_trip_and_old_files(tmp_path):
    from safetensors.numpy import load, save

    model, X = _synthetic_model(photometric_max_gain=0.9)
    path = tmp_path / "st.safetensors"
    model.save(path)
    meta = read_metadata(path)
    assert meta["photometric"] == "true" and meta["photometric_max_gain"] == "0.9"
    loaded = load_model(path)
    assert loaded.photometric and loaded.photometric_max_gain == 0.9
    np.testing.assert_array_equal(loaded.photometric_mean_, model.photometric_mean_)
    np.testing.assert_array_equal(loaded.photometric_std_, model.photometric_std_)
    dim = X[:2] * 0.4
    np.testing.assert_allclose(loaded.predict(dim), model.predict(dim), atol=1e-6)

    tensors = load(path.read_bytes())
    for key, value, message in (
        ("photometric_std", "0.1,0.2", "must have 3 values"),
        ("photometric_std", "0.1,0,0.1", r"photometric_std must be 3 numbers in \(0, 1\]"),
        ("photometric_mean", "a,b,c", "photometric metadata must be numbers"),
        ("photometric_max_gain", "nan", "photometric_max_gain must be a finite number > 0"),
        ("photometric", "yes", "photometric must be true or false"),
    ):
        path.write_bytes(save(tensors, metadata={**meta, key: value}))
        with pytest.raises(ModelFileError, match=message):
            load_model(path)
    path.write_bytes(save(tensors, metadata={k: v for k, v in meta.items() if k != "photometric_std"}))
    with pytest.raises(ModelFileError, match="lacks photometric_std"):
        load_model(path)

    # a file written before the lighting normalisation existed loads with it off and behaves as before
    plain, _ = _synthetic_model(photometric=False)
    plain.save(path)
    meta = read_metadata(path)
    assert meta["photometric"] == "false" and "photometric_mean" not in meta
    old = {k: v for k, v in meta.items() if k != "photometric"}
    path.write_bytes(save(load(path.read_bytes()), metadata=old))
    loaded = load_model(path)
    assert not loaded.photometric and loaded.photometric_mean_ is None
    np.testing.assert_allclose(loaded.predict(X[:2]), plain.predict(X[:2]), atol=1e-6)
    loaded.save(tmp_path / "again.safetensors")
    assert read_metadata(tmp_path / "again.safetensors")["photometric"] == "false"


def test_format_version_2_only_for_files_with_the_lighting_fields(tmp_path):
    from safetensors.numpy import load, save

    photometric, X = _synthetic_model()
    plain, _ = _synthetic_model(photometric=False)
    photometric.save(tmp_path / "p.safetensors")
    plain.save(tmp_path / "q.safetensors")
    meta = read_metadata(tmp_path / "p.safetensors")
    assert meta["format_version"] == "2" and meta["photometric"] == "true"
    assert read_metadata(tmp_path / "q.safetensors")["format_version"] == "1"
    # a reader of version 1 only would refuse the new file, not ignore its lighting fields; this one reads
    # both, and files written as version 1 before the marker existed still load with their lighting
    path = tmp_path / "p.safetensors"
    path.write_bytes(save(load(path.read_bytes()), metadata={**meta, "format_version": "1"}))
    loaded = load_model(path)
    assert loaded.photometric
    np.testing.assert_allclose(loaded.predict(X[:1] * 0.5), photometric.predict(X[:1] * 0.5), atol=1e-6)


def test_crops_of_another_size_are_refused_like_the_paper_mr():
    from mr_core import MaskedRegression

    model, X = _synthetic_model()
    small = np.zeros((2, 24, 20, 3), np.uint8)
    with pytest.raises(DataError, match="the crop is 24x20x3 but the model expects 48x40x3"):
        edit_crops(model, small)
    with pytest.raises(DataError, match="expects 48x40x3"):
        model.edit_one(np.zeros((*SIZE, 1), np.float32))
    with pytest.raises(DataError, match="expects 48x40x3"):
        model.predict(X[:1, :24, :20])
    mr = MaskedRegression(3, 0.4).fit(X[:4], X[:4])
    with pytest.raises(DataError, match="but the model expects 48x40x3"):
        edit_crops(mr, small)


def test_bad_settings_and_order():
    with pytest.raises(InvalidParameterError, match="photometric_max_gain must be a finite number > 0"):
        ShapeTextureModel(template=DEFAULT_TEMPLATE, photometric_max_gain=0).fit_shape(
            np.zeros((1, 3, 2)), np.zeros((1, 3, 2)), SIZE
        )
    with pytest.raises(InvalidParameterError, match="template is required"):
        ShapeTextureModel().fit_shape(np.zeros((1, 3, 2)), np.zeros((1, 3, 2)), SIZE)
    with pytest.raises(InvalidParameterError, match="texture_sigma must be a finite number >= 0"):
        ShapeTextureModel(template=DEFAULT_TEMPLATE, texture_sigma=-1).fit_shape(
            np.zeros((1, 3, 2)), np.zeros((1, 3, 2)), SIZE
        )
    with pytest.raises(NotFittedError, match="fit_shape"):
        ShapeTextureModel(template=DEFAULT_TEMPLATE).partial_fit(
            np.zeros((1, *SIZE, 3)), np.zeros((1, *SIZE, 3))
        )
    model, _ = _synthetic_model()
    with pytest.raises(DataError, match="RGB crops of 48x40"):
        model.partial_fit(np.zeros((1, 10, 10, 3)), np.zeros((1, 10, 10, 3)))


def test_cli_shape_texture_needs_align(tmp_path):
    proc = run_cli("train", "--method", "shape-texture", "--source-dir", tmp_path, "--target-dir", tmp_path)
    assert proc.returncode == 2 and "needs --align" in proc.stderr and "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def london_model(tmp_path_factory):
    from conftest import LONDON

    if not (LONDON / "neutral").is_dir():
        pytest.skip("the London face set is not here (../shared/data/london)")
    tmp = tmp_path_factory.mktemp("st")
    src, tgt = tmp / "neutral", tmp / "smiling"
    src.mkdir()
    tgt.mkdir()
    names = sorted(p.name for p in (LONDON / "neutral").glob("*.jpg"))[:24]
    for n in names:
        (src / n).symlink_to(LONDON / "neutral" / n)
        (tgt / n).symlink_to(LONDON / "smiling" / n)
    held = tmp / "held.txt"
    held.write_text("\n".join(n[:-4] for n in names[-3:]) + "\n")
    path = tmp / "smile.safetensors"
    proc = run_cli(
        "train", "--align", "--method", "shape-texture", "--source-dir", src, "--target-dir", tgt,
        "--exclude-file", held, "-o", path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "(shape-texture) on 21 pairs" in proc.stdout
    return path, src, tgt, held


def test_cli_trained_shape_texture_model_smiles_sharply(london_model, tmp_path):
    path, src, tgt, held = london_model
    out = tmp_path / "eval"
    proc = run_cli("evaluate", "--model", path, "--source-dir", src, "--target-dir", tgt, "--pairs-file", held,
                   "--quiet", "-o", out)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    s = json.loads((out / "report.json").read_text())["summary"]
    assert s["score_output"] > s["score_input"] + 0.15  # a real smile
    assert s["sharpness"] > 0.6  # far sharper than the paper's MR (about 0.3)
    assert s["eye_ssim"] > 0.8


def test_photo_synthesis_moves_pixels_only_around_the_face(london_model):
    from conftest import LONDON

    model = load_model(london_model[0])
    photo = read_image(LONDON / "neutral" / "002.jpg").rgb
    result = synthesize(photo, model)
    diff = np.abs(result.image.astype(int) - photo.astype(int)).sum(axis=2)
    ys, xs = np.nonzero(diff)
    assert len(ys) > 1000 and diff.max() > 30
    box_x, box_y, box_w, box_h = result.faces[0].box
    # every changed pixel is near the face; the rest of the photo is bit-identical
    assert ys.min() > box_y - 0.6 * box_h and ys.max() < box_y + 1.6 * box_h
    assert xs.min() > box_x - 0.6 * box_w and xs.max() < box_x + 1.6 * box_w
    np.testing.assert_array_equal(synthesize(photo, model, intensity=0).image, photo)
    crop = align_photo(photo)
    np.testing.assert_array_equal(result.faces[0].crop_in, crop)
