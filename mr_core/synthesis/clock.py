"""Seconds spent per stage of a synthesis, for reports and benchmarks."""

from __future__ import annotations

import time


class StageClock:
    """Seconds per stage name.  One clock per thread (no locks); :meth:`merge` adds others' in."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def add(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + float(seconds)

    def since(self, stage: str, t0: float) -> float:
        """Add the time since ``t0`` (:func:`time.perf_counter`) to ``stage``; returns now."""
        t = time.perf_counter()
        self.add(stage, t - t0)
        return t

    def merge(self, *others: StageClock) -> StageClock:
        for other in others:
            for stage, s in other.seconds.items():
                self.add(stage, s)
        return self

    def report(self, stages) -> dict[str, float]:
        """The seconds of ``stages``, in their order (0 for those not timed)."""
        return {k: self.seconds.get(k, 0.0) for k in stages}
