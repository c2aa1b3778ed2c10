"""CPU backend: plain NumPy."""

from __future__ import annotations

import platform

import numpy as np

from mr_core.core.backend import ArrayBackend

name = "numpy"


def load() -> ArrayBackend:
    cpu = platform.processor() or platform.machine() or "CPU"
    return ArrayBackend(
        name=name,
        xp=np,
        to_numpy=np.asarray,
        synchronize=lambda: None,
        description=f"CPU (NumPy {np.__version__}, {cpu})",
    )
