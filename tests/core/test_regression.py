"""MaskedRegression against a literal, per-pixel implementation of the paper's formula."""

from __future__ import annotations

import numpy as np
import pytest

from mr_core import MaskedRegression
from mr_core.core.backend import backend_names, get_backend
from mr_core.errors import BackendError, DataError, InvalidParameterError, NotFittedError


def _working_backends() -> list:
    params = []
    for name in backend_names():
        try:
            get_backend(name)
        except BackendError as exc:
            params.append(pytest.param(name, marks=pytest.mark.skip(reason=str(exc))))
        else:
            params.append(name)
    return params


BACKENDS = _working_backends()


def oracle_fit_predict(X, Y, rf, lam, Xtest):
    """The paper's MR, written as literally as possible (slow): one ridge problem per output pixel.

    The window is clipped at the border (pixels outside do not exist), there is one bias per pixel,
    and the bias is penalised too.
    """
    n, h, w, c = X.shape
    r = rf // 2
    out = np.zeros((Xtest.shape[0], h, w, c))
    for ch in range(c):
        for i in range(h):
            for j in range(w):
                window = [
                    (a, b)
                    for a in range(max(0, i - r), min(h, i + r + 1))
                    for b in range(max(0, j - r), min(w, j + r + 1))
                ]
                F = np.array([[X[k, a, b, ch] for (a, b) in window] + [1.0] for k in range(n)])
                t = Y[:, i, j, ch]
                wb = np.linalg.solve(F.T @ F + lam * np.eye(F.shape[1]), F.T @ t)
                Ft = np.array([[Xtest[k, a, b, ch] for (a, b) in window] + [1.0] for k in range(len(Xtest))])
                out[:, i, j, ch] = Ft @ wb
    return out


def _data(seed, n, h, w, c):
    rng = np.random.default_rng(seed)
    X = rng.random((n, h, w, c))
    # Targets that really depend on the neighbourhood, plus noise: a non-trivial regression.
    Y = 0.5 * X + 0.25 * np.roll(X, 1, axis=1) + 0.1 * rng.random((n, h, w, c))
    Xt = rng.random((3, h, w, c))
    return X, Y, Xt


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("rf", [1, 3, 5, 7])
@pytest.mark.parametrize("shape", [(9, 7, 1), (6, 11, 3)])  # gray and RGB, non-square
def test_matches_literal_oracle(backend, rf, shape):
    h, w, c = shape
    X, Y, Xt = _data(rf, 12, h, w, c)
    lam = 0.4
    expected = oracle_fit_predict(X, Y, rf, lam, Xt)
    m64 = MaskedRegression(receptive_field=rf, lam=lam, backend=backend, dtype="float64").fit(X, Y)
    np.testing.assert_allclose(m64.predict(Xt), expected, rtol=0, atol=1e-8)
    m32 = MaskedRegression(receptive_field=rf, lam=lam, backend=backend, dtype="float32").fit(X, Y)
    P32 = m32.predict(Xt)
    assert P32.dtype == np.float32 and isinstance(P32, np.ndarray)
    np.testing.assert_allclose(P32, expected, rtol=0, atol=2e-4)


@pytest.mark.parametrize("backend", BACKENDS)
def test_window_larger_than_image_and_borders(backend):
    # rf 7 on a 3x4 image: every window is clipped on several sides.
    X, Y, Xt = _data(1, 10, 3, 4, 1)
    expected = oracle_fit_predict(X, Y, 7, 0.1, Xt)
    m = MaskedRegression(receptive_field=7, lam=0.1, backend=backend, dtype="float64").fit(X, Y)
    np.testing.assert_allclose(m.predict(Xt), expected, atol=1e-8)


@pytest.mark.parametrize("backend", BACKENDS)
def test_partial_fit_in_chunks_equals_fit(backend):
    X, Y, Xt = _data(3, 70, 10, 8, 3)
    full = MaskedRegression(receptive_field=3, lam=0.4, backend=backend, dtype="float64").fit(X, Y)
    chunked = MaskedRegression(receptive_field=3, lam=0.4, backend=backend, dtype="float64")
    for a, b in [(0, 1), (1, 20), (20, 21), (21, 70)]:
        chunked.partial_fit(X[a:b], Y[a:b])
    assert chunked.n_pairs_ == full.n_pairs_ == 70
    np.testing.assert_allclose(chunked.weights_, full.weights_, atol=1e-10)
    np.testing.assert_allclose(chunked.bias_, full.bias_, atol=1e-10)
    np.testing.assert_allclose(chunked.predict(Xt), full.predict(Xt), atol=1e-10)


def test_fit_resets_previous_data():
    X, Y, Xt = _data(4, 8, 5, 5, 1)
    X2, Y2, _ = _data(5, 8, 5, 5, 1)
    m = MaskedRegression(dtype="float64").fit(X, Y).fit(X2, Y2)
    fresh = MaskedRegression(dtype="float64").fit(X2, Y2)
    np.testing.assert_allclose(m.predict(Xt), fresh.predict(Xt), atol=1e-12)
    assert m.n_pairs_ == 8


