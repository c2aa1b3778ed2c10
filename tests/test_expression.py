"""The shape-texture method: training, model files, crop editing, photo synthesis and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import run_cli

from mr_core import load_model
from mr_core.errors import DataError, InvalidParameterError, ModelFileError, NotFittedError
from mr_core.expression import ShapeTextureModel, edit_crops
from mr_core.face import DEFAULT_TEMPLATE, align_photo, default_detector
from mr_core.imageio import read_image
from mr_core.modelfile import read_metadata
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


def test_bad_settings_and_order():
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
    result = synthesize(photo, model, detector=default_detector())
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
