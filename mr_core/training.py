"""Training on pairs of photos: the part of ``train`` that the command line and the web demo share.

:func:`fit_pairs` runs a new model over pairs chunk by chunk (for shape + texture first a landmark pass
over the aligned crops, which learns the warp), collecting every unusable photo as a
:class:`~mr_core.data.Failure` instead of stopping.  :func:`train_photos` is the whole recipe on
photos: detect and align each face, build the model of ``method`` and fit it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .data import CropLoader, Failure, Pair, iter_pair_chunks, to_uint8
from .errors import DataError, InvalidParameterError
from .methods import LightingStats, get_method, method_of, trainable_methods

__all__ = ["DEFAULT_METHOD", "TrainResult", "fit_pairs", "landmark_pass", "new_model", "train_photos"]

#: The method photos are trained with when none is named (``train --align`` and the web demo).
DEFAULT_METHOD = "mesh-mr"

Progress = Callable[[int], None]


def new_model(
    method: str = DEFAULT_METHOD,
    *,
    source: str,
    target: str,
    template: str | None,
    receptive_field: int = 3,
    lam: float = 0.4,
    backend: str = "numpy",
    dtype: str = "float32",
    training_set: str = "",
    scaling: str = "unit",
    **method_params,
):
    """An unfitted model of ``method`` whose settings are checked (before any photo is read).

    The common settings go to every method that has them (``scaling``: to those that take it); a
    parameter the method does not have raises, naming its parameters."""
    cls = get_method(method)
    if not cls.trained_from_pairs:
        raise DataError(
            f"method {method!r} is configured, not trained from pairs; trainable: {', '.join(trainable_methods())}"
        )
    common = dict(
        receptive_field=receptive_field,
        lam=lam,
        backend=backend,
        dtype=dtype,
        source=source,
        target=target,
        template=template,
        training_set=training_set,
        scaling=scaling,
    )
    names = cls.param_names()
    unknown = sorted(set(method_params) - set(names))
    if unknown:
        raise InvalidParameterError(
            f"method {method!r} has no parameter {unknown[0]!r}; its parameters: {', '.join(names)}"
        )
    model = cls(**{k: v for k, v in common.items() if k in names}, **method_params)
    model._validate_params()
    return model


def landmark_pass(
    pairs: Sequence[Pair],
    loader: CropLoader,
    template: str,
    failures: list[Failure],
    *,
    chunk_size: int = 64,
    progress: Progress | None = None,
):
    """FaceLandmarker meshes of every pair's aligned crops (pairs without one are left out, as a
    failure) and the lighting statistics of the sources: ``(kept pairs, source marks, target marks,
    lighting)``."""
    from .face.landmarks import Landmarker

    kept, src_marks, tgt_marks = [], [], []
    lighting = LightingStats(template)
    with Landmarker() as marker:
        for X, Y, chunk_pairs, chunk_failures in iter_pair_chunks(
            pairs, loader, chunk_size, progress=progress
        ):
            failures.extend(chunk_failures)
            for pair, x, y in zip(
                chunk_pairs, X if X is not None else [], Y if Y is not None else [], strict=True
            ):
                a, b = marker.analyze(to_uint8(x)), marker.analyze(to_uint8(y))
                if a is None or b is None:
                    bad = pair.source if a is None else pair.target
                    failures.append(Failure(bad, "no face landmarks found in its aligned crop"))
                    continue
                kept.append(pair)
                src_marks.append(a.landmarks)
                tgt_marks.append(b.landmarks)
                lighting.add(x[None])
    return kept, np.array(src_marks), np.array(tgt_marks), lighting


def fit_pairs(
    model,
    pairs: Sequence[Pair],
    loader: CropLoader,
    *,
    chunk_size: int = 64,
    keep_going: bool = True,
    landmark_progress: Progress | None = None,
    progress: Progress | None = None,
) -> tuple[int, list[Failure]]:
    """Fit ``model`` on ``pairs`` chunk by chunk; returns (pairs used, failures).

    A method that ``trains_on_landmarks`` first gets a landmark pass over the crops (``fit_shape``),
    then each chunk with its landmarks.  With
    ``keep_going`` false, fitting stops at the first failure (the pairs are still read, to name every
    bad file).  Raises :class:`DataError` when no pair can be used, and when the fitted model could
    not change a face as its pairs do (``model.check_learned()``: blank images, a far too large lam).
    """
    failures: list[Failure] = []
    marks = None
    if method_of(model).trains_on_landmarks:
        pairs, src, tgt, lighting = landmark_pass(
            pairs, loader, model.template, failures, chunk_size=chunk_size, progress=landmark_progress
        )
        if not pairs:
            return 0, failures
        model.fit_shape(src, tgt, loader.size, lighting=lighting.value)
        marks = {(p.source, p.target): (s, t) for p, s, t in zip(pairs, src, tgt, strict=True)}
    used = 0
    for X, Y, chunk_pairs, chunk_failures in iter_pair_chunks(pairs, loader, chunk_size, progress=progress):
        failures.extend(chunk_failures)
        if X is not None and (keep_going or not failures):
            if marks is not None:
                S, T = (np.array([marks[(p.source, p.target)][k] for p in chunk_pairs]) for k in (0, 1))
                model.partial_fit(X, Y, S, T)
            else:
                model.partial_fit(X, Y)
            used += len(chunk_pairs)
    if used and (keep_going or not failures):
        model.check_learned()
    return used, failures


@dataclass
class TrainResult:
    """A model trained by :func:`train_photos`, how many pairs it used and the photos it skipped."""

    model: object
    used: int
    failures: list[Failure] = field(default_factory=list)
    seconds: float = 0.0


def train_photos(
    pairs: Sequence[Pair],
    *,
    source: str,
    target: str,
    method: str = DEFAULT_METHOD,
    size: tuple[int, int] | None = None,
    training_set: str = "",
    detector=None,
    landmark_progress: Progress | None = None,
    progress: Progress | None = None,
    max_pixels: int | None = None,
    **params,
) -> TrainResult:
    """Detect and align the face of every photo of ``pairs`` and train a ``method`` model on them.

    Photos that cannot be used (not an image, no face, no landmarks) are skipped and listed in the
    result; :class:`DataError` when no pair is left.  ``size``: of the aligned crops (default: the
    method's ``crop_size``); ``max_pixels``: photos with more pixels are refused (listed in the
    result's failures) before they are decoded.
    """
    from .face import DEFAULT_TEMPLATE, align_photo

    t0 = time.perf_counter()
    if size is None:
        size = get_method(method).crop_size
    model = new_model(
        method, source=source, target=target, template=DEFAULT_TEMPLATE, training_set=training_set, **params
    )

    def prepare(rgb: np.ndarray, path: Path) -> np.ndarray:
        return align_photo(rgb, size=size, detector=detector, name=str(path))

    loader = CropLoader(channels=3, size=size, scaling=model.scaling, prepare=prepare, max_pixels=max_pixels)
    used, failures = fit_pairs(
        model, pairs, loader, chunk_size=8, landmark_progress=landmark_progress, progress=progress
    )
    if used == 0:
        raise DataError(
            "no usable training pairs"
            + (f" ({describe_failures(failures)})" if failures else "")
            + "; give photos of faces, paired by file name"
        )
    return TrainResult(model=model, used=used, failures=failures, seconds=time.perf_counter() - t0)


def describe_failures(failures: Sequence[Failure], limit: int = 3) -> str:
    """``a.jpg: no face found; b.txt: not an image`` (the first ``limit``, then how many more)."""
    parts = [f"{Path(f.path).name}: {f.reason}" for f in failures[:limit]]
    if len(failures) > limit:
        parts.append(f"and {len(failures) - limit} more")
    return "; ".join(parts)
