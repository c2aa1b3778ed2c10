"""Geometry: warps, sampling maps and landmark shapes (and the blur that goes with them).

The paper's MR predicts every pixel of the target face from a small window of the source
face.  Averaged over many people whose features do not line up exactly, that gives a weak
and blurry expression.  The functions here separate *shape* from *texture*, as active
appearance models do, and keep the person's own detail:

* :func:`lowpass` -- take only the low frequencies of a predicted change.
* :func:`mirror_images`, :func:`mirror_pairs` -- horizontal mirroring about the alignment
  template's vertical axis (the templates are left/right symmetric), which doubles the pairs.
* :func:`tps_fit`, :func:`tps_transform`, :func:`backward_map`, :func:`warp_image` -- a
  thin-plate-spline warp that moves chosen points of a crop where asked (dense field through
  :func:`cv2.remap`), used to turn a neutral mouth into a smiling one without resampling the
  rest of the face.
* :func:`expression_flow_map`, :func:`texture_pairs` -- the warp from the mean source shape to the
  mean target shape (one fixed sampling map that needs no landmarks at synthesis time) and the
  training pairs of the texture change that follows it; :class:`mr_core.methods.shape_texture.ShapeTextureModel`
  puts them together.
* :func:`identity_map`, :func:`photo_sampling_map` -- sampling maps, and a crop's warp carried over to
  the photo it was aligned from.

Images are float arrays (H x W x C or H x W) in [0, 1]; points are (x, y) in pixels with pixel
centres at integer coordinates (OpenCV's convention, the one :mod:`mr_core.face` aligns with).
Piecewise-affine warps over a triangle mesh are in :mod:`.piecewise_affine`, the input checks and the
identity map in :mod:`.maps`.
Nothing here prints; bad input raises :class:`~mr_core.errors.InvalidParameterError` or
:class:`~mr_core.errors.DataError`.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..errors import DataError, InvalidParameterError
from .maps import (  # (research_helpers uses the checks)
    _check_image,
    _check_points,
    _check_sigma,
    identity_map,
)
from .piecewise_affine import PreparedRaster, piecewise_affine_map, prepare_raster, rasterize_triangles

__all__ = [
    "PreparedRaster",
    "backward_map",
    "border_anchors",
    "lowpass",
    "mirror_images",
    "mirror_pairs",
    "piecewise_affine_map",
    "prepare_raster",
    "rasterize_triangles",
    "tps_fit",
    "tps_transform",
    "warp_image",
]


# ----------------------------------------------------------------------------- frequencies


def lowpass(x, sigma: float) -> np.ndarray:
    """Gaussian blur of each channel (``sigma`` in pixels, reflected border); 0 returns a copy.

    Returns float32 for float32/integer input and float64 for float64 input.
    """
    import cv2

    sigma = _check_sigma(sigma)
    x = _check_image(x, "image")
    dtype = np.float64 if x.dtype == np.float64 else np.float32
    x = np.ascontiguousarray(x, dtype=dtype)
    if sigma == 0:
        return x.copy()
    radius = max(1, int(math.ceil(3.0 * sigma)))
    return cv2.GaussianBlur(
        x, (2 * radius + 1, 2 * radius + 1), sigmaX=sigma, sigmaY=sigma, borderType=cv2.BORDER_REFLECT_101
    ).reshape(x.shape)


# ----------------------------------------------------------------------------- mirroring


def mirror_images(X, axis_x: float | None = None) -> np.ndarray:
    """Mirror images left-right about the vertical line ``x = axis_x`` (pixels, centres at integers).

    ``X`` is (..., H, W, C) or (H, W).  ``axis_x`` defaults to ``(W - 1) / 2`` (a plain flip).  The
    alignment templates put the face's axis at ``W / 2`` (0.5 crop widths in OpenCV's pixel
    convention), one half pixel right of the flip's: pass ``axis_x=W / 2`` there.  ``2 * axis_x``
    must be an integer so that the mirror maps pixels onto pixels; columns mirrored from outside
    the image repeat the nearest edge column.
    """
    X = np.asarray(X)
    if X.ndim < 2:
        raise DataError(f"images must have at least 2 dimensions, got shape {X.shape}")
    col_axis = -2 if X.ndim >= 3 else -1
    w = X.shape[col_axis]
    if axis_x is None:
        axis_x = (w - 1) / 2.0
    two = 2.0 * float(axis_x)
    if not math.isfinite(two) or abs(two - round(two)) > 1e-9:
        raise InvalidParameterError(f"axis_x must be a multiple of 0.5, got {axis_x!r}")
    src = np.clip(int(round(two)) - np.arange(w), 0, w - 1)
    return np.take(X, src, axis=col_axis)


def mirror_pairs(X, Y, axis_x: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The pairs followed by their mirror images: ``(2n, H, W, C)`` sources and targets.

    Both sides are mirrored about the same axis (see :func:`mirror_images`), so each mirrored
    pair shows the same expression change on a mirrored face.
    """
    X = np.asarray(X)
    Y = np.asarray(Y)
    if X.ndim != 4 or X.shape != Y.shape:
        raise DataError(f"X and Y must both have shape (n, h, w, c), got {X.shape} and {Y.shape}")
    return (
        np.concatenate([X, mirror_images(X, axis_x)], axis=0),
        np.concatenate([Y, mirror_images(Y, axis_x)], axis=0),
    )


