"""Model files: safetensors tensors ``weights`` and ``bias`` plus string metadata.

This module knows the file format only, never an expression method: a method's own metadata and
tensors are checked by the hooks :func:`read_model_file` is given (see :mod:`mr_core.methods`).

Loading never unpickles anything: the header is JSON and the tensors are raw little-endian
arrays.  Every field is validated; a corrupt, truncated or inconsistent file is refused with
one sentence naming the file and the reason.  Writes go to a temporary file in the same folder
that is renamed over the destination, so a crash never leaves a half-written model.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_bytes, write_error_reason
from ..errors import InvalidParameterError, ModelFileError

#: Precisions a model's weights may be stored in, and the pixel scalings it may have been trained with.
DTYPES = ("float32", "float64")
SCALINGS = ("unit", "minmax")

#: ``check_method(path, meta)``: validates a file's ``method`` field and that method's own metadata.
MethodCheck = Callable[[Path, dict], None]

FORMAT_NAME = "mr-expression"
#: Newest format version this code reads and writes.  Version 2 marks files that use the shape-texture
#: lighting fields (``photometric`` true): an older reader refuses them instead of silently ignoring
#: them; version 3 marks mesh-mr files (shape model tensors).  Every other file is written as
#: version 1, which any reader takes.
FORMAT_VERSION = 4
SUFFIX = ".safetensors"


def _models_dir() -> Path:
    """``mr_core/models`` in an installed package (the wheel puts the repository's ``models/`` there),
    else the source tree's ``models/`` beside ``mr_core/``."""
    package = Path(__file__).resolve().parents[1]
    installed = package / "models"
    return installed if installed.is_dir() else package.parent / "models"


#: Folder of the models shipped with the project (``--expression NAME`` picks ``<NAME>.safetensors``).
MODELS_DIR = _models_dir()

# Largest header we accept (the real one is about 1 kB): guards against absurd allocations.
_MAX_HEADER = 1 << 20
_REQUIRED = (
    "format",
    "format_version",
    "receptive_field",
    "lam",
    "image_height",
    "image_width",
    "channels",
    "dtype",
    "source",
    "target",
    "template",
    "training_set",
    "scaling",
    "n_pairs",
)


def model_metadata(model) -> dict[str, str]:
    h, w = model.image_size_
    meta = {
        "format": FORMAT_NAME,
        "format_version": "1",
        "receptive_field": str(model.receptive_field),
        "lam": repr(float(model.lam)),
        "image_height": str(h),
        "image_width": str(w),
        "channels": str(model.channels_),
        "dtype": model.dtype,
        "source": str(model.source),
        "target": str(model.target),
        "template": model.template or "",
        "training_set": str(model.training_set),
        "scaling": model.scaling,
        "n_pairs": str(model.n_pairs_),
        "method": getattr(model, "method", "mr"),
    }
    extra = getattr(model, "_extra_metadata", None)  # a method's own fields (see mr_core.methods)
    if extra is not None:
        meta.update(extra())
    return meta


def save_model(model, path: str | os.PathLike) -> Path:
    """Write a fitted model to ``path`` atomically; returns the path.

    A method's model adds its own metadata and tensors through ``_extra_metadata()`` and
    ``_extra_tensors()`` (both optional, returning dicts).
    """
    from safetensors.numpy import save

    path = Path(path)
    weights, bias = model.weights_, model.bias_  # raises NotFittedError when unfitted
    tensors = {"weights": np.ascontiguousarray(weights), "bias": np.ascontiguousarray(bias)}
    extra = getattr(model, "_extra_tensors", None)
    if extra is not None:
        tensors.update(extra())
    data = save(tensors, metadata=model_metadata(model))
    if path.is_dir():
        raise ModelFileError(
            f"{path}: is a folder; give a model file name such as {path / ('model' + SUFFIX)}"
        )
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise ModelFileError(
            f"{path}: cannot write the model file ({write_error_reason(path, exc)})"
        ) from None
    return path


def _read_header(path: Path) -> tuple[dict, int]:
    """The safetensors header of ``path`` and the file's size, reading only the header's bytes.

    The size is checked against the header before anything else is read: a truncated file, or one
    whose header declares more data than it holds, is refused without reading its tensors.
    """
    if not path.exists():
        raise ModelFileError(f"{path}: model file not found")
    if path.is_dir():
        raise ModelFileError(f"{path}: is a folder, not a model file")
    try:
        with path.open("rb") as fh:
            file_size = os.fstat(fh.fileno()).st_size
            prefix = fh.read(8)
            if len(prefix) < 8:
                raise ModelFileError(f"{path}: not a model file (only {len(prefix)} bytes)")
            (size,) = struct.unpack("<Q", prefix)
            if size > _MAX_HEADER or 8 + size > file_size:
                raise ModelFileError(f"{path}: not a model file or truncated (bad safetensors header)")
            raw = fh.read(size)
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelFileError(f"{path}: not a model file (its safetensors header is not valid JSON)") from None
    if not isinstance(header, dict):
        raise ModelFileError(f"{path}: not a model file (its safetensors header is not an object)")
    declared = 8 + size + _data_length(path, header)
    if declared != file_size:
        raise ModelFileError(
            f"{path}: corrupt or truncated model file (it has {file_size} bytes, its header declares {declared})"
        )
    return header, file_size


def _data_length(path: Path, header: dict) -> int:
    """The number of tensor bytes the header declares (the largest end offset)."""
    end = 0
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        offsets = entry.get("data_offsets") if isinstance(entry, dict) else None
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in offsets)
        ):
            raise ModelFileError(
                f"{path}: not a model file (tensor {str(name)[:40]!r} has no valid data offsets)"
            )
        end = max(end, offsets[1])
    return end


