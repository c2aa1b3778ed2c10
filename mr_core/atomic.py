"""Atomic file writes: a temporary file in the destination folder, flushed, then moved onto the target.

A reader never sees a half-written file and a failed write leaves nothing behind.  The file gets the
usual permissions (0666 minus the umask), not the private 0600 of a temporary file.

Temporary files are named ``.<name>.<pid>.<8 random characters>.mr-tmp``: a writer killed before it
could clean up (``kill -9``, a power cut) leaves one behind, and the next write to the same folder
removes it once its writer is gone (see :func:`remove_stale_temporaries`).  Nothing else is ever
removed: only regular files of exactly that pattern.

:func:`publish` moves a finished temporary file onto its name, replacing what is there or, with
``replace=False``, never: a name taken even a moment before (another program writing the same
folder) is left alone and the next free name is used, or ``FileExistsError`` raised.
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

#: What ends the name of every temporary file written here.
TEMP_SUFFIX = ".mr-tmp"
#: ``.<name>.<pid>.<random>.mr-tmp`` (the random part is :func:`tempfile.mkstemp`'s).
_TEMP_NAME = re.compile(r"^\..*\.(\d+)\.[a-z0-9_]{8}" + re.escape(TEMP_SUFFIX) + "$")
#: A temporary file whose writer has exited is removed once it is this old (seconds): a writer on
#: another machine or in another container sharing the folder has a pid that looks dead from here.
STALE_AFTER_EXIT = 60.0
#: A temporary file this old (seconds) is removed whoever wrote it (its pid may have been reused).
STALE_AFTER = 24 * 3600.0

_swept: set[str] = set()
_swept_lock = threading.Lock()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _pid_running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill would end the process there; the age rule alone applies
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process (EPERM), or pid out of range: leave its files alone
        return True
    return True


def remove_stale_temporaries(folder: str | os.PathLike, now: float | None = None) -> list[Path]:
    """Remove, from ``folder``, the temporary files of writes that never finished: files named like
    this module's temporaries whose writer has exited (and that are older than
    :data:`STALE_AFTER_EXIT`), or that are older than :data:`STALE_AFTER`.  Returns the removed paths;
    a folder that cannot be listed, or a file that cannot be removed, is left as it is."""
    now = time.time() if now is None else now
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match is None:
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            age = now - entry.stat(follow_symlinks=False).st_mtime
            if age > STALE_AFTER or (age > STALE_AFTER_EXIT and not _pid_running(int(match.group(1)))):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue  # gone already, or not ours to remove
    return removed


def _sweep_once(folder: Path) -> None:
    """Remove stale temporaries from ``folder`` the first time this process writes there."""
    key = os.path.normcase(os.path.abspath(folder))
    with _swept_lock:
        if key in _swept:
            return
        if len(_swept) > 4096:  # a long-running server writes to many folders: forget the old ones
            _swept.clear()
        _swept.add(key)
    remove_stale_temporaries(folder)


def make_temporary(path: str | os.PathLike) -> Path:
    """Create an empty temporary file beside ``path`` (the folder must exist) and return its path,
    after removing the folder's stale temporaries (once per folder and process)."""
    path = Path(path)
    _sweep_once(path.parent)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name[:100]}.{os.getpid()}.", suffix=TEMP_SUFFIX, dir=path.parent
    )
    os.close(fd)
    return Path(tmp)


def publish(
    tmp: str | os.PathLike,
    path: str | os.PathLike,
    *,
    replace: bool = True,
    another_name: Callable[[Path], Path] | None = None,
) -> Path:
    """Give the finished temporary file ``tmp`` the name ``path`` (same folder), with the usual
    permissions; returns the name it got.

    ``replace=False`` never replaces a file, even one created a moment ago: when ``path`` is taken,
    ``another_name(path)`` gives the next name to try, or without it ``FileExistsError`` is raised
    (``tmp`` is then left to the caller)."""
    os.chmod(tmp, 0o666 & ~_umask())
    path = Path(path)
    if replace:
        os.replace(tmp, path)
        return path
    while True:
        try:
            _move_no_replace(Path(tmp), path)
            return path
        except FileExistsError:
            if another_name is None:
                raise
            path = another_name(path)


def _move_no_replace(tmp: Path, path: Path) -> None:
    try:
        os.link(tmp, path)  # fails when the name exists, whatever created it
    except OSError as exc:
        if isinstance(exc, FileExistsError) or exc.errno not in _NO_HARD_LINKS:
            raise
        # No hard links on this file system: claim the name, then move the file onto the claim.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        os.close(fd)
        try:
            os.replace(tmp, path)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return
    os.unlink(tmp)


#: ``os.link`` errors of a file system without hard links.
_NO_HARD_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.ENOSYS, errno.EMLINK, errno.EACCES}


def atomic_write_bytes(
    path: str | os.PathLike,
    data: bytes,
    *,
    make_parents: bool = True,
    replace: bool = True,
    another_name: Callable[[Path], Path] | None = None,
) -> Path:
    """Write ``data`` to ``path`` atomically (creating the parent folder unless ``make_parents`` is
    false) and return the name written; a short write (a full disk) raises ``OSError`` and leaves
    nothing behind.  ``replace`` and ``another_name``: as for :func:`publish`."""
    path = Path(path)
    if make_parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    view = memoryview(data)
    tmp = make_temporary(path)
    try:
        with open(tmp, "wb", buffering=0) as fh:
            while view:
                n = fh.write(view)
                if not n:
                    raise OSError(errno.ENOSPC, "no space left on the device (short write)")
                view = view[n:]
            os.fsync(fh.fileno())
        return publish(tmp, path, replace=replace, another_name=another_name)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_error_reason(path: str | os.PathLike, exc: OSError) -> str:
    """Why writing ``path`` failed, in a few words: names a file that stands where a folder must be."""
    path = Path(path)
    if getattr(exc, "errno", None) == errno.ENAMETOOLONG:
        return "the file name is longer than the file system takes; rename the input shorter"
    try:
        for parent in path.parents:
            if parent.exists() or parent.is_symlink():
                if not parent.is_dir():
                    return f"{parent} is a file, not a folder"
                break
        if path.is_dir():
            return "it is a folder"
    except OSError:  # the path cannot even be looked at: say what the write said
        pass
    return exc.strerror or str(exc) or type(exc).__name__
