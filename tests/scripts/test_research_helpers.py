"""Research-only helpers of scripts/ (scripts/research_helpers.py)."""

from __future__ import annotations

import numpy as np
import pytest

from mr_core.errors import DataError, InvalidParameterError, MRError
from mr_core.geometry import lowpass
from scripts.research_helpers import detail_transfer


def _rand(shape, seed=0):
    return np.random.default_rng(seed).random(shape).astype(np.float32)


def test_detail_transfer_limits():
    x, y = _rand((32, 32, 3), 1), _rand((32, 32, 3), 2)
    np.testing.assert_array_equal(detail_transfer(x, y, 0), y)
    # y differs from x by a smooth change -> the change is applied exactly, x's detail is kept
    yy, xx = np.mgrid[0:32, 0:32] / 32.0
    smooth = (0.1 * np.sin(xx) * np.cos(yy))[..., None].astype(np.float32)
    np.testing.assert_allclose(detail_transfer(x, x + 0.2, 3), x + 0.2, atol=1e-5)
    out = detail_transfer(x, x + smooth, 1.0)
    np.testing.assert_allclose(out[4:-4, 4:-4], (x + smooth)[4:-4, 4:-4], atol=1e-3)  # border: reflection
    # identical to lowpass(y) + highpass(x)
    np.testing.assert_allclose(
        detail_transfer(x, y, 1.5), lowpass(y, 1.5) + x - lowpass(x, 1.5), atol=1e-5
    )


def test_detail_transfer_errors():
    x = _rand((8, 8, 3))
    with pytest.raises(InvalidParameterError):
        detail_transfer(x, x, -1)
    with pytest.raises(DataError):
        detail_transfer(x, x[:4], 1)
    assert issubclass(InvalidParameterError, MRError)