def read_metadata(path: str | os.PathLike, check_method: MethodCheck | None = None) -> dict[str, str]:
    """The validated metadata of a model file, reading only its header (not the tensors).

    ``check_method(path, meta)`` validates the ``method`` field and the method's own fields.
    """
    path = Path(path)
    header, _ = _read_header(path)
    return _validate_metadata(path, header.get("__metadata__"), check_method)


def _read_file(path: Path, size: int) -> bytes:
    try:
        return path.read_bytes()
    except MemoryError:
        raise ModelFileError(
            f"{path}: not enough memory to read this model file ({size / 2**20:.0f} MiB); "
            "close other programs or use a smaller model"
        ) from None
    except OSError as exc:
        raise ModelFileError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _check_declared_shapes(path: Path, header: dict, meta: dict[str, str]) -> None:
    """The weights and bias shapes the header declares must match the metadata (before reading them)."""
    rf = int(meta["receptive_field"])
    h, w, c = int(meta["image_height"]), int(meta["image_width"]), int(meta["channels"])
    shapes = {
        name: tuple(entry["shape"]) if isinstance(entry.get("shape"), list) else None
        for name, entry in header.items()
        if name in ("weights", "bias") and isinstance(entry, dict)
    }
    if shapes and (
        shapes.get("weights", (rf * rf, h, w, c)) != (rf * rf, h, w, c)
        or shapes.get("bias", (h, w, c)) != (h, w, c)
    ):
        raise ModelFileError(
            f"{path}: tensor shapes {shapes.get('weights')} and {shapes.get('bias')} do not match the metadata "
            f"(receptive field {rf}, image {h}x{w}x{c})"
        )


#: Largest sum of a window's absolute weights plus the bias (how much an output pixel can amplify its
#: input in [0, 1]): the shipped models stay below 3; a model above this turns every face to noise.
MAX_GAIN = 1e4
#: Largest absolute value of any tensor of a model file (landmark coordinates are at most a few thousand).
MAX_VALUE = 1e6
#: Longest error message about a model file; a metadata value is shown cut to _MAX_SHOWN characters.
_MAX_MESSAGE = 400
_MAX_SHOWN = 60


def _shown(value) -> str:
    """``repr(value)``, cut to a readable length (a crafted file may hold a 100 kB value)."""
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def _validate_metadata(path: Path, meta, check_method: MethodCheck | None = None) -> dict[str, str]:
    if not isinstance(meta, dict):
        raise ModelFileError(f"{path}: not an MR model file (no metadata)")
    for key, value in meta.items():
        if not isinstance(value, str):
            raise ModelFileError(
                f"{path}: metadata {key} must be a string, got {type(value).__name__} {value!r:.40}"
            )
    missing = [k for k in _REQUIRED if k not in meta]
    if meta.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path}: not an MR model file (format is {_shown(meta.get('format'))})")
    if missing:
        raise ModelFileError(f"{path}: model metadata lacks {', '.join(missing)}")
    try:
        version = int(meta["format_version"])
    except (TypeError, ValueError):
        raise ModelFileError(f"{path}: bad format_version {_shown(meta['format_version'])}") from None
    if version > FORMAT_VERSION or version < 1:
        raise ModelFileError(
            f"{path}: model format version {version} is not supported "
            f"(this version reads 1 to {FORMAT_VERSION})"
        )

    def integer(key: str, low: int) -> int:
        try:
            value = int(meta[key])
        except (TypeError, ValueError):
            raise ModelFileError(
                f"{path}: metadata {key} must be an integer, got {_shown(meta[key])}"
            ) from None
        if value < low:
            raise ModelFileError(f"{path}: metadata {key} must be >= {low}, got {value}")
        return value

    rf = integer("receptive_field", 1)
    if rf % 2 == 0:
        raise ModelFileError(f"{path}: metadata receptive_field must be odd, got {rf}")
    integer("image_height", 1)
    integer("image_width", 1)
    integer("n_pairs", 0)
    if integer("channels", 1) not in (1, 3):
        raise ModelFileError(f"{path}: metadata channels must be 1 or 3, got {meta['channels']}")
    try:
        lam = float(meta["lam"])
    except (TypeError, ValueError):
        lam = math.nan
    if not (math.isfinite(lam) and lam > 0):
        raise ModelFileError(f"{path}: metadata lam must be a number > 0, got {_shown(meta['lam'])}")
    if meta["dtype"] not in DTYPES:
        raise ModelFileError(
            f"{path}: metadata dtype must be one of {', '.join(DTYPES)}, got {_shown(meta['dtype'])}"
        )
    meta.setdefault("method", "mr")
    if check_method is not None:
        try:
            check_method(path, meta)
        except ModelFileError as exc:
            message = str(exc)
            if len(message) <= _MAX_MESSAGE:
                raise
            raise ModelFileError(message[: _MAX_MESSAGE - 20] + "… (message cut)") from None
    if meta["scaling"] not in SCALINGS:
        raise ModelFileError(
            f"{path}: metadata scaling must be one of {', '.join(SCALINGS)}, got {_shown(meta['scaling'])}"
        )
    return dict(meta)


