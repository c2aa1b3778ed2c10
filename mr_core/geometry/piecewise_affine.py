"""Piecewise-affine warps over a triangle mesh: which triangle covers each pixel, and the sampling map."""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from .maps import _check_points, _identity


def rasterize_triangles(points, triangles, shape: tuple[int, int], step: int = 1):
    """Which triangle covers each pixel, and where in it.

    ``points`` (k, 2) pixel positions (``cv2.remap``'s convention: pixel ``i``'s centre at ``i``),
    ``triangles`` (t, 3) indices into them, ``shape`` = (H, W).  With ``step`` > 1 only every
    ``step``-th pixel is sampled (a grid of ``ceil(H / step)`` x ``ceil(W / step)``).  Returns
    ``(index, bary)``: int32 (h, w) triangle numbers (-1 where no triangle covers the pixel) and
    float32 (h, w, 3) barycentric weights of its three corners.  Where triangles overlap (a folded
    mesh), the later one wins.
    """
    P = _check_points(points, "points")
    tri = np.asarray(triangles, dtype=np.int64)
    if tri.ndim != 2 or tri.shape[1] != 3 or (tri.size and (tri.min() < 0 or tri.max() >= len(P))):
        raise DataError(f"triangles must be (t, 3) indices into {len(P)} points, got shape {tri.shape}")
    h, w = (int(v) for v in shape)
    s = int(step)
    gh, gw = -(-h // s), -(-w // s)
    V = P[tri] / s
    x0 = np.clip(np.ceil(V[..., 0].min(1)), 0, gw).astype(np.int64)
    x1 = np.clip(np.floor(V[..., 0].max(1)), -1, gw - 1).astype(np.int64)
    y0 = np.clip(np.ceil(V[..., 1].min(1)), 0, gh).astype(np.int64)
    y1 = np.clip(np.floor(V[..., 1].max(1)), -1, gh - 1).astype(np.int64)
    nx = np.maximum(x1 - x0 + 1, 0)
    ny = np.maximum(y1 - y0 + 1, 0)
    cnt = nx * ny
    index = np.full((gh, gw), -1, dtype=np.int32)
    bary = np.zeros((gh, gw, 3), dtype=np.float32)
    total = int(cnt.sum())
    if total == 0:
        return index, bary
    # What belongs to a triangle is computed once per triangle, then read per pixel.
    a0 = V[:, 0]
    e1 = V[:, 1] - a0
    e2 = V[:, 2] - a0
    den = e1[:, 0] * e2[:, 1] - e2[:, 0] * e1[:, 1]
    ok = np.abs(den) > 1e-12
    den = np.where(ok, den, 1.0)
    tid = np.repeat(np.arange(len(tri)), cnt)
    off = np.arange(total) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    nxt = nx[tid]
    px = x0[tid] + off % nxt
    py = y0[tid] + off // nxt
    e1x, e1y, e2x, e2y, a0x, a0y, d = (
        np.ascontiguousarray(v)[tid]
        for v in (e1[:, 0], e1[:, 1], e2[:, 0], e2[:, 1], a0[:, 0], a0[:, 1], den)
    )
    qx = px - a0x
    qy = py - a0y
    b1 = (qx * e2y - e2x * qy) / d
    b2 = (e1x * qy - qx * e1y) / d
    b0 = 1.0 - b1 - b2
    eps = -1e-7
    inside = ok[tid] & (b0 >= eps) & (b1 >= eps) & (b2 >= eps)
    py, px = py[inside], px[inside]
    index[py, px] = tid[inside]
    bary[py, px] = np.stack([b0[inside], b1[inside], b2[inside]], axis=-1)
    return index, bary


def piecewise_affine_map(index, bary, triangles, points, shape: tuple[int, int]) -> np.ndarray:
    """The sampling map of a piecewise-affine warp, from :func:`rasterize_triangles`' output.

    ``index``/``bary`` describe the output frame (rasterized with the output positions of the
    points, possibly on a coarse grid); ``points`` (k, 2) are the same points' positions in the
    image to sample.  Pixels no triangle covers sample themselves.  A coarse grid is interpolated
    bilinearly to ``shape`` = (H, W).  Returns float32 (H, W, 2) for :func:`warp_image`.  To map
    several point sets through one raster, :func:`prepare_raster` it once and call its ``map``.
    """
    return prepare_raster(index, bary, triangles).map(points, shape)


class PreparedRaster:
    """A raster of :func:`rasterize_triangles` made ready for any number of piecewise-affine maps.

    What depends only on the raster (the covered pixels, their triangles' corners and barycentric
    weights, their positions) is gathered once; :meth:`map` then only reads the points.  The maps
    are the same, bit for bit, as :func:`piecewise_affine_map`'s.
    """

    def __init__(self, index, bary, triangles) -> None:
        index = np.asarray(index)
        tri = np.asarray(triangles, dtype=np.int64)
        self.grid = index.shape
        gw = self.grid[1]
        self.sel = np.flatnonzero(index.ravel() >= 0)
        t = index.ravel()[self.sel]
        corners = tri[t]
        b = np.asarray(bary).reshape(-1, 3)[self.sel].astype(np.float64)
        # one contiguous array per corner: the gathers and products of map() run on plain vectors
        self.corners = [np.ascontiguousarray(corners[:, j]) for j in range(3)]
        self.bary = [np.ascontiguousarray(b[:, j]) for j in range(3)]
        self.k = int(tri.max()) + 1 if tri.size else 0
        self.col = self.sel % gw
        self.row = self.sel // gw

    def map(self, points, shape: tuple[int, int]) -> np.ndarray:
        """The sampling map (H, W, 2) float32 of the warp to this raster from ``points`` (k, 2)."""
        import cv2

        Q = _check_points(points, "points")
        if len(Q) < self.k:
            raise DataError(f"points must hold the {self.k} mesh points the triangles index, got {len(Q)}")
        h, w = (int(v) for v in shape)
        gh, gw = self.grid
        step = -(-h // gh) if gh else 1
        disp = np.zeros((gh * gw, 2), dtype=np.float32)
        if len(self.sel):
            (b0, b1, b2), (c0, c1, c2) = self.bary, self.corners
            for axis, offset in ((0, self.col), (1, self.row)):
                q = np.ascontiguousarray(Q[:, axis])
                disp[self.sel, axis] = b0 * q[c0] + b1 * q[c1] + b2 * q[c2] - offset * step
        disp = disp.reshape(gh, gw, 2)
        if (gh, gw) != (h, w):
            m = np.array([[1.0 / step, 0, 0], [0, 1.0 / step, 0]])
            disp = cv2.warpAffine(
                disp,
                m,
                (w, h),
                flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_REPLICATE,
            )
        return _identity(h, w) + disp


def prepare_raster(index, bary, triangles) -> PreparedRaster:
    """``rasterize_triangles``' ``(index, bary)`` of ``triangles``, ready for repeated maps."""
    return PreparedRaster(index, bary, triangles)
