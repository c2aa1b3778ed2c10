"""What a mesh + MR edit computes from a face's landmarks alone, kept for the next crop with the same ones.

An edit (:meth:`~mr_core.methods.mesh_mr.MeshRegressionModel.edit_one`) does two kinds of work: what
depends only on the face's landmarks and the intensity (the edited points, the mesh rasterised at them
and the maps it gives, the eyes', mouth's and face's masks and the weights made from them), and what
depends on the crop's pixels (the warps themselves, masked regression, the mouth's look, the shading).
A live stream runs the landmarker on every other frame (:class:`~mr_core.synthesis.live.LiveEditor`):
between, the face's last landmarks are used again in its new crop, so the first kind is the same.
:func:`shape_plan` keeps the last few :class:`ShapePlan` of each model, found again by the exact bytes
of the landmarks, the intensity and the model's settings; a plan found again is what computing it anew
would give, bit for bit.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from .. import geometry
from ..face import mesh
from .mesh_render import mesh_warp, mouth_mask, soft_eye_mask

#: Plans kept per model: enough for a few streams at once (each reuses its own every other frame).
PLANS_KEPT = 4

_lock = threading.Lock()


@dataclass(frozen=True)
class ShapePlan:
    """The landmark-only part of one edit (arrays read-only; float32 maps and weights of the crop's size).

    ``edited``: the edited points (478, 2); ``moving``: where each pixel of the moved crop samples the
    crop from (the eyes kept still); ``motion``: ``moving`` less the identity; ``to_ref``: where each
    pixel of the edited shape samples the reference frame from; ``to_norm``: where each pixel of the
    reference frame samples the crop from; ``low_weight``, ``low_norm``: the weight of MR's change in
    the low frequencies' normalised convolution and its blurred sum; ``mouth_change``, ``shade_weight``:
    what the mouth's new content and those low frequencies are multiplied by (intensity included).
    """

    edited: np.ndarray
    moving: np.ndarray
    motion: np.ndarray
    to_ref: np.ndarray
    to_norm: np.ndarray
    low_weight: np.ndarray
    low_norm: np.ndarray
    mouth_change: np.ndarray
    shade_weight: np.ndarray


def _settings(model) -> tuple:
    """What a plan depends on besides the landmarks and the intensity (a model's settings can change)."""
    return (
        tuple(model._size),
        float(getattr(model, "motion_gain", 1.0)),
        float(getattr(model, "mouth_gain", 1.0)),
        float(getattr(model, "lid_gain", 1.0)),
        float(getattr(model, "lid_sink", 0.0)),
        float(getattr(model, "shading_gain", 1.0)),
        str(getattr(model, "shape_frame_", "crop")),
        float(getattr(model, "open_threshold", 0.0)),
        getattr(model, "mouth_bank_", None) is not None,
        id(model.shape_weights_),
        id(model.reference_shape_),
    )


def build_plan(model, L: np.ndarray, a: float, close_below: tuple[float, float]) -> ShapePlan:
    """The plan of ``model``'s edit of a face with the landmarks ``L`` (478, 2, float64) at intensity ``a``
    (``close_below``: the mouth openings below which lips are closed and above which they are apart)."""
    import cv2
    h, w = model._size
    La = model.predict_landmarks(L, a)
    raster, moving = mesh_warp(L, La, model._front_last(La), (h, w))
    scale = w / 256.0
    # The eyes' openings keep their own pixels: no motion (even where a folded triangle covers
    # them) and no change of colour, the lids' inner edges included.
    eyes = soft_eye_mask(La, (h, w))
    ident = geometry.identity_map((h, w))
    moving = ident + (moving - ident) * (1.0 - eyes)[..., None]
    to_ref = raster.map(model.reference_shape_.astype(np.float64) - 0.5, (h, w))
    to_norm = model._reference().map(L - 0.5, (h, w))
    mouth = mouth_mask(La, (h, w))  # the edited shape's opening, with the lips' inner edges
    face = np.zeros((h, w), dtype=np.float32)
    outline = np.round(La[list(mesh.face_outline())] * 16).astype(np.int32)
    cv2.fillPoly(face, [outline], 1.0, lineType=cv2.LINE_AA, shift=4)
    face = cv2.GaussianBlur(face, (0, 0), 4.0 * scale)
    # MR's change is blurry where the input is sharp (the irises, lashes): in the eyes it would
    # lighten the iris, so the low frequencies come from the skin around them (normalised
    # convolution) and the eyes themselves get none.
    keep = 1.0 - eyes
    # Lips closed before and after the edit get none of the new content (a pale line between them
    # where real closed lips show their own dark line); it fades in as the lips part, before (the
    # teeth of a mouth that closes are covered) or after (an opened mouth is filled).
    lo, hi = close_below
    parted = float(np.clip((mesh.mouth_opening(np.stack([L, La])).max() - lo) / (hi - lo), 0.0, 1.0))
    shade = a * float(getattr(model, "shading_gain", 1.0))
    plan = ShapePlan(
        edited=La,
        moving=moving,
        motion=(moving - ident).astype(np.float32),
        to_ref=to_ref,
        to_norm=to_norm,
        low_weight=(keep * (1.0 - mouth))[..., None],
        low_norm=np.maximum(cv2.GaussianBlur(keep, (0, 0), 3.0 * scale), 0.05)[..., None],
        mouth_change=min(a, 1.0) * parted * mouth[..., None],
        shade_weight=shade * ((1.0 - mouth) * face * keep)[..., None],
    )
    for value in vars(plan).values():
        value.setflags(write=False)
    return plan


def shape_plan(model, L: np.ndarray, a: float, close_below: tuple[float, float]) -> ShapePlan:
    """``model``'s plan for the landmarks ``L`` at intensity ``a``: one of the last :data:`PLANS_KEPT`
    made for the same bytes and settings, else made now (and kept)."""
    L = np.ascontiguousarray(L, dtype=np.float64)
    key = (L.shape, L.tobytes(), float(a), tuple(close_below), _settings(model))
    with _lock:
        plans = getattr(model, "_plans", None)
        if plans is None:
            plans = model._plans = OrderedDict()
        plan = plans.get(key)
        if plan is not None:
            plans.move_to_end(key)
            return plan
    plan = build_plan(model, L, a, close_below)
    with _lock:
        plans[key] = plan
        while len(plans) > PLANS_KEPT:
            plans.popitem(last=False)
    return plan


def forget_plans(model) -> None:
    """Drop ``model``'s kept plans (its shape model was fitted anew)."""
    with _lock:
        model._plans = None