def read_model_file(
    path: str | os.PathLike,
    check_method: MethodCheck | None = None,
    extra_tensors: Callable[[dict[str, str]], Iterable[str]] | None = None,
) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """Read and validate a model file: its metadata and its tensors ``weights``, ``bias`` and the
    method's ``extra_tensors(meta)`` (checked for names, shapes, dtype and finite values)."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    path = Path(path)
    header, size = _read_header(path)
    meta = _validate_metadata(path, header.get("__metadata__"), check_method)
    _check_declared_shapes(path, header, meta)
    data = _read_file(path, size)
    try:
        tensors = load(data)
    except (SafetensorError, ValueError, TypeError) as exc:
        raise ModelFileError(f"{path}: corrupt or truncated model file ({exc})") from None
    expected = {"weights", "bias"} | (set(extra_tensors(meta)) if extra_tensors is not None else set())
    if set(tensors) != expected:
        raise ModelFileError(
            f"{path}: expected tensors {', '.join(sorted(expected))}, found {', '.join(sorted(tensors))}"
        )
    rf = int(meta["receptive_field"])
    h, w, c = int(meta["image_height"]), int(meta["image_width"]), int(meta["channels"])
    weights, bias = tensors["weights"], tensors["bias"]
    if weights.shape != (rf * rf, h, w, c) or bias.shape != (h, w, c):
        raise ModelFileError(
            f"{path}: tensor shapes {weights.shape} and {bias.shape} do not match the metadata "
            f"(receptive field {rf}, image {h}x{w}x{c})"
        )
    if weights.dtype != np.dtype(meta["dtype"]) or bias.dtype != np.dtype(meta["dtype"]):
        raise ModelFileError(f"{path}: tensors are {weights.dtype}, metadata says {meta['dtype']}")
    if not (np.isfinite(weights).all() and np.isfinite(bias).all()):
        raise ModelFileError(f"{path}: the model's weights contain NaN or infinite values")
    gain = float((np.abs(weights.astype(np.float64)).sum(axis=0) + np.abs(bias.astype(np.float64))).max())
    if gain > MAX_GAIN:
        raise ModelFileError(
            f"{path}: the model's weights are implausibly large (one output pixel sums {gain:.3g} times "
            f"its input, more than {MAX_GAIN:g}; a trained model stays below 10); the file is damaged or not "
            "a trained model"
        )
    # (NaN and infinite values of the other tensors are left to the method's own checks)
    finite = [np.abs(t[np.isfinite(t)]) for t in tensors.values()]
    extreme = max((float(v.max()) for v in finite if v.size), default=0.0)
    if extreme > MAX_VALUE:
        raise ModelFileError(
            f"{path}: the model holds a value of {extreme:.3g}, more than {MAX_VALUE:g}; the file is damaged "
            "or not a trained model"
        )
    return meta, tensors


def shipped_models(folder: str | os.PathLike | None = None) -> dict[str, Path]:
    """Short name -> path of the model files shipped in the repository's ``models/`` folder."""
    folder = Path(folder) if folder is not None else MODELS_DIR
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.glob(f"*{SUFFIX}"))}


def resolve_model(expression: str | None = None, path: str | os.PathLike | None = None) -> Path:
    """The model file for ``--expression NAME`` (a shipped model) or ``--model FILE``."""
    if (expression is None) == (path is None):
        raise InvalidParameterError("give exactly one of an expression name or a model file")
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ModelFileError(f"{path}: model file not found")
        return path
    models = shipped_models()
    if expression not in models:
        valid = ", ".join(models) or f"none: {MODELS_DIR} has no *{SUFFIX} files"
        raise ModelFileError(f"unknown expression {_shown(expression)}; shipped models: {valid}")
    return models[expression]
