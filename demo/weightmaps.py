"""Pictures of what a masked regression model learned: its weight maps.

MR predicts every output pixel from the ``rf x rf`` window around the same pixel of the input,
with weights of its own, so each weight is an image over the face: the centre weight (how much
of itself a pixel keeps), the bias (what is added whatever the input) and one map per
neighbour offset (where a pixel borrows from its neighbours: the receptive fields).
"""

from __future__ import annotations

import io
import threading

import numpy as np

__all__ = ["neighbour_mosaic", "render_weight_maps"]

_render_lock = threading.Lock()  # matplotlib's font cache and text layout are not thread-safe


def _gray(maps: np.ndarray) -> np.ndarray:
    """(..., h, w, c) -> (..., h, w): the mean over colour channels."""
    return maps.mean(axis=-1)


def neighbour_mosaic(weights: np.ndarray, rf: int, show: int = 3, gap: int = 3) -> np.ndarray:
    """The central ``show x show`` neighbour weight maps tiled by offset (NaN between tiles)."""
    w = _gray(np.asarray(weights, dtype=np.float32))
    _, h, wd = w.shape
    show = min(show, rf)
    r, s = rf // 2, show // 2
    out = np.full((show * h + (show - 1) * gap, show * wd + (show - 1) * gap), np.nan, dtype=np.float32)
    for i, dy in enumerate(range(r - s, r + s + 1)):
        for j, dx in enumerate(range(r - s, r + s + 1)):
            y0, x0 = i * (h + gap), j * (wd + gap)
            out[y0 : y0 + h, x0 : x0 + wd] = w[dy * rf + dx]
    return out


def _draw_motion(fig, ax, motion: np.ndarray, step: int = 8) -> None:
    length = np.hypot(motion[..., 0], motion[..., 1])
    im = ax.imshow(length, cmap="magma", interpolation="nearest")
    h, w = length.shape
    yy, xx = np.mgrid[step // 2 : h : step, step // 2 : w : step]
    d = motion[step // 2 : h : step, step // 2 : w : step]
    moving = np.hypot(d[..., 0], d[..., 1]) > 0.1
    # a pixel takes its colour from (x + dx, y + dy): the content moves by -d (arrows in image
    # coordinates, drawn 3 times longer than the motion)
    ax.quiver(
        xx[moving], yy[moving], -d[..., 0][moving], -d[..., 1][moving],
        color="cyan", angles="xy", scale_units="xy", scale=1 / 3, width=0.006,
    )  # fmt: skip
    ax.set_title("learned motion (pixels; arrows x3)", fontsize=11)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(im, ax=ax, shrink=0.8)


def _limit(a: np.ndarray, q: float = 99.5) -> float:
    finite = np.abs(a[np.isfinite(a)])
    v = float(np.percentile(finite, q)) if finite.size else 1.0
    return v if v > 0 else 1.0


def render_weight_maps(
    weights: np.ndarray, bias: np.ndarray, rf: int, title: str = "", motion: np.ndarray | None = None
) -> np.ndarray:
    """An RGB uint8 picture: centre weight, sum of the weights, bias and the central 3x3 neighbour weights.

    ``motion`` (h, w, 2), for shape-texture models: the learned expression warp, drawn first as the
    length of each pixel's motion with arrows (where each pixel takes its colour from).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    weights = np.asarray(weights, dtype=np.float32)
    centre = _gray(weights[(rf // 2) * rf + rf // 2])
    total = _gray(weights.sum(axis=0))
    bias_map = _gray(np.asarray(bias, dtype=np.float32))
    mosaic = neighbour_mosaic(weights, rf)
    show = min(3, rf)
    with _render_lock:
        n = 4 if motion is None else 5
        fig = Figure(figsize=(15 if motion is None else 18.5, 4.2), dpi=100, layout="constrained")
        FigureCanvasAgg(fig)
        axes = list(fig.subplots(1, n, width_ratios=[1] * (n - 1) + [1.2]))
        if motion is not None:
            _draw_motion(fig, axes.pop(0), np.asarray(motion, dtype=np.float32))
        panels = [
            (centre, "centre weight", "viridis", None),
            (total, f"sum of the {rf * rf} weights", "viridis", None),
            (bias_map, "bias", "RdBu_r", _limit(bias_map)),
            (mosaic, f"neighbour weights ({show}×{show} offsets)", "RdBu_r", _limit(mosaic)),
        ]
        for ax, (img, label, cmap, lim) in zip(axes, panels, strict=True):
            if lim is not None:
                kw = {"vmin": -lim, "vmax": lim}
            else:  # robust range: a few extreme pixels at the border should not wash the map out
                lo, hi = np.percentile(img[np.isfinite(img)], [0.5, 99.5])
                kw = {"vmin": float(lo), "vmax": float(hi)}
            im = ax.imshow(img, cmap=cmap, interpolation="nearest", **kw)
            ax.set_title(label, fontsize=11)
            ax.set_xticks([])
            ax.set_yticks([])
            fig.colorbar(im, ax=ax, shrink=0.8)
        if title:
            fig.suptitle(title, fontsize=12)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", facecolor="white")
    buf.seek(0)
    with Image.open(buf) as im:
        return np.asarray(im.convert("RGB"))
