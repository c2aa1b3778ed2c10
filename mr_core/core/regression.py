"""Masked linear regression (MR): a locally connected ridge regression between two face images.

For every output pixel ``i`` of channel ``ch``::

    y[i, ch] = sum_{j in N(i)} w_i[j] * x[j, ch] + b_i

where ``N(i)`` is the ``rf x rf`` window around ``i`` clipped at the border.  Training solves,
independently for every output pixel, ``argmin sum_n (y_n[i] - w.x_n[N(i)] - b)^2 + lam (|w|^2 + b^2)``
(Khan et al., IJCV 2020).

How it is computed here (no dense d x d matrix anywhere):

* With ``lam > 0``, zero-padding the border gives exactly the clipped-window solution: a feature that is
  always zero gets the weight 0.
* The normal equations need per-pixel Gram matrices and right-hand sides, which are sums over images, so
  they are accumulated chunk by chunk (:meth:`MaskedRegression.partial_fit`).  The Gram entry of offsets
  ``a`` and ``b`` at pixel ``p`` is ``sum_n x_n[p + a] x_n[p + b]``, which depends only on ``q = p + a``
  and ``d = b - a``; so one *correlation map* per offset difference ``d`` holds every Gram entry:
  ((2 rf - 1)^2 + 1) / 2 maps instead of rf^2 (rf^2 + 1) / 2 products per pixel.
* The ``(rf^2 + 1)``-square SPD systems are solved together by a Cholesky factorisation vectorised over
  pixels, in blocks of rows to bound memory.
* Prediction is a sum of ``rf^2`` shifted copies of the input times per-pixel weight maps, plus a bias map.

All of it is written once against an array module ``xp`` (NumPy or CuPy, see :mod:`mr_core.core.backend`).
"""

from __future__ import annotations

import math
import numbers
from os import PathLike

import numpy as np

from ..errors import DataError, InvalidParameterError, ModelFileError, NotFittedError
from .backend import ArrayBackend, get_backend
from .modelfile import DTYPES, SCALINGS, read_model_file, save_model

# Images per accumulation chunk inside one partial_fit call: bounds temporary memory and
# keeps float32 partial sums short before they are added to the float64 accumulators.
_CHUNK = 32
# Block size of the batched solve: at most this many pixels (small blocks stay in cache) and this
# many Gram entries (the (K, K, pixels) arrays G and L stay near 13 MB whatever the receptive field).
_SOLVE_PIXELS = 4096
_SOLVE_ENTRIES = 4096 * 400
#: Largest receptive field: the solve costs (rf^2 + 1)^3 / 3 per pixel, minutes already at 15.
MAX_RECEPTIVE_FIELD = 15


def _offsets(rf: int) -> list[tuple[int, int]]:
    """Window offsets (dy, dx) in padded coordinates, row-major: index a = dy * rf + dx."""
    return [(dy, dx) for dy in range(rf) for dx in range(rf)]


def _differences(rf: int) -> list[tuple[int, int]]:
    """Half of the offset differences d = b - a (the other half follows by symmetry)."""
    span = range(-(rf - 1), rf)
    return [(dy, dx) for dy in range(rf) for dx in span if dy > 0 or dx >= 0]


def _cholesky_solve(xp, A, b):
    """Solve ``A w = b`` for a batch of SPD systems; ``A`` is (K, K, ...), ``b`` is (K, ...).

    Returns ``None`` when a matrix is not numerically positive definite.
    """
    K = A.shape[0]
    L = xp.zeros_like(A)
    for j in range(K):
        diag = A[j, j] - (L[j, :j] ** 2).sum(axis=0)
        if not bool((diag > 0).all()):
            return None
        L[j, j] = xp.sqrt(diag)
        if j + 1 < K:
            below = A[j + 1 :, j] - (L[j + 1 :, :j] * L[j, :j][None]).sum(axis=1)
            L[j + 1 :, j] = below / L[j, j]
    z = xp.empty_like(b)
    for i in range(K):
        z[i] = (b[i] - (L[i, :i] * z[:i]).sum(axis=0)) / L[i, i]
    w = xp.empty_like(b)
    for i in reversed(range(K)):
        w[i] = (z[i] - (L[i + 1 :, i] * w[i + 1 :]).sum(axis=0)) / L[i, i]
    return w


