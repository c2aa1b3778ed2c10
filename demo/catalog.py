"""The models a request may use: the shipped ones (:class:`ModelCatalog`) and, per session, the user's own.

Every tab asks one place for its model: :func:`session_catalog` gives the catalogue of one request, the
shipped models merged with the session's (trained or uploaded in the Train tab, held by a
:class:`~demo.sessions.UserModels` in the session's ``gr.State``), or with a model file sent to the API.
No tab imports another tab's models.  Nothing here knows Gradio; every failure a user can act on is a
:class:`~mr_core.errors.MRError` with one sentence.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from mr_core.core.backend import available_backends
from mr_core.core.modelfile import MODELS_DIR, shipped_models
from mr_core.core.regression import MaskedRegression
from mr_core.errors import BackendError, ModelFileError
from mr_core.methods import get_method, load_model, read_metadata
from mr_core.synthesis import check_model_template

from .sessions import UserModels

__all__ = [
    "MAX_MODEL_BYTES",
    "YOURS",
    "ModelCatalog",
    "ModelEntry",
    "SessionCatalog",
    "check_backend",
    "check_model_file",
    "model_entry",
    "session_catalog",
    "shown_name",
]

log = logging.getLogger("demo")

#: Largest model file accepted (the server refuses larger uploads anyway).
MAX_MODEL_BYTES = 15_000_000
#: What a user's model is called in the menus: "<name> (yours)".
YOURS = " (yours)"
#: An expression name as the Train tab accepts it (and a user's model file's metadata must hold).
NAME = re.compile(r"^[\w][\w .+-]{0,39}$")


@dataclass(frozen=True)
class ModelEntry:
    """A model file found in the models folder and what its metadata says."""

    name: str
    path: Path
    source: str
    target: str
    n_pairs: int
    training_set: str
    metadata: dict

    @classmethod
    def from_metadata(cls, name: str, path: Path, meta: dict) -> ModelEntry:
        """The entry of the model file ``path`` from its validated metadata."""
        return cls(
            name=name,
            path=path,
            source=meta["source"],
            target=meta["target"],
            n_pairs=int(meta["n_pairs"]),
            training_set=meta["training_set"],
            metadata=meta,
        )

    @property
    def label(self) -> str:
        """What the expression menu shows, e.g. ``smile — for neutral faces: neutral → smiling, 90 pairs``
        (the expression the model expects as input comes first: applied to another, it can go wrong)."""
        pairs = f"{self.n_pairs} pair" + ("" if self.n_pairs == 1 else "s")
        return f"{self.name} — for {self.source} faces: {self.source} → {self.target}, {pairs}, {self.method_label}"

    @property
    def method(self):
        """The class of the model's method (its file's metadata was validated, so it is installed)."""
        return get_method(self.metadata.get("method", "mr"))

    @property
    def method_label(self) -> str:
        return self.method.label

    def describe(self) -> str:
        """One paragraph of Markdown about the model (for the "how it works" panel)."""
        m = self.metadata
        rf = int(m["receptive_field"])
        chans = "RGB" if m["channels"] == "3" else "grayscale"
        lines = [
            f"**{self.name}**: {self.source} → {self.target}, learned from {self.n_pairs} photo pairs"
            + (f" ({self.training_set})" if self.training_set else "")
            + ".",
            self.method.explain(m),
            f"Receptive field {rf}×{rf}, ridge λ = {float(m['lam']):g}, "
            f"{m['image_width']}×{m['image_height']} {chans} face crops"
            + (f" aligned with template `{m['template']}`" if m.get("template") else "")
            + f", {m['dtype']}, file `{self.path.name}` ({self.path.stat().st_size / 1e6:.1f} MB).",
        ]
        return "\n\n".join(lines)


class ModelCatalog:
    """The expression models of a folder (default: the repository's ``models/``).

    The folder is scanned once; each model is loaded on first use and kept (one copy per
    backend), so requests share read-only models.  Files that cannot be read are listed in
    :attr:`problems` instead of stopping the demo.
    """

    def __init__(self, models_dir: str | os.PathLike | None = None) -> None:
        self.models_dir = Path(models_dir) if models_dir is not None else MODELS_DIR
        self.entries: dict[str, ModelEntry] = {}
        self.problems: list[str] = []
        for name, path in shipped_models(self.models_dir).items():
            try:
                meta = read_metadata(path)
            except ModelFileError as exc:
                log.warning("skipping model file: %s", exc)
                self.problems.append(str(exc))
                continue
            self.entries[name] = ModelEntry.from_metadata(name, path, meta)
        self._models: dict[tuple[str, str], MaskedRegression] = {}
        self._lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        return list(self.entries)

    def default(self) -> str | None:
        """The model offered first: one that starts from a neutral face (what most photos show),
        a method with a shape part (it moves the face's own pixels) before the paper's MR."""
        ranked = sorted(
            self.entries.values(),
            key=lambda e: (e.source != "neutral", not e.method.trains_on_landmarks, e.name),
        )
        return ranked[0].name if ranked else None

    def choices(self) -> list[tuple[str, str]]:
        """(label, short name) pairs for a menu."""
        return [(e.label, e.name) for e in self.entries.values()]

    def entry(self, name) -> ModelEntry:
        """The entry called ``name``; a :class:`ModelFileError` listing the valid names otherwise."""
        if isinstance(name, str) and name in self.entries:
            return self.entries[name]
        if not self.entries:
            raise ModelFileError(
                f"no expression model is installed: {self.models_dir} has no *.safetensors model files"
            )
        raise ModelFileError(f"unknown expression {shown_name(name)}; available: {', '.join(self.entries)}")

    def model(self, name, backend: str = "numpy") -> MaskedRegression:
        """The loaded model ``name`` on ``backend`` (loaded once, then shared)."""
        entry = self.entry(name)
        check_backend(backend)
        key = (str(entry.path), backend)
        with self._lock:
            model = self._models.get(key)
            if model is None:
                model = self._models[key] = load_model(entry.path, backend=backend)
        return model


def shown_name(name) -> str:
    """A name a request sent, quoted and cut to a readable length (it may be megabytes long)."""
    text = repr(name)
    return text if len(text) <= 60 else text[:59] + "…"


def check_backend(backend) -> str:
    """``backend`` when it runs on this machine; a :class:`BackendError` naming the choices otherwise."""
    names = available_backends()
    if backend not in names:
        raise BackendError(f"backend {backend!r} is not available here; choose one of {', '.join(names)}")
    return backend


def model_entry(name: str, path: Path) -> ModelEntry:
    """The entry of a user's model file; its texts are checked, since the page shows them: the
    expressions must be names (as the Train tab's), the training set's description plain text."""
    meta = read_metadata(path)
    for key in ("source", "target"):
        if not NAME.match(meta.get(key, "")):
            raise ModelFileError(
                f"{path.name}: metadata {key} {shown_name(meta.get(key))} is not an expression name (up to 40 "
                "letters, digits, spaces, '-', '_', '.' or '+')"
            )
    meta["training_set"] = _plain(meta.get("training_set", ""))
    return ModelEntry.from_metadata(name, path, meta)


def _plain(text: str, limit: int = 120) -> str:
    """``text`` with only letters, digits, spaces and plain punctuation (no markup), cut to ``limit``."""
    kept = re.sub(r"[^\w .,;:()/+%-]+", " ", text).strip()
    return kept if len(kept) <= limit else kept[: limit - 1] + "…"


class SessionCatalog:
    """The shipped models plus one session's (same interface as :class:`~demo.engine.ModelCatalog`)."""

    def __init__(self, shipped: ModelCatalog, user: UserModels | None, extra: dict | None = None) -> None:
        self.shipped = shipped
        self.user = user
        self.extra = extra or {}  # name -> (entry, loaded model): a model file sent with the request
        self.entries = dict(shipped.entries)
        if user is not None:
            self.entries.update(user.entries)
        self.entries.update({name: entry for name, (entry, _) in self.extra.items()})
        self.models_dir = shipped.models_dir

    def entry(self, name) -> ModelEntry:
        if isinstance(name, str) and name in self.entries:
            return self.entries[name]
        gone = self.user.gone(name) if self.user is not None else None
        if gone:
            raise ModelFileError(gone)
        raise ModelFileError(f"unknown expression {shown_name(name)}; available: {', '.join(self.entries)}")

    def model(self, name, backend: str = "numpy"):
        if name in self.extra:
            check_backend(backend)
            entry, model = self.extra[name]
            return model if backend == "numpy" else load_model(entry.path, backend=backend)
        if self.user is not None and name in self.user.entries:
            check_backend(backend)
            return self.user.model(name, backend)
        return self.shipped.model(name, backend)


def check_model_file(path: Path, label: str):
    """Load a user's model file as the CLI does (safetensors only, metadata checked); one sentence otherwise."""
    try:
        size = path.stat().st_size
    except OSError:
        raise ModelFileError(f"{label}: the model file could not be read; please upload it again") from None
    if size > MAX_MODEL_BYTES:
        raise ModelFileError(
            f"{label}: the model file is {size / 1e6:.1f} MB, more than this server's "
            f"{MAX_MODEL_BYTES // 1_000_000} MB limit"
        )
    try:
        model = load_model(path)
        check_model_template(model)
    except ModelFileError as exc:
        reason = str(exc).replace(str(path), "").lstrip(": ").strip() or "unreadable"
        raise ModelFileError(
            f"{label}: not a usable expression model ({reason}); give a .safetensors file written by "
            "`mr_core train` or by this page"
        ) from None
    return model


def session_catalog(shipped: ModelCatalog, user: UserModels | None, expression, model_file=None):
    """``(catalog, expression)`` for one request: a model file, when given, replaces the expression."""
    if model_file:
        path = Path(model_file)
        model = check_model_file(path, path.name)
        name = f"{path.stem}{YOURS}"
        return SessionCatalog(shipped, user, {name: (model_entry(name, path), model)}), name
    if user is None or (not user.entries and not user.removed):
        return shipped, expression
    return SessionCatalog(shipped, user), expression