def test_single_image_and_learned_maps_shapes():
    X, Y, Xt = _data(6, 5, 6, 7, 3)
    m = MaskedRegression(receptive_field=5).fit(X, Y)
    assert m.weights_.shape == (25, 6, 7, 3) and m.bias_.shape == (6, 7, 3)
    assert m.image_size_ == (6, 7) and m.channels_ == 3
    np.testing.assert_allclose(m.predict(Xt[0]), m.predict(Xt)[0])


def test_identity_mapping_is_learned_with_small_lambda():
    rng = np.random.default_rng(7)
    X = rng.random((40, 6, 6, 1))
    m = MaskedRegression(receptive_field=3, lam=1e-6, dtype="float64").fit(X, X)
    centre = m.weights_[4]
    np.testing.assert_allclose(centre, 1.0, atol=1e-3)
    np.testing.assert_allclose(m.predict(X[:2]), X[:2], atol=1e-4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"receptive_field": 2}, "receptive_field must be an odd integer from 1 to 15, got 2"),
        ({"receptive_field": 0}, "receptive_field must be an odd integer from 1 to 15, got 0"),
        ({"receptive_field": 3.0}, "receptive_field must be an odd integer"),
        ({"receptive_field": 17}, "receptive_field must be an odd integer from 1 to 15, got 17"),
        ({"lam": 0}, "lam must be a finite number > 0, got 0"),
        ({"lam": -1.0}, "lam must be a finite number > 0"),
        ({"lam": float("nan")}, "lam must be a finite number > 0"),
        ({"dtype": "float16"}, "dtype must be one of float32, float64"),
        ({"scaling": "zscore"}, "scaling must be one of unit, minmax"),
    ],
)
def test_bad_parameters_are_refused_on_fit(kwargs, message):
    X, Y, _ = _data(0, 3, 4, 4, 1)
    m = MaskedRegression(**kwargs)  # __init__ only stores
    with pytest.raises(InvalidParameterError, match=message):
        m.fit(X, Y)


def test_unknown_backend_lists_installed_ones():
    X, Y, _ = _data(0, 3, 4, 4, 1)
    with pytest.raises(BackendError, match=r"unknown backend 'tpu'; installed backends: auto, numpy, cupy"):
        MaskedRegression(backend="tpu").fit(X, Y)


@pytest.mark.parametrize(
    ("X", "Y", "message"),
    [
        (np.zeros((2, 4, 4, 1)), np.zeros((3, 4, 4, 1)), "same shape"),
        (np.zeros((0, 4, 4, 1)), np.zeros((0, 4, 4, 1)), "empty"),
        (np.zeros((4, 4, 1)), np.zeros((4, 4, 1)), r"shape \(n, h, w, c\)"),
        (np.zeros((2, 4, 4, 2)), np.zeros((2, 4, 4, 2)), "1 \\(gray\\) or 3 \\(RGB\\) channels"),
        (np.full((2, 4, 4, 1), np.nan), np.zeros((2, 4, 4, 1)), "NaN or infinite"),
    ],
)
def test_bad_data_is_refused(X, Y, message):
    with pytest.raises(DataError, match=message):
        MaskedRegression().fit(X, Y)


def test_size_mismatch_between_chunks_and_at_predict():
    X, Y, _ = _data(0, 3, 4, 4, 1)
    m = MaskedRegression().fit(X, Y)
    with pytest.raises(DataError, match="model was started on 4x4x1"):
        m.partial_fit(np.zeros((1, 5, 4, 1)), np.zeros((1, 5, 4, 1)))
    with pytest.raises(DataError, match="model expects 4x4x1"):
        m.predict(np.zeros((1, 4, 4, 3)))


def test_predict_before_fit_raises():
    with pytest.raises(NotFittedError, match="not fitted"):
        MaskedRegression().predict(np.zeros((1, 4, 4, 1)))


def test_auto_backend_runs_everywhere():
    X, Y, Xt = _data(0, 5, 4, 4, 3)
    auto = MaskedRegression(backend="auto", dtype="float64").fit(X, Y)
    ref = MaskedRegression(backend="numpy", dtype="float64").fit(X, Y)
    np.testing.assert_allclose(auto.predict(Xt), ref.predict(Xt), atol=1e-8)


def test_float32_with_a_tiny_lambda_is_refused_not_nan():
    rng = np.random.default_rng(0)
    X, Y = rng.random((4, 16, 16, 3)), rng.random((4, 16, 16, 3))
    with pytest.raises(DataError, match="too ill-conditioned for dtype float32 with lam 1e-08"):
        MaskedRegression(3, 1e-8, dtype="float32").fit(X, Y).predict(X)
    assert np.isfinite(MaskedRegression(3, 1e-8, dtype="float64").fit(X, Y).predict(X)).all()
