"""GPU backend: CuPy on an NVIDIA CUDA device (optional: ``pip install cupy-cuda12x``)."""

from __future__ import annotations

from mr_core.core.backend import ArrayBackend
from mr_core.errors import BackendError

name = "cupy"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def load() -> ArrayBackend:
    try:
        import cupy
    except ImportError as exc:
        raise BackendError(
            f"backend 'cupy' cannot run: CuPy is not installed ({_first_line(exc)}); "
            "install it with `pip install cupy-cuda12x` on a machine with an NVIDIA GPU"
        ) from None
    try:
        if not cupy.cuda.is_available():
            raise BackendError("backend 'cupy' cannot run: no CUDA device is available on this machine")
        # A tiny real allocation and kernel: is_available() alone can pass on a broken driver.
        probe = cupy.arange(4, dtype=cupy.float32)
        if float((probe * 2).sum().get()) != 12.0:
            raise BackendError("backend 'cupy' cannot run: a test computation on the GPU gave a wrong result")
        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        device_name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    except BackendError:
        raise
    except Exception as exc:  # CUDA raises many unrelated types (runtime, driver, compiler errors)
        raise BackendError(f"backend 'cupy' cannot run: {_first_line(exc)}") from None

    def synchronize() -> None:
        cupy.cuda.Device().synchronize()

    return ArrayBackend(
        name=name,
        xp=cupy,
        to_numpy=cupy.asnumpy,
        synchronize=synchronize,
        description=f"GPU (CuPy {cupy.__version__}, {device_name})",
    )