# ----------------------------------------------------------------------------- thin-plate splines


def _tps_kernel(r2: np.ndarray) -> np.ndarray:
    # U(r) = r^2 log r^2 (a constant factor of the textbook r^2 log r; absorbed by the weights)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = r2 * np.log(r2)
    k[r2 <= 0] = 0.0
    return k


def _sqdist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)


def tps_fit(src, dst, regularization: float = 0.0) -> dict:
    """Thin-plate spline ``f`` with ``f(src[i]) ~= dst[i]`` (exactly when ``regularization`` is 0).

    ``src`` and ``dst`` are (n, 2) point arrays, n >= 3 and not all on a line.  Returns the
    spline's parameters for :func:`tps_transform`: ``centres`` (n, 2), ``weights`` (n, 2) and
    ``affine`` (3, 2).  ``regularization`` >= 0 trades exactness for smoothness (added to the
    kernel's diagonal).
    """
    src = _check_points(src, "src")
    dst = _check_points(dst, "dst")
    if src.shape != dst.shape:
        raise DataError(f"src and dst must have the same shape, got {src.shape} and {dst.shape}")
    n = src.shape[0]
    if n < 3:
        raise DataError(f"a thin-plate spline needs at least 3 points, got {n}")
    reg = float(regularization)
    if not math.isfinite(reg) or reg < 0:
        raise InvalidParameterError(f"regularization must be a finite number >= 0, got {regularization!r}")
    # Solve in coordinates scaled to about unit size: conditioning independent of the pixel size.
    centre = src.mean(axis=0)
    scale = float(np.abs(src - centre).max()) or 1.0
    s = (src - centre) / scale
    K = _tps_kernel(_sqdist(s, s))
    K[np.diag_indices(n)] += reg
    P = np.hstack([np.ones((n, 1)), s])
    A = np.zeros((n + 3, n + 3))
    A[:n, :n] = K
    A[:n, n:] = P
    A[n:, :n] = P.T
    b = np.zeros((n + 3, 2))
    b[:n] = dst
    try:
        sol = np.linalg.solve(A, b)
    except np.linalg.LinAlgError:
        raise DataError("the thin-plate spline is singular: the points repeat or lie on one line") from None
    return {"centres": s, "weights": sol[:n], "affine": sol[n:], "centre": centre, "scale": scale}


def tps_transform(params: dict, points) -> np.ndarray:
    """Apply a spline from :func:`tps_fit` to (m, 2) points; returns (m, 2) float64."""
    p = _check_points(points, "points")
    s = (p - params["centre"]) / params["scale"]
    out = _tps_kernel(_sqdist(s, params["centres"])) @ params["weights"]
    out += params["affine"][0] + s @ params["affine"][1:]
    return out


