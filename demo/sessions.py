"""Every session's own models (Train tab), bounded: per session, on the whole server, and in time.

A public server must not fill up with models: each session keeps at most
:data:`MAX_MODELS_PER_SESSION` (adding one more removes the session's oldest), the server at most
:data:`MAX_MODELS_TOTAL` over all sessions (the least recently used go first, whoever's they are),
and every model is deleted :data:`MODEL_TTL` seconds after it was trained or uploaded.  A removed
model goes with its file; the session that asks for it again is told why it is gone
(:meth:`UserModels.gone`).  A session's folder is made only when its first model is written (a
failed training leaves nothing) and removed when its last model goes, when Gradio ends the session,
or when the server stops.  Only what synthesis needs is held in memory: the model as read back from
its file, never the fitted object with its training sums.

Nothing here knows Gradio.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from mr_core.errors import ModelFileError
from mr_core.methods import load_model

__all__ = ["MAX_MODELS_PER_SESSION", "MAX_MODELS_TOTAL", "MODEL_TTL", "SessionStore", "UserModels"]

#: Models one session keeps at once.
MAX_MODELS_PER_SESSION = 3
#: Models the server keeps over all sessions (about 12 MB of memory each, and one file of that size).
MAX_MODELS_TOTAL = 24
#: Seconds a model is kept after it was trained or uploaded.
MODEL_TTL = 3600.0


def _minutes(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:g} s"
    return f"{seconds / 60:g} minutes"


class UserModels:
    """One session's own models, by menu name: their files (in a folder of the session's own, made
    when the first is written) and the loaded models."""

    def __init__(self, store: SessionStore | None = None) -> None:
        self.store = store if store is not None else SessionStore()
        self.entries: dict = {}  # name -> ModelEntry
        self.added: dict[str, float] = {}  # name -> when it was added (the store's clock)
        self.used: dict[str, float] = {}  # name -> when it was last used
        self.removed: dict[str, str] = {}  # name -> why it is no longer here
        self._models: dict[tuple[str, str], object] = {}
        self._folder: Path | None = None
        self._lock = threading.RLock()

    @property
    def folder(self) -> Path:
        """The session's folder (made on first use, inside the store's root)."""
        with self._lock:
            if self._folder is None or not self._folder.is_dir():
                self.store.root.mkdir(parents=True, exist_ok=True)
                self._folder = Path(tempfile.mkdtemp(prefix="session-", dir=self.store.root))
            return self._folder

    def add(self, name: str, path: Path, entry, model=None) -> list[str]:
        """Register the model file ``path`` (inside :attr:`folder`) as ``name`` (replaces an older one
        of that name); ``model``: the model as loaded from that file, when the caller has it.
        Returns the sentences saying which models were removed to make room."""
        with self._lock:
            self.entries[name] = entry
            now = self.store.clock()
            self.added[name] = self.used[name] = now
            self.removed.pop(name, None)
            for key in [k for k in self._models if k[0] == name]:
                del self._models[key]
            if model is not None and getattr(model, "backend", "numpy") == "numpy":
                self._models[(name, "numpy")] = model
        return self.store.admit(self, name)

    def model(self, name: str, backend: str):
        """The loaded model ``name`` on ``backend``."""
        self.store.sweep()
        with self._lock:
            if name not in self.entries:
                raise ModelFileError(self.gone(name) or f"unknown expression {str(name)[:60]!r}")
            self.used[name] = self.store.clock()
            model = self._models.get((name, backend))
            if model is None:
                model = self._models[(name, backend)] = load_model(self.entries[name].path, backend=backend)
        return model

    def gone(self, name) -> str | None:
        """Why the session's model ``name`` is no longer here (``None`` when it never was)."""
        reason = self.removed.get(name) if isinstance(name, str) else None
        if reason is None:
            return None
        return f"your model {name!r} is no longer on this server ({reason}); train or upload it again"

    def forget(self, name: str, reason: str) -> None:
        """Remove the model ``name``, its file and its loaded copies; remember why."""
        with self._lock:
            entry = self.entries.pop(name, None)
            if entry is None:
                return
            self.added.pop(name, None)
            self.used.pop(name, None)
            self.removed[name] = reason
            for key in [k for k in self._models if k[0] == name]:
                del self._models[key]
            Path(entry.path).unlink(missing_ok=True)
            if not self.entries:
                self._remove_folder()

    def close(self, reason: str = "the session ended") -> None:
        """Remove all of the session's models and its folder."""
        with self._lock:
            for name in list(self.entries):
                self.forget(name, reason)
            self._remove_folder()
        self.store.discard(self)

    def _remove_folder(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None


class SessionStore:
    """All sessions' models on one server, within the bounds (see the module's description).

    ``root``: the folder in which the store makes its own folder for the sessions' folders (default:
    the system's temporary folder); ``clock``: seconds, monotonic (tests give their own).
    """

    def __init__(
        self,
        root: str | Path | None = None,
        *,
        per_session: int = MAX_MODELS_PER_SESSION,
        total: int = MAX_MODELS_TOTAL,
        ttl: float = MODEL_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        base = Path(root) if root is not None else Path(tempfile.gettempdir()) / "mr-expression-sessions"
        self.root = base / f"store-{os.getpid()}-{secrets.token_hex(4)}"  # made when first needed
        self.per_session, self.total, self.ttl, self.clock = int(per_session), int(total), float(ttl), clock
        self.sessions: set[UserModels] = set()
        self._lock = threading.RLock()

    def describe(self) -> str:
        """What happens to a user's models, in a sentence."""
        return (
            f"this server keeps at most {self.per_session} of your models (adding another removes your "
            f"oldest) and {self.total} over all visitors (the least recently used go first); each is "
            f"deleted, with its file, {_minutes(self.ttl)} after you trained or uploaded it, or when your "
            "session ends (an hour after you close the page, or when the server restarts)"
        )

    def models_held(self) -> int:
        with self._lock:
            return sum(len(s.entries) for s in self.sessions)

    def admit(self, user: UserModels, name: str) -> list[str]:
        """``user`` has just added ``name``: remove what is over the bounds; sentences for ``user``."""
        notes = []
        with self._lock:
            self.sessions.add(user)
            self.sweep()
            while len(user.entries) > self.per_session:
                oldest = min((n for n in user.entries if n != name), key=lambda n: user.added[n])
                user.forget(oldest, f"a session keeps at most {self.per_session} models")
                notes.append(
                    f"'{oldest}' was removed to make room (this server keeps {self.per_session} models "
                    "per session)"
                )
            while self.models_held() > self.total:
                who, victim = min(
                    ((s, n) for s in self.sessions for n in s.entries if (s, n) != (user, name)),
                    key=lambda sn: sn[0].used[sn[1]],
                )
                who.forget(victim, f"the server keeps at most {self.total} models over all visitors")
                if who is user:
                    notes.append(f"'{victim}' was removed to make room on the server")
            for s in [s for s in self.sessions if not s.entries]:
                self.sessions.discard(s)
        return notes

    def sweep(self) -> int:
        """Remove the models older than the time to live; how many were removed."""
        now = self.clock()
        removed = 0
        with self._lock:
            for s in list(self.sessions):
                for n in [n for n, t in list(s.added.items()) if now - t > self.ttl]:
                    s.forget(n, f"models are deleted {_minutes(self.ttl)} after they were made")
                    removed += 1
                if not s.entries:
                    self.sessions.discard(s)
        return removed

    def discard(self, user: UserModels) -> None:
        with self._lock:
            self.sessions.discard(user)

    def close_all(self) -> None:
        """Remove every session's models and folders (the server stops)."""
        with self._lock:
            for s in list(self.sessions):
                s.close("the server restarted")
        shutil.rmtree(self.root, ignore_errors=True)
