"""The server's temporary files, bounded: swept when it starts and on a schedule.

Everything the app writes for a request goes under one folder, Gradio's upload folder (uploads,
Gradio's copies of results, the Video tab's results, the sessions' models): :class:`TempSweeper`
removes there the files older than :data:`MAX_AGE` (what Gradio's own ``delete_cache`` does with
the files it knows of, but also those a killed server, an interrupted upload or a failed request
left behind), the empty folders, and, while the folder holds more than :data:`MAX_BYTES`, the oldest
files (never one younger than :data:`MIN_AGE`, which a request may still be using, and never one the
page still offers: the examples' copies, which Gradio makes once when the page is built).
:func:`lifespan` runs it when the server starts and every :data:`EVERY` seconds, sweeps the
sessions' models that are over their time to live, and removes every session's models when the
server stops.

Nothing here knows Gradio (the lifespan takes the app Gradio gives it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "EVERY",
    "MAX_AGE",
    "MAX_BYTES",
    "MIN_AGE",
    "Housekeeping",
    "SweepReport",
    "TempSweeper",
    "lifespan",
]

log = logging.getLogger("demo")

#: Seconds after which a temporary file is removed (as Gradio's delete_cache, and the models' time to live).
MAX_AGE = 3600.0
#: Bytes the temporary folder may hold; above it the oldest files go first.
MAX_BYTES = 2_000_000_000
#: Files younger than this (seconds) are never removed to make room (a request may be using them).
MIN_AGE = 120.0
#: Seconds between sweeps while the server runs.
EVERY = 300.0


@dataclass
class SweepReport:
    files_removed: int = 0
    folders_removed: int = 0
    bytes_removed: int = 0
    bytes_left: int = 0


class TempSweeper:
    """Keep the folder ``root`` within ``max_age`` seconds and ``max_bytes`` bytes; ``keep`` gives, at each
    sweep, the paths that stay whatever their age (the files the page's examples point to)."""

    def __init__(
        self,
        root: str | os.PathLike,
        *,
        max_age: float = MAX_AGE,
        max_bytes: int = MAX_BYTES,
        min_age: float = MIN_AGE,
        keep: Callable[[], Iterable[str | os.PathLike]] | None = None,
    ) -> None:
        self.root = Path(root)
        self.max_age, self.max_bytes, self.min_age = float(max_age), int(max_bytes), float(min_age)
        self.keep = keep

    def sweep(self, now: float | None = None) -> SweepReport:
        """Remove what is too old, then the oldest files while over the byte budget."""
        now = time.time() if now is None else now
        report = SweepReport()
        if not self.root.is_dir():
            return report
        kept: list[tuple[float, int, Path]] = []  # (mtime, size, path)
        offered = {os.path.abspath(p) for p in self.keep()} if self.keep is not None else set()
        swept: set[str] = set()  # folders this sweep removed something from
        for folder, _dirs, files in os.walk(self.root, topdown=False):
            for name in files:
                path = Path(folder) / name
                if os.path.abspath(path) in offered:
                    continue
                try:
                    st = path.lstat()
                except OSError:
                    continue
                # written, or copied with its old time kept (ctime): whichever is later
                changed = max(st.st_mtime, st.st_ctime)
                if now - changed > self.max_age:
                    if self._remove(path, st.st_size, report):
                        swept.add(folder)
                else:
                    kept.append((changed, st.st_size, path))
            if Path(folder) != self.root:
                with contextlib.suppress(OSError):
                    if folder in swept or now - Path(folder).lstat().st_mtime > self.min_age:
                        os.rmdir(folder)  # only when empty
                        report.folders_removed += 1
                        swept.add(os.path.dirname(folder))
        total = sum(size for _, size, _ in kept)
        for mtime, size, path in sorted(kept):
            if total <= self.max_bytes or now - mtime < self.min_age:
                break
            if self._remove(path, size, report):
                total -= size
        report.bytes_left = total
        return report

    @staticmethod
    def _remove(path: Path, size: int, report: SweepReport) -> bool:
        try:
            path.unlink()
        except OSError:
            return False
        report.files_removed += 1
        report.bytes_removed += size
        return True


class Housekeeping:
    """What :func:`lifespan` runs for one app: the temporary folder's sweeper and the sessions' store."""

    def __init__(self, sweeper: TempSweeper, store=None, every: float = EVERY) -> None:
        self.sweeper, self.store, self.every = sweeper, store, float(every)

    def sweep(self) -> SweepReport:
        if self.store is not None:
            self.store.sweep()
        report = self.sweeper.sweep()
        if report.files_removed or report.folders_removed:
            log.info(
                "temporary files: removed %d files (%d bytes) and %d folders; %d bytes left",
                report.files_removed,
                report.bytes_removed,
                report.folders_removed,
                report.bytes_left,
            )
        return report

    def shutdown(self) -> None:
        if self.store is not None:
            self.store.close_all()


@contextlib.asynccontextmanager
async def lifespan(app):
    """ASGI lifespan for Gradio's app: sweep on start and every ``every`` seconds, clean up on stop.
    The app's Blocks carry their :class:`Housekeeping` as ``housekeeping`` (:func:`demo.build_demo`)."""
    blocks = app.get_blocks() if hasattr(app, "get_blocks") else None
    keeper = getattr(blocks, "housekeeping", None)
    if keeper is None:
        yield
        return
    await asyncio.to_thread(keeper.sweep)

    async def scheduled() -> None:
        while True:
            await asyncio.sleep(keeper.every)
            await asyncio.to_thread(keeper.sweep)

    task = asyncio.create_task(scheduled())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await asyncio.to_thread(keeper.shutdown)