def border_anchors(
    shape: tuple[int, int], per_side: int = 5, margin: float = 0.0, axis_x: float | None = None
) -> np.ndarray:
    """Points along the crop's border (``per_side`` per side, corners included), (4 * per_side - 4, 2).

    Given to a warp as fixed points they keep the crop's edges (background) where they are.
    ``margin`` moves them that many pixels outside the crop.  With ``axis_x`` the left and right
    columns are placed symmetrically about ``x = axis_x`` (widening the span where needed), so a
    symmetric warp stays exactly symmetric.
    """
    h, w = (int(v) for v in shape)
    if per_side < 2:
        raise InvalidParameterError(f"per_side must be 2 or more, got {per_side}")
    x0, x1 = -margin, w - 1 + margin
    if axis_x is not None:
        x0 = min(x0, 2.0 * axis_x - x1)
        x1 = 2.0 * axis_x - x0
    xs = np.linspace(x0, x1, per_side)
    ys = np.linspace(-margin, h - 1 + margin, per_side)
    pts = [(x, ys[0]) for x in xs] + [(x, ys[-1]) for x in xs]
    pts += [(xs[0], y) for y in ys[1:-1]] + [(xs[-1], y) for y in ys[1:-1]]
    return np.asarray(pts, dtype=np.float64)


def backward_map(
    dst,
    src,
    shape: tuple[int, int],
    *,
    anchors=None,
    step: int = 4,
    regularization: float = 0.0,
) -> np.ndarray:
    """Sampling map of the warp that moves the points ``src`` of an image to ``dst``.

    Returns a float32 (H, W, 2) array: for every output pixel the (x, y) position in the
    *input* image to sample (what :func:`warp_image` and ``cv2.remap`` take), from the
    thin-plate spline through ``dst[i] -> src[i]``.  ``anchors`` are extra points that stay where
    they are (default: :func:`border_anchors` of ``shape``, which keeps the crop's edges still).
    The spline is evaluated every ``step`` pixels and interpolated bilinearly in between (the
    field is smooth; ``step=1`` evaluates it everywhere).
    """
    dst = _check_points(dst, "dst")
    src = _check_points(src, "src")
    if dst.shape != src.shape:
        raise DataError(f"dst and src must have the same shape, got {dst.shape} and {src.shape}")
    h, w = (int(v) for v in shape)
    if h < 2 or w < 2:
        raise InvalidParameterError(f"shape must be at least 2 x 2, got {shape!r}")
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 1:
        raise InvalidParameterError(f"step must be an integer >= 1, got {step!r}")
    if anchors is None:
        anchors = border_anchors((h, w))
    anchors = np.asarray(anchors, dtype=np.float64).reshape(-1, 2)
    params = tps_fit(np.vstack([dst, anchors]), np.vstack([src, anchors]), regularization)
    gy = np.arange(0, h - 1 + step, step, dtype=np.float64)
    gx = np.arange(0, w - 1 + step, step, dtype=np.float64)
    grid = np.stack(np.meshgrid(gx, gy), axis=-1).reshape(-1, 2)
    disp = (tps_transform(params, grid) - grid).reshape(len(gy), len(gx), 2)
    if step > 1:
        import cv2

        # coarse sample k sits at pixel k * step: resize with that alignment (exact affine map)
        m = np.array([[1.0 / step, 0, 0], [0, 1.0 / step, 0]])
        disp = cv2.warpAffine(
            disp.astype(np.float32),
            m,
            (w, h),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REPLICATE,
        )
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    out = np.empty((h, w, 2), dtype=np.float32)
    out[..., 0] = xx + disp[..., 0]
    out[..., 1] = yy + disp[..., 1]
    return out


def warp_image(x, sampling_map, interpolation: str = "cubic") -> np.ndarray:
    """Resample ``x`` at the positions of ``sampling_map`` (H, W, 2) with ``cv2.remap``.

    ``interpolation``: ``"linear"`` or ``"cubic"`` (sharper); the border is replicated.  Returns
    float32 (or float64 for float64 input); uint8 input is returned as uint8.
    """
    import cv2

    x = _check_image(x, "image")
    m = np.asarray(sampling_map, dtype=np.float32)
    if m.ndim != 3 or m.shape[2] != 2:
        raise DataError(f"the sampling map must have shape (H, W, 2), got {m.shape}")
    flags = {"linear": cv2.INTER_LINEAR, "cubic": cv2.INTER_CUBIC}.get(interpolation)
    if flags is None:
        raise InvalidParameterError(f"interpolation must be 'linear' or 'cubic', got {interpolation!r}")
    src = x
    if x.dtype not in (np.uint8, np.float32, np.float64):
        src = x.astype(np.float32)
    out = cv2.remap(np.ascontiguousarray(src), m[..., 0], m[..., 1], flags, borderMode=cv2.BORDER_REPLICATE)
    if x.ndim == 3 and out.ndim == 2:
        out = out[..., None]
    return out


