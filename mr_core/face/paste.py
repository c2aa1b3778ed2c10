"""Paste-back: put an edited crop (or a crop-frame motion) back into the photo it was aligned from.

:func:`paste_back` warps an edited crop back into the photo under a feathered elliptical mask whose
width scales with the face; every pixel outside the mask stays bit-identical.  :func:`move_pixels`
moves the photo's own pixels by a motion drawn in the crop's frame.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from ..errors import InvalidParameterError
from ..geometry import photo_sampling_map, warp_image
from .align import AlignedFace, _as_rgb, _invert_affine, _roi_of_crop, face_mask


# --------------------------------------------------------------------------- paste-back
@lru_cache(maxsize=32)
def _support(template: str, h: int, w: int) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) around the pixels of a crop's paste-back mask that are not 0, with a
    pixel's margin; None when there are none."""
    ys, xs = np.nonzero(face_mask(template, (h, w)))
    if len(xs) == 0:
        return None
    return (int(xs.min()) - 1, int(ys.min()) - 1, int(xs.max()) + 2, int(ys.max()) + 2)


def move_pixels(
    image, displacement: np.ndarray, aligned: AlignedFace, *, inplace: bool = False
) -> np.ndarray:
    """Warp the photo around a face by a displacement field given in the aligned crop's frame.

    ``displacement`` (h, w, 2), in crop pixels, says where each crop pixel samples from (relative to
    itself); it is carried over to the photo at the photo's own resolution, so the person's pixels
    move (e.g. the mouth corners up) without passing through the 128-pixel crop.  Pixels the field
    does not move, and everything outside the crop, stay bit-identical.
    """
    rgb = _as_rgb(image)
    h, w = aligned.size
    if np.asarray(displacement).shape != (h, w, 2):
        raise InvalidParameterError(
            f"the displacement must have shape {(h, w, 2)}, got {np.shape(displacement)}"
        )
    if inplace and not rgb.flags.writeable:
        raise InvalidParameterError("move_pixels(inplace=True) needs a writable image")
    out = rgb if inplace else rgb.copy()
    x0, y0, x1, y1 = _roi_of_crop(_invert_affine(aligned.matrix), (h, w), rgb.shape, pad=2.0)
    if x1 <= x0 or y1 <= y0:
        return out
    sampling = photo_sampling_map(displacement, aligned.matrix, (x0, y0, x1, y1))
    out[y0:y1, x0:x1] = warp_image(rgb[y0:y1, x0:x1].copy(), sampling)
    return out


def paste_back(
    image, crop_out: np.ndarray, aligned: AlignedFace, *, mode: str = "delta", inplace: bool = False
) -> np.ndarray:
    """Put an edited crop back into the photo it was aligned from; returns a new uint8 image.

    ``mode="delta"`` (default) adds the change ``crop_out - aligned.crop`` to the photo, so the
    photo keeps its own resolution and colours wherever the crop was not changed;
    ``mode="replace"`` blends in the crop itself.  Either way the change is faded out by the
    template's feathered ellipse (its width scales with the face) and every pixel outside it
    is returned bit-identical.  ``inplace=True`` writes into ``image`` itself and returns it.
    """
    rgb = _as_rgb(image)
    if mode not in ("delta", "replace"):
        raise InvalidParameterError(f"paste-back mode must be 'delta' or 'replace', not {mode!r}")
    h, w = aligned.size
    crop_out = np.asarray(crop_out)
    if crop_out.shape != (h, w, 3):
        raise InvalidParameterError(f"the edited crop must have shape {(h, w, 3)}, got {crop_out.shape}")
    if aligned.photo_shape and tuple(aligned.photo_shape[:2]) != rgb.shape[:2]:
        raise InvalidParameterError(
            f"the crop was aligned on a {aligned.photo_shape[1]}x{aligned.photo_shape[0]} photo, "
            f"not this {rgb.shape[1]}x{rgb.shape[0]} one"
        )
    if inplace and not rgb.flags.writeable:
        raise InvalidParameterError("paste_back(inplace=True) needs a writable image")
    out = rgb if inplace else rgb.copy()
    m = np.asarray(aligned.matrix, dtype=np.float64)
    inv = _invert_affine(m)
    crop_mask = face_mask(aligned.template, (h, w))
    support = _support(aligned.template, h, w)
    if support is None:
        return out
    x0, y0, x1, y1 = _roi_of_crop(inv, (h, w), rgb.shape, pad=2.0, box=support)
    if x1 <= x0 or y1 <= y0:
        return out
    # ROI pixel q -> crop pixel: M (q + offset)
    m_roi = m.copy()
    m_roi[:, 2] = m[:, 2] + m[:, :2] @ np.array([x0, y0], dtype=np.float64)
    dsize = (x1 - x0, y1 - y0)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    mask = cv2.warpAffine(crop_mask, m_roi, dsize, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if not mask.any():
        return out
    region = out[y0:y1, x0:x1]
    if mode == "delta":
        delta = crop_out.astype(np.float32) - np.asarray(aligned.crop, dtype=np.float32)
        change = cv2.warpAffine(delta, m_roi, dsize, flags=flags, borderMode=cv2.BORDER_REPLICATE)
    else:
        moved = cv2.warpAffine(
            crop_out.astype(np.float32), m_roi, dsize, flags=flags, borderMode=cv2.BORDER_REPLICATE
        )
        change = cv2.subtract(moved, region, dtype=cv2.CV_32F)
    change *= mask[:, :, None]
    # Saturating, rounding uint8 + float add.  Where the mask is 0 the change is exactly 0, so those
    # pixels come back bit-identical; only pixels under the mask are written.
    result = cv2.add(region, change, dtype=cv2.CV_8U)
    np.copyto(region, result, where=(mask > 0)[:, :, None])
    return out