class MaskedRegression:
    """Masked linear regression from source face crops to target face crops.

    Parameters
    ----------
    receptive_field : odd int >= 1
        Side of the square window of input pixels each output pixel sees.
    lam : float > 0
        Ridge penalty (on the weights and the bias).
    backend : str
        ``"numpy"``, ``"cupy"``, ``"auto"`` or an installed plugin's name.
    dtype : {"float32", "float64"}
        Precision of the weights and of prediction (the normal equations are always
        accumulated and solved in float64).
    source, target : str
        Names of the source and target expressions (stored in model files).
    template : str or None
        Name of the face-alignment template the crops were made with (None: unknown).
    training_set : str
        Free-text description of the training data (stored in model files).
    scaling : {"unit", "minmax"}
        How the crops were mapped to [0, 1]: ``x / 255`` or per-image min-max (the authors').
    """

    def __init__(
        self,
        receptive_field: int = 3,
        lam: float = 0.4,
        backend: str = "numpy",
        dtype: str = "float32",
        *,
        source: str = "neutral",
        target: str = "smiling",
        template: str | None = None,
        training_set: str = "",
        scaling: str = "unit",
    ):
        self.receptive_field = receptive_field
        self.lam = lam
        self.backend = backend
        self.dtype = dtype
        self.source = source
        self.target = target
        self.template = template
        self.training_set = training_set
        self.scaling = scaling

    # ------------------------------------------------------------------ validation
    def _check_params(self) -> ArrayBackend:
        rf = self.receptive_field
        if (
            isinstance(rf, bool)
            or not isinstance(rf, numbers.Integral)
            or not 1 <= rf <= MAX_RECEPTIVE_FIELD
            or rf % 2 == 0
        ):
            raise InvalidParameterError(
                f"receptive_field must be an odd integer from 1 to {MAX_RECEPTIVE_FIELD}, got {rf!r}"
            )
        lam = self.lam
        if isinstance(lam, bool) or not isinstance(lam, numbers.Real) or not math.isfinite(lam) or lam <= 0:
            raise InvalidParameterError(f"lam must be a finite number > 0, got {lam!r}")
        if self.dtype not in DTYPES:
            raise InvalidParameterError(f"dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.scaling not in SCALINGS:
            raise InvalidParameterError(f"scaling must be one of {', '.join(SCALINGS)}, got {self.scaling!r}")
        return get_backend(self.backend)

    def _backend(self) -> ArrayBackend:
        be = getattr(self, "_be", None)
        if be is None:
            be = self._be = self._check_params()
        return be

    @staticmethod
    def _check_images(X, name: str) -> np.ndarray:
        if not hasattr(X, "shape") or not hasattr(X, "dtype"):
            X = np.asarray(X)
        if X.ndim != 4:
            raise DataError(f"{name} must have shape (n, h, w, c), got {tuple(X.shape)}")
        if X.shape[0] == 0:
            raise DataError(f"{name} is empty: at least one image is needed")
        if X.shape[3] not in (1, 3):
            raise DataError(f"{name} must have 1 (gray) or 3 (RGB) channels, got {X.shape[3]}")
        if X.dtype.kind not in "fiu":
            raise DataError(f"{name} must be a numeric array, got dtype {X.dtype}")
        return X

    # ------------------------------------------------------------------ training
    def _reset(self) -> None:
        for attr in ("_stats", "_weights", "_bias", "image_size_", "channels_", "n_pairs_", "_be"):
            self.__dict__.pop(attr, None)

    def fit(self, X, Y) -> MaskedRegression:
        """Learn from pairs ``X`` (sources) and ``Y`` (targets), both (n, h, w, c) in [0, 1]."""
        self._reset()
        return self.partial_fit(X, Y)

    def partial_fit(self, X, Y) -> MaskedRegression:
        """Add pairs to the normal equations; ``fit`` on all pairs equals ``partial_fit`` in chunks."""
        be = self._backend()
        xp = be.xp
        X = self._check_images(X, "X")
        Y = self._check_images(Y, "Y")
        if X.shape != Y.shape:
            raise DataError(f"X and Y must have the same shape, got {tuple(X.shape)} and {tuple(Y.shape)}")
        n, h, w, c = X.shape
        stats = getattr(self, "_stats", None)
        if stats is None:
            stats = self._stats = self._new_stats(xp, h, w, c)
            self.image_size_, self.channels_ = (h, w), c
        elif (h, w) != self.image_size_ or c != self.channels_:
            raise DataError(
                f"images are {h}x{w}x{c} but the model was started on "
                f"{self.image_size_[0]}x{self.image_size_[1]}x{self.channels_}"
            )
        for start in range(0, n, _CHUNK):
            xs = be.asarray(X[start : start + _CHUNK], dtype=self.dtype)
            ys = be.asarray(Y[start : start + _CHUNK], dtype=self.dtype)
            self._accumulate(xp, stats, xs, ys)
        self.n_pairs_ = stats["n"]
        self._weights = self._bias = None  # solved lazily on first use
        return self

    def _new_stats(self, xp, h, w, c) -> dict:
        rf = self.receptive_field
        r = rf // 2
        hp, wp = h + 2 * r, w + 2 * r
        return {
            "n": 0,
            "sx": xp.zeros((hp, wp, c), dtype=xp.float64),  # sum of padded sources
            "sy": xp.zeros((h, w, c), dtype=xp.float64),  # sum of targets
            "xx": xp.zeros((len(_differences(rf)), hp, wp, c), dtype=xp.float64),  # correlation maps
            "xy": xp.zeros((rf * rf, h, w, c), dtype=xp.float64),  # sum of shifted source * target
        }

    def _accumulate(self, xp, stats, xs, ys) -> None:
        rf = self.receptive_field
        r = rf // 2
        m, h, w, _ = xs.shape
        xpad = xp.pad(xs, ((0, 0), (r, r), (r, r), (0, 0)))
        hp, wp = h + 2 * r, w + 2 * r
        sx, sy = xpad.sum(axis=0), ys.sum(axis=0)
        # NaN/inf anywhere in the chunk shows in these sums: check them before touching the statistics.
        if not (bool(xp.isfinite(sx).all()) and bool(xp.isfinite(sy).all())):
            raise DataError("X and Y must not contain NaN or infinite values")
        stats["n"] += m
        stats["sx"] += sx
        stats["sy"] += sy
        for k, (dy, dx) in enumerate(_differences(rf)):
            x0, x1 = max(0, -dx), wp - max(0, dx)
            a = xpad[:, 0 : hp - dy, x0:x1]
            b = xpad[:, dy:hp, x0 + dx : x1 + dx]
            stats["xx"][k, 0 : hp - dy, x0:x1] += xp.einsum("nhwc,nhwc->hwc", a, b)
        for k, (dy, dx) in enumerate(_offsets(rf)):
            stats["xy"][k] += xp.einsum("nhwc,nhwc->hwc", xpad[:, dy : dy + h, dx : dx + w], ys)

    def _solve(self) -> None:
        be = self._backend()
        xp = be.xp
        stats = self._stats_or_raise()
        rf = self.receptive_field
        offsets = _offsets(rf)
        diff_index = {d: k for k, d in enumerate(_differences(rf))}
        K0 = rf * rf
        K = K0 + 1
        h, w = self.image_size_
        c = self.channels_
        weights = xp.empty((K0, h, w, c), dtype=self.dtype)
        bias = xp.empty((h, w, c), dtype=self.dtype)
        rows = max(1, min(_SOLVE_PIXELS // (w * c), _SOLVE_ENTRIES // (K * K * w * c)))
        for y0 in range(0, h, rows):
            y1 = min(h, y0 + rows)
            hb = y1 - y0
            G = xp.empty((K, K, hb, w, c), dtype=xp.float64)
            for a, (ay, ax) in enumerate(offsets):
                for b in range(a, K0):
                    by, bx = offsets[b]
                    d = (by - ay, bx - ax)
                    if d in diff_index:
                        qy, qx, k = ay, ax, diff_index[d]
                    else:
                        qy, qx, k = by, bx, diff_index[(-d[0], -d[1])]
                    G[a, b] = stats["xx"][k, y0 + qy : y1 + qy, qx : qx + w]
                    G[b, a] = G[a, b]
                G[a, K0] = stats["sx"][y0 + ay : y1 + ay, ax : ax + w]
                G[K0, a] = G[a, K0]
            G[K0, K0] = stats["n"]
            for a in range(K):
                G[a, a] += self.lam
            rhs = xp.empty((K, hb, w, c), dtype=xp.float64)
            rhs[:K0] = stats["xy"][:, y0:y1]
            rhs[K0] = stats["sy"][y0:y1]
            sol = _cholesky_solve(xp, G, rhs)
            if sol is None:
                break
            weights[:, y0:y1] = sol[:K0]
            bias[y0:y1] = sol[K0]
        if sol is None or not (bool(xp.isfinite(weights).all()) and bool(xp.isfinite(bias).all())):
            # float32 partial sums can make a nearly singular Gram matrix indefinite when lam is tiny
            raise DataError(
                f"the normal equations are too ill-conditioned for dtype {self.dtype} with lam {self.lam:g}: "
                + ("use a larger lam or dtype float64" if self.dtype == "float32" else "use a larger lam")
            )
        self._weights, self._bias = weights, bias

    def training_miss(self) -> float:
        """How far the model's mean prediction on its training sources is from their mean target, as a
        fraction of the mean target (mean absolute values over pixels): 0 = reproduced, 1 = no better
        than predicting zeros (black, or no change).  Read from the training statistics, so only for a
        model fitted in this process (a loaded model has none: :class:`NotFittedError`)."""
        stats = self._stats_or_raise()
        weights, bias = self._solved()
        xp = self._backend().xp
        r = self.receptive_field // 2
        h, w = self.image_size_
        mean_x = (stats["sx"][r : r + h, r : r + w] / stats["n"]).astype(self.dtype)
        mean_y = stats["sy"] / stats["n"]
        pred = self._predict_xp(xp, mean_x[None], weights, bias)[0]
        scale = float(xp.abs(mean_y).mean())
        return float(xp.abs(pred - mean_y).mean()) / scale if scale > 0 else 0.0

    def check_learned(self, max_miss: float = 0.5, *, images: bool = True) -> None:
        """Refuse (:class:`DataError`, one sentence) a fitted model that could not change a face as its
        training pairs do: sources or targets all black, or targets the same as the sources (checked
        when ``images``: the targets are images, not differences), or a ridge penalty so large that the model misses more than
        ``max_miss`` of its own training targets (:meth:`training_miss`)."""
        stats = self._stats_or_raise()
        n = stats["n"]
        xp = self._backend().xp
        dark = 0.5 / 255
        if images and float(xp.abs(stats["sx"]).max()) / n < dark:
            raise DataError(
                "the source images are all black: a model learned from them ignores the face it is "
                "given; check the source images"
            )
        if images and float(xp.abs(stats["sy"]).max()) / n < dark:
            raise DataError(
                "the target images are all black: the model would turn every face black; check the "
                "target images"
            )
        if images:
            r = self.receptive_field // 2
            h, w = self.image_size_
            change = xp.abs(stats["sy"] - stats["sx"][r : r + h, r : r + w]).max() / n
            if float(change) < dark:
                raise DataError(
                    "the target images are the same as the source images (the same photos given twice?): "
                    "the model would change nothing; give photos of the new expression as targets"
                )
        miss = self.training_miss()
        if miss > max_miss:
            raise DataError(
                f"lam {self.lam:g} is too large for these pairs: the model misses {miss:.0%} of its own "
                "training targets (predicting nothing misses 100%), so it would not reproduce the "
                "expression; use a smaller lam, e.g. the default 0.4"
            )

    def _stats_or_raise(self) -> dict:
        stats = getattr(self, "_stats", None)
        if stats is None:
            raise NotFittedError("this MaskedRegression is not fitted yet: call fit() or load() first")
        return stats

    def _solved(self):
        if getattr(self, "_weights", None) is None:
            self._stats_or_raise()
            self._solve()
        return self._weights, self._bias

    # Learned attributes (NumPy arrays; the weights are images).
    @property
    def weights_(self) -> np.ndarray:
        """Weight maps, shape (rf*rf, h, w, c): map ``a`` multiplies the input shifted by offset ``a``."""
        return self._backend().to_numpy(self._solved()[0])

    @property
    def bias_(self) -> np.ndarray:
        """Bias map, shape (h, w, c)."""
        return self._backend().to_numpy(self._solved()[1])

    def is_fitted(self) -> bool:
        return getattr(self, "_weights", None) is not None or getattr(self, "_stats", None) is not None

    # ------------------------------------------------------------------ prediction
    def predict(self, X) -> np.ndarray:
        """Predict targets for sources ``X`` (n, h, w, c) -> (n, h, w, c) NumPy array (not clipped).

        A single image (h, w, c) gives a single image.
        """
        weights, bias = self._solved()
        be = self._backend()
        xp = be.xp
        single = getattr(X, "ndim", np.ndim(X)) == 3
        X = self._check_images(X[None] if single else X, "X")
        h, w = self.image_size_
        if tuple(X.shape[1:]) != (h, w, self.channels_):
            raise DataError(
                f"X images are {X.shape[1]}x{X.shape[2]}x{X.shape[3]} but the model expects "
                f"{h}x{w}x{self.channels_}"
            )
        x = be.asarray(X, dtype=self.dtype)
        out = self._predict_xp(xp, x, weights, bias)
        out = be.to_numpy(out)
        return out[0] if single else out

    def _predict_xp(self, xp, x, weights, bias):
        rf = self.receptive_field
        r = rf // 2
        n, h, w, c = x.shape
        xpad = xp.pad(x, ((0, 0), (r, r), (r, r), (0, 0))) if r else x
        out = xp.empty_like(x)
        out[...] = bias
        tmp = xp.empty_like(x)
        for a, (dy, dx) in enumerate(_offsets(rf)):
            xp.multiply(weights[a], xpad[:, dy : dy + h, dx : dx + w], out=tmp)
            out += tmp
        return out

    # ------------------------------------------------------------------ files
    def save(self, path: str | PathLike) -> None:
        """Write the model to a safetensors file with its metadata (atomically)."""
        save_model(self, path)

    @classmethod
    def load(cls, path: str | PathLike, backend: str = "numpy") -> MaskedRegression:
        """Read a model file written by :meth:`save`; validates it (:class:`ModelFileError`).

        Files of other methods are loaded by :func:`mr_core.load_model`, which reads any model file.
        """

        def paper_only(path, meta):
            if meta["method"] != "mr":
                raise ModelFileError(
                    f"{path}: a {meta['method']} model, not a MaskedRegression; load it with mr_core.load_model"
                )

        meta, tensors = read_model_file(path, check_method=paper_only)
        return cls._from_file(meta, tensors, backend)

    @classmethod
    def _from_file(cls, meta: dict[str, str], tensors: dict, backend: str = "numpy") -> MaskedRegression:
        """The fitted model of a validated file's metadata and tensors (:func:`read_model_file`)."""
        model = cls(
            receptive_field=int(meta["receptive_field"]),
            lam=float(meta["lam"]),
            backend=backend,
            dtype=meta["dtype"],
            source=meta["source"],
            target=meta["target"],
            template=meta["template"] or None,
            training_set=meta["training_set"],
            scaling=meta["scaling"],
        )
        model._set_solution(tensors["weights"], tensors["bias"], int(meta["n_pairs"]))
        return model

    def _set_solution(self, weights: np.ndarray, bias: np.ndarray, n_pairs: int) -> None:
        """Install learned maps (from a model file) on the configured backend."""
        be = self._backend()
        self._weights = be.asarray(weights, dtype=self.dtype)
        self._bias = be.asarray(bias, dtype=self.dtype)
        self.image_size_ = tuple(int(s) for s in weights.shape[1:3])
        self.channels_ = int(weights.shape[3])
        self.n_pairs_ = int(n_pairs)

    def __repr__(self) -> str:
        return (
            f"MaskedRegression(receptive_field={self.receptive_field!r}, lam={self.lam!r}, "
            f"backend={self.backend!r}, dtype={self.dtype!r}, source={self.source!r}, target={self.target!r})"
        )