def landmark_mirror_index(landmarks, axis_x: float) -> np.ndarray:
    """For each landmark of a left/right symmetric mesh, the index of its mirror image.

    ``landmarks`` is a mean shape (k, 2) (or a set (n, k, 2), averaged); each point is mirrored
    about ``x = axis_x`` and matched to the nearest landmark.
    """
    L = np.asarray(landmarks, dtype=np.float64)
    if L.ndim == 3:
        L = L.mean(axis=0)
    L = _check_points(L, "landmarks")
    m = L.copy()
    m[:, 0] = 2.0 * axis_x - m[:, 0]
    return np.argmin(_sqdist(m, L), axis=1)


__all__.append("landmark_mirror_index")


def suppress_small_motion(sampling_map, low: float = 0.25, high: float = 0.75) -> np.ndarray:
    """A sampling map whose displacements below ``low`` pixels are set to exactly zero.

    The displacement ``d`` of each pixel is scaled by ``smoothstep((|d| - low) / (high - low))``:
    0 below ``low``, 1 (unchanged) above ``high``, smooth in between.  Where it is zero the warp
    copies the input pixel exactly (no resampling blur), so the parts of the face the expression
    barely moves (eyes, hair, background) keep their full sharpness.  ``low = high = 0`` returns
    the map unchanged.
    """
    m = np.asarray(sampling_map, dtype=np.float32)
    if m.ndim != 3 or m.shape[2] != 2:
        raise DataError(f"the sampling map must have shape (H, W, 2), got {m.shape}")
    for name, v in (("low", low), ("high", high)):
        if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(v) or v < 0:
            raise InvalidParameterError(f"{name} must be a finite number >= 0, got {v!r}")
    if high < low:
        raise InvalidParameterError(f"high must be >= low, got low={low!r} and high={high!r}")
    h, w = m.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    d = m - np.stack([xx, yy], axis=-1)
    if high == 0:
        return m.copy()
    mag = np.sqrt((d**2).sum(-1))
    if high == low:
        f = (mag >= high).astype(np.float32)
    else:
        t = np.clip((mag - low) / (high - low), 0.0, 1.0)
        f = t * t * (3.0 - 2.0 * t)
    out = np.empty_like(m)
    out[..., 0] = xx + d[..., 0] * f
    out[..., 1] = yy + d[..., 1] * f
    return out


__all__.append("suppress_small_motion")


# ----------------------------------------------------------------------------- shape + texture recipe



def expression_flow_map(
    source_landmarks,
    target_landmarks,
    shape: tuple[int, int],
    *,
    axis_x: float | None = None,
    lower_gain: float = 1.0,
    lower_from: float | None = None,
    deadzone: tuple[float, float] | None = (0.25, 0.75),
    step: int = 4,
) -> np.ndarray:
    """The fixed warp of an aligned crop from the source expression's shape to the target's.

    ``source_landmarks`` / ``target_landmarks``: (n, k, 2) FaceLandmarker meshes of the training
    crops (pixels).  The warp moves the mean source shape by the mean landmark displacement
    (thin-plate spline through all k points, crop border fixed).  With ``axis_x`` (the template's
    vertical axis in pixels, ``W / 2`` for the project's templates) shape and displacement are
    made exactly left/right symmetric.  Landmarks whose mean source ``y`` is below ``lower_from``
    pixels (the lower face) have their displacement multiplied by ``lower_gain``.  ``deadzone``
    (low, high) in pixels: see :func:`suppress_small_motion` (None keeps every motion).

    Returns the (H, W, 2) float32 sampling map for :func:`warp_image`; it is the same for every
    face, so synthesis needs no landmarks.
    """
    S = np.asarray(source_landmarks, dtype=np.float64)
    T = np.asarray(target_landmarks, dtype=np.float64)
    if S.ndim != 3 or S.shape[2] != 2 or S.shape != T.shape or S.shape[0] < 1:
        raise DataError(f"the landmark sets must both have shape (n, k, 2), got {S.shape} and {T.shape}")
    if (
        isinstance(lower_gain, bool)
        or not isinstance(lower_gain, numbers.Real)
        or not math.isfinite(lower_gain)
    ):
        raise InvalidParameterError(f"lower_gain must be a finite number, got {lower_gain!r}")
    s = S.mean(axis=0)
    d = (T - S).mean(axis=0)
    if axis_x is not None:
        idx = landmark_mirror_index(np.concatenate([S, T]), axis_x)
        sm = s[idx].copy()
        sm[:, 0] = 2.0 * axis_x - sm[:, 0]
        dm = d[idx].copy()
        dm[:, 0] = -dm[:, 0]
        s, d = 0.5 * (s + sm), 0.5 * (d + dm)
    if lower_from is not None and lower_gain != 1.0:
        d = d.copy()
        d[s[:, 1] > lower_from] *= lower_gain
    anchors = border_anchors(shape, axis_x=axis_x)
    m = backward_map(s + d, s, shape, anchors=anchors, step=step)
    if deadzone is not None:
        m = suppress_small_motion(m, *deadzone)
    return m


