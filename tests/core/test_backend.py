"""Backend registry: built-ins, entry-point plugins, auto selection, clear errors."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

from mr_core import MaskedRegression
from mr_core.core import backend
from mr_core.errors import BackendError


@pytest.fixture
def plugin_env(tmp_path, monkeypatch):
    """Install two third-party backends (one working, one broken) as a real distribution on sys.path."""
    (tmp_path / "toy_mr_backend.py").write_text(
        textwrap.dedent(
            """
            import numpy
            from mr_core.core.backend import ArrayBackend
            calls = []
            def load():
                calls.append("load")
                return ArrayBackend(name="toy", xp=numpy, to_numpy=numpy.asarray,
                                    synchronize=lambda: None, description="toy CPU backend")
            """
        )
    )
    dist = tmp_path / "toy_mr_backend-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-mr-backend\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[mr_core.backends]\ntoy = toy_mr_backend\nbroken = no_such_module_here\nnumpy = toy_mr_backend\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    backend._plugin_entry_points.cache_clear()
    saved = dict(backend._loaded)
    yield
    backend._plugin_entry_points.cache_clear()
    backend._loaded.clear()
    backend._loaded.update(saved)
    sys.modules.pop("toy_mr_backend", None)


def test_builtin_numpy_backend():
    be = backend.get_backend("numpy")
    assert be.name == "numpy" and be.xp is np
    assert "CPU" in backend.describe_backend("numpy")
    assert "numpy" in backend.available_backends()


def test_entry_point_plugin_is_discovered_and_used(plugin_env):
    with pytest.warns(UserWarning, match="reserved"):
        names = backend.backend_names()
    assert names[:2] == ["numpy", "cupy"] and "toy" in names and "broken" in names
    rng = np.random.default_rng(0)
    X, Y = rng.random((6, 5, 5, 1)), rng.random((6, 5, 5, 1))
    toy = MaskedRegression(backend="toy", dtype="float64").fit(X, Y)
    ref = MaskedRegression(backend="numpy", dtype="float64").fit(X, Y)
    np.testing.assert_allclose(toy.predict(X), ref.predict(X))
    assert sys.modules["toy_mr_backend"].calls == ["load"]  # loaded once, then cached


@pytest.mark.filterwarnings("ignore:ignoring backend plugin 'numpy'")
def test_broken_plugin_warns_and_raises_one_line(plugin_env):
    with pytest.warns(UserWarning, match="'broken'.*failed to import"):
        available = backend.available_backends()
    assert "toy" in available and "broken" not in available
    with pytest.raises(BackendError, match="backend plugin 'broken'.*failed to import") as info:
        backend.get_backend("broken")
    assert "\n" not in str(info.value)


def test_cupy_unavailable_is_one_clear_line():
    try:
        import cupy  # noqa: F401
    except ImportError:
        pass
    else:
        try:
            backend.get_backend("cupy")
        except BackendError:
            pass
        else:
            pytest.skip("CuPy runs on this machine")
    with pytest.raises(BackendError) as info:
        backend.get_backend("cupy")
    message = str(info.value)
    assert message.startswith("backend 'cupy' cannot run: ") and "\n" not in message
    # auto falls back to NumPy where CuPy cannot run
    assert backend.get_backend("auto").name == "numpy"


def test_cupy_matches_numpy_when_a_gpu_works():
    pytest.importorskip("cupy")
    try:
        backend.get_backend("cupy")
    except BackendError as exc:
        pytest.skip(str(exc))
    rng = np.random.default_rng(1)
    X, Y = rng.random((50, 32, 24, 3)), rng.random((50, 32, 24, 3))
    for dtype, tol in (("float64", 1e-9), ("float32", 2e-4)):
        gpu = MaskedRegression(backend="cupy", dtype=dtype).fit(X, Y)
        cpu = MaskedRegression(backend="numpy", dtype=dtype).fit(X, Y)
        P = gpu.predict(X[:4])
        assert isinstance(P, np.ndarray)
        np.testing.assert_allclose(P, cpu.predict(X[:4]), atol=tol)
    assert backend.get_backend("auto").name == "cupy"
