"""Atomic file writes: a temporary file in the destination folder, flushed, then renamed over the target.

A reader never sees a half-written file and a failed write leaves nothing behind.  The file gets the
usual permissions (0666 minus the umask), not the private 0600 of a temporary file.
"""

from __future__ import annotations

import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def atomic_open(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """``with atomic_open(path) as f: f.write(...)`` — ``path`` appears only once the block succeeds."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, make_parents: bool = True) -> None:
    """Write ``data`` to ``path`` atomically (creating the parent folder unless ``make_parents`` is
    false); a short write (a full disk) raises ``OSError`` and leaves nothing behind."""
    if make_parents:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    view = memoryview(data)
    with atomic_open(path) as fh:
        raw = fh.raw if hasattr(fh, "raw") else fh
        while view:
            n = raw.write(view)
            if not n:
                raise OSError(errno.ENOSPC, "no space left on the device (short write)")
            view = view[n:]


def write_error_reason(path: str | os.PathLike, exc: OSError) -> str:
    """Why writing ``path`` failed, in a few words: names a file that stands where a folder must be."""
    path = Path(path)
    for parent in path.parents:
        if parent.exists() or parent.is_symlink():
            if not parent.is_dir():
                return f"{parent} is a file, not a folder"
            break
    if path.is_dir():
        return "it is a folder"
    return exc.strerror or str(exc) or type(exc).__name__