def texture_pairs(X, Y, sampling_map, *, mirror_axis: float | None = None, interpolation: str = "cubic"):
    """Training pairs of the texture model: ``(A, Y - A)`` with ``A`` the warped sources.

    ``X``, ``Y``: (n, H, W, C) float images in [0, 1].  ``A[i] = warp_image(X[i], sampling_map)``.
    With ``mirror_axis`` the mirrored pairs are appended (:func:`mirror_pairs`).  Fit a
    :class:`~mr_core.core.regression.MaskedRegression` on them: it then predicts the *change* of texture
    (teeth, cheek shading) of a face that already has the target's shape.
    """
    X = np.asarray(X, dtype=np.float32)
    Y = np.asarray(Y, dtype=np.float32)
    if X.ndim != 4 or X.shape != Y.shape:
        raise DataError(f"X and Y must both have shape (n, h, w, c), got {X.shape} and {Y.shape}")
    A = np.stack([warp_image(x, sampling_map, interpolation) for x in X])
    B = Y
    if mirror_axis is not None:
        A, B = mirror_pairs(A, B, axis_x=mirror_axis)
    return A, B - A


__all__ += ["expression_flow_map", "identity_map", "texture_pairs"]


def photo_sampling_map(displacement, matrix, box: tuple[int, int, int, int]) -> np.ndarray:
    """A crop's warp carried over to the photo it was aligned from, at the photo's resolution.

    ``displacement``: (h, w, 2) crop-pixel displacements (sampling map minus :func:`identity_map`).
    ``matrix``: the 2 x 3 affine map photo pixel -> crop pixel (``AlignedFace.matrix``).
    ``box``: (x0, y0, x1, y1), the photo region to compute.  Returns the (y1 - y0, x1 - x0, 2)
    float32 map of photo positions to sample for that region (for :func:`warp_image` on
    ``photo[y0:y1, x0:x1]``, in region coordinates).  Warping the photo itself, instead of pasting
    back the difference of an upsampled crop, keeps the photo's own detail where the shape moves.
    """
    import cv2

    disp = np.asarray(displacement, dtype=np.float32)
    if disp.ndim != 3 or disp.shape[2] != 2:
        raise DataError(f"the displacement must have shape (h, w, 2), got {disp.shape}")
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (2, 3) or not np.isfinite(m).all():
        raise DataError(f"the alignment matrix must be a finite 2 x 3 array, got shape {m.shape}")
    x0, y0, x1, y1 = (int(v) for v in box)
    if x1 <= x0 or y1 <= y0:
        raise InvalidParameterError(f"the box must have x1 > x0 and y1 > y0, got {box!r}")
    try:
        a_inv = np.linalg.inv(m[:, :2])
    except np.linalg.LinAlgError:
        raise DataError("the alignment matrix is singular") from None
    # a row of x and a column of y, broadcast: the same values as full grids, computed once per row / column
    px = np.arange(x0, x1, dtype=np.float64)[None, :]
    py = np.arange(y0, y1, dtype=np.float64)[:, None]
    cx = (m[0, 0] * px + m[0, 1] * py + m[0, 2]).astype(np.float32)
    cy = (m[1, 0] * px + m[1, 1] * py + m[1, 2]).astype(np.float32)
    d = cv2.remap(disp, cx, cy, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    out = np.empty((y1 - y0, x1 - x0, 2), dtype=np.float32)
    out[..., 0] = (px - x0) + a_inv[0, 0] * d[..., 0] + a_inv[0, 1] * d[..., 1]
    out[..., 1] = (py - y0) + a_inv[1, 0] * d[..., 0] + a_inv[1, 1] * d[..., 1]
    return out


__all__.append("photo_sampling_map")
