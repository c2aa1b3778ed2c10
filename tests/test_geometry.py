"""Geometry and the shape + texture recipe (mr_core.geometry): exact math checks, and the recipe on real crops."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mr_core import MaskedRegression
from mr_core import geometry as en
from mr_core.errors import DataError, InvalidParameterError

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
LONDON = DATA / "london"


def _rand(shape, seed=0):
    return np.random.default_rng(seed).random(shape).astype(np.float32)


# ----------------------------------------------------------------------------- frequencies


def test_lowpass_zero_is_identity_and_keeps_constants():
    x = _rand((20, 24, 3))
    assert np.array_equal(en.lowpass(x, 0), x)
    c = np.full((20, 24, 3), 0.3, np.float32)
    np.testing.assert_allclose(en.lowpass(c, 2.5), c, atol=1e-6)
    # a blur lowers the energy of noise
    assert en.lowpass(x, 2).var() < 0.2 * x.var()


# ----------------------------------------------------------------------------- mirroring


def test_mirror_images_flip_and_template_axis():
    X = _rand((2, 5, 6, 3))
    np.testing.assert_array_equal(en.mirror_images(X), X[:, :, ::-1])
    np.testing.assert_array_equal(en.mirror_images(en.mirror_images(X)), X)
    # about x = W / 2 (the alignment templates' axis): column c <- column W - c, edge repeated
    m = en.mirror_images(X, axis_x=3.0)
    np.testing.assert_array_equal(m[:, :, 1:], X[:, :, 5:0:-1])
    np.testing.assert_array_equal(m[:, :, 0], X[:, :, 5])
    with pytest.raises(InvalidParameterError):
        en.mirror_images(X, axis_x=2.3)


def test_mirror_pairs_doubles_and_flips_both_sides():
    X, Y = _rand((3, 4, 6, 3), 1), _rand((3, 4, 6, 3), 2)
    A, B = en.mirror_pairs(X, Y)
    assert A.shape == B.shape == (6, 4, 6, 3)
    np.testing.assert_array_equal(A[:3], X)
    np.testing.assert_array_equal(A[3:], X[:, :, ::-1])
    np.testing.assert_array_equal(B[3:], Y[:, :, ::-1])
    with pytest.raises(DataError):
        en.mirror_pairs(X, Y[:2])


def test_landmark_mirror_index_pairs_symmetric_points():
    pts = np.array([[2.0, 1.0], [8.0, 1.0], [5.0, 4.0], [3.0, 7.0], [7.0, 7.0]])
    np.testing.assert_array_equal(en.landmark_mirror_index(pts, 5.0), [1, 0, 2, 4, 3])


# ----------------------------------------------------------------------------- warps


def test_tps_interpolates_and_reproduces_affine_maps():
    rng = np.random.default_rng(3)
    src = rng.random((12, 2)) * 50
    dst = src + rng.normal(0, 2, src.shape)
    p = en.tps_fit(src, dst)
    np.testing.assert_allclose(en.tps_transform(p, src), dst, atol=1e-6)
    A = np.array([[1.1, 0.2], [-0.1, 0.9]])
    aff = src @ A.T + [3.0, -2.0]
    q = en.tps_fit(src, aff)
    other = rng.random((30, 2)) * 50
    np.testing.assert_allclose(en.tps_transform(q, other), other @ A.T + [3.0, -2.0], atol=1e-6)
    with pytest.raises(DataError):
        en.tps_fit(src[:2], dst[:2])


def test_identity_warp_is_exact():
    x = _rand((24, 30, 3))
    pts = np.array([[10.0, 8.0], [20.0, 9.0], [15.0, 16.0]])
    m = en.backward_map(pts, pts, (24, 30))
    np.testing.assert_allclose(m, en.identity_map((24, 30)), atol=1e-4)
    np.testing.assert_array_equal(en.warp_image(x, en.identity_map((24, 30))), x)


def test_warp_moves_points_where_asked():
    h, w = 64, 64
    yy, xx = np.mgrid[0:h, 0:w]
    src_pt = np.array([30.0, 34.0])
    dst_pt = src_pt + [4.0, -3.0]
    blob = np.exp(-((xx - src_pt[0]) ** 2 + (yy - src_pt[1]) ** 2) / (2 * 2.0**2)).astype(np.float32)
    # the moved point plus fixed points around it (the border is fixed by default)
    fixed = np.array([[12.0, 12.0], [52.0, 12.0], [12.0, 52.0], [52.0, 52.0]])
    m = en.backward_map(np.vstack([dst_pt, fixed]), np.vstack([src_pt, fixed]), (h, w), step=2)
    out = en.warp_image(blob, m, "linear")
    peak = np.unravel_index(np.argmax(out), out.shape)
    assert abs(peak[1] - dst_pt[0]) <= 1 and abs(peak[0] - dst_pt[1]) <= 1
    # the border barely moves (exactly at the anchors, within 0.1 px between them, for a 5 px motion)
    np.testing.assert_allclose(m[0], en.identity_map((h, w))[0], atol=0.1)
    np.testing.assert_allclose(m[:, -1], en.identity_map((h, w))[:, -1], atol=0.1)
    np.testing.assert_allclose(m[0, 0], [0, 0], atol=1e-4)


def test_suppress_small_motion():
    base = en.identity_map((10, 10))
    m = base.copy()
    m[:5, :, 0] += 0.1  # small motion: removed
    m[5:, :, 0] += 2.0  # large motion: kept
    out = en.suppress_small_motion(m, 0.25, 0.75)
    np.testing.assert_array_equal(out[:5], base[:5])
    np.testing.assert_allclose(out[5:], m[5:], atol=1e-6)
    np.testing.assert_array_equal(en.suppress_small_motion(m, 0.0, 0.0), m)
    with pytest.raises(InvalidParameterError):
        en.suppress_small_motion(m, 1.0, 0.5)


def test_expression_flow_map_identity_and_symmetry():
    rng = np.random.default_rng(4)
    half = rng.random((6, 2)) * [20, 40] + [4, 10]
    mirror = half.copy()
    mirror[:, 0] = 64 - mirror[:, 0]
    shape_pts = np.vstack([half, mirror])[None].repeat(3, 0) + rng.normal(0, 0.3, (3, 12, 2))
    m0 = en.expression_flow_map(shape_pts, shape_pts, (64, 64), axis_x=32.0)
    np.testing.assert_array_equal(m0, en.identity_map((64, 64)))  # no change, no motion
    moved = shape_pts.copy()
    moved[:, :, 1] -= 2.0 * (shape_pts[:, :, 1] > 30)  # lower points move up
    m = en.expression_flow_map(shape_pts, moved, (64, 64), axis_x=32.0, deadzone=None)
    d = m - en.identity_map((64, 64))
    # left/right symmetric: dy(x) = dy(64 - x), dx(x) = -dx(64 - x)
    np.testing.assert_allclose(d[:, 1:, 1], d[:, :0:-1, 1], atol=1e-3)
    np.testing.assert_allclose(d[:, 1:, 0], -d[:, :0:-1, 0], atol=1e-3)
    assert d[..., 1].max() > 1.0  # output samples from below: content moves up


# ----------------------------------------------------------------------------- real crops


def test_recipe_on_london_crops_makes_a_sharp_smile():
    if not (LONDON / "neutral").is_dir():
        pytest.skip(f"London set not found under {LONDON}")
    from mr_core.evaluation.evaluate import sharpness_ratio
    from mr_core.face import align_photo
    from mr_core.face.landmarks import Landmarker, expression_score
    from mr_core.imageio import read_image

    names = sorted(p.stem for p in (LONDON / "neutral").glob("*.jpg"))[:24]
    train, test = names[:20], names[20:]
    size = (96, 96)
    with Landmarker() as lm:

        def load(kind, n):
            crop = align_photo(read_image(LONDON / kind / f"{n}.jpg").rgb, size=size)
            return crop, lm.analyze(crop)

        X, Y, LX, LY = [], [], [], []
        for n in train:
            (cx, ax), (cy, ay) = load("neutral", n), load("smiling", n)
            X.append(cx)
            Y.append(cy)
            LX.append(ax.landmarks)
            LY.append(ay.landmarks)
        axis = size[1] / 2
        flow = en.expression_flow_map(LX, LY, size, axis_x=axis, lower_gain=1.2, lower_from=0.456 * size[0])
        A, D = en.texture_pairs(np.asarray(X) / 255.0, np.asarray(Y) / 255.0, flow, mirror_axis=axis)
        assert A.shape[0] == 2 * len(train)
        model = MaskedRegression(receptive_field=3, lam=0.4).fit(A, D)
        gains, sharp = [], []
        for n in test:
            crop, a_in = load("neutral", n)
            x = crop / 255.0
            warped = en.warp_image(x.astype(np.float32), flow)
            out = np.clip(warped + en.lowpass(model.predict(warped), 2.0), 0, 1)
            a_out = lm.analyze((out * 255).round().astype(np.uint8))
            assert a_out is not None
            gains.append(
                expression_score(a_out.blendshapes, "smiling") - expression_score(a_in.blendshapes, "smiling")
            )
            sharp.append(sharpness_ratio(out, x))
    assert np.mean(gains) > 0.15
    assert np.mean(sharp) > 0.7


def test_photo_sampling_map_scales_crop_motion_to_the_photo():
    disp = np.zeros((16, 16, 2), np.float32)
    m = np.array([[0.25, 0.0, -2.0], [0.0, 0.25, -1.0]])  # photo pixel -> crop pixel (4x smaller)
    box = (8, 4, 72, 68)
    ident = en.photo_sampling_map(disp, m, box)
    np.testing.assert_allclose(ident, en.identity_map((64, 64)), atol=1e-5)
    disp[..., 0] = 1.0  # one crop pixel to the right = four photo pixels
    moved = en.photo_sampling_map(disp, m, box)
    inside = moved[20:40, 20:40] - en.identity_map((64, 64))[20:40, 20:40]
    np.testing.assert_allclose(inside[..., 0], 4.0, atol=1e-4)
    np.testing.assert_allclose(inside[..., 1], 0.0, atol=1e-4)
    with pytest.raises(InvalidParameterError):
        en.photo_sampling_map(disp, m, (10, 10, 5, 20))
