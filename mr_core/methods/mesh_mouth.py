"""The mesh + MR method's mouth: the look of an opened mouth learned from the training smiles.

MR predicts the average of many mouths: a smooth, greyish band where teeth should be, whose colour
follows the skin's.  Models learned from open mouths therefore also keep, in the reference frame, the
mean colour of the training targets' mouth openings, the fine detail (high-pass) of the *medoid* mouth
and a *bank* of every open training mouth's detail with the shape of its face (its key) and its colour
over the same photo's eye whites.  At synthesis the opening takes the detail of the training mouths
nearest to the face's shape, lit by the photo's own eye whites (:meth:`MouthLook._dress_mouth`).
"""

from __future__ import annotations

import math

import numpy as np

from ..face import mesh
from .mesh_shape import similarity, still_points

#: Tensors of models whose metadata says ``mouth_model: true`` (learned from open mouths).
MOUTH_TENSORS = ("mouth_colour", "mouth_detail")
#: Tensors of models whose metadata says ``mouth_bank: true``: every open training mouth's detail
#: (in the reference frame's mouth box), the shape of its face (its key) and its colour over the
#: same photo's eye whites.
BANK_TENSORS = ("mouth_bank", "mouth_keys", "mouth_white")
#: Mouths of the bank blended for one face: its nearest ones by the shape of the lower face.
BANK_NEAREST = 3
#: Scale (Gaussian sigma, pixels of a 256-pixel crop) below which the medoid mouth's detail is kept.
MOUTH_DETAIL_SIGMA = 2.0
#: The points of a face's mouth key: the lips' contours, the nose's base and the chin.
KEY_POINTS = mesh.OUTER_LIP + mesh.INNER_LIP + (2, 152, 175, 199)
#: The most the teeth (the brightest tenth of the opening, CIE L*) may exceed the same photo's eye
#: whites (their brightest tenth): the 95th percentile of that difference over the real smiles of the
#: London set's training subjects whose lips are apart (35 photos: median +11.4, largest +25.7;
#: ``scripts/measure_teeth_cap.py``).  Brighter synthetic teeth are darkened to it.
TEETH_OVER_WHITES = 19.6
#: The teeth's colour (chromaticity: R, G, B over their sum, of the brightest tenth of the opening)
#: over that of the same photo's eye whites: the median over those 35 real smiles (quartiles 0.941 to
#: 0.982, 1.022 to 1.046, 0.992 to 1.034; ``scripts/measure_teeth_cap.py``).  The opening is
#: recoloured so that its teeth have it: teeth that take the photo's white balance from its eye
#: whites, not the hue of MR's prediction (cyan against a warm dim webcam face).
TEETH_HUE_OVER_WHITES = (0.955, 1.040, 1.008)
#: The chromaticity of those real teeth, 5th and 95th percentiles per channel: the teeth's hue is
#: kept within it, since what the eye-white mask holds is not always white (a pink caruncle, a
#: yellowed or reflecting sclera) and teeth that follow it all the way turn pink, yellow or blue.
TEETH_HUE_RANGE = ((0.341, 0.318, 0.304), (0.374, 0.337, 0.325))
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _lightness(rgb: np.ndarray) -> np.ndarray:
    """CIE L* of float RGB pixels in [0, 1] (any shape ending in 3)."""
    import cv2

    flat = np.clip(np.asarray(rgb, dtype=np.float32).reshape(-1, 1, 3), 0.0, 1.0)
    return cv2.cvtColor(flat, cv2.COLOR_RGB2LAB)[:, 0, 0].reshape(np.shape(rgb)[:-1])


def _brightest_tenth(v: np.ndarray) -> float:
    v = np.sort(np.ravel(v))
    return float(v[-max(1, len(v) // 10) :].mean())


def teeth_colour(pix: np.ndarray) -> np.ndarray:
    """The teeth's colour (3,) among an opening's float RGB pixels (k, 3): the mean of their brightest
    tenth by luma."""
    luma = pix @ _LUMA
    return pix[luma >= np.quantile(luma, 0.9)].mean(axis=0).astype(np.float64)


def _hue_like_whites(box: np.ndarray, inner: np.ndarray, fade: np.ndarray, white: np.ndarray) -> None:
    """Recolour the opening ``box`` (h, w, 3, in place; ``fade`` its soft mask) by one gain per
    channel, its brightness kept, so that its teeth (the brightest tenth of ``inner``) get the eye
    whites' chromaticity times :data:`TEETH_HUE_OVER_WHITES`, within :data:`TEETH_HUE_RANGE`."""
    pix = box[inner]
    if len(pix) < 10:
        return
    teeth = teeth_colour(pix)
    if teeth.min() <= 1e-4 or float(np.min(white)) <= 1e-4:
        return
    want = np.asarray(white, dtype=np.float64) / float(np.sum(white)) * TEETH_HUE_OVER_WHITES
    for _ in range(3):
        want = np.clip(want / want.sum(), *TEETH_HUE_RANGE)
    gain = (want / want.sum()) / (teeth / teeth.sum())
    gain *= float(teeth @ _LUMA) / float((teeth * gain) @ _LUMA)  # the teeth's brightness kept
    box *= (1.0 + fade * (gain.astype(np.float32) - 1.0))


def eye_white(x: np.ndarray, L) -> np.ndarray | None:
    """The colour (3,) of the eye whites of a float crop ``x`` (h, w, 3) with its points ``L``: the
    median of the brighter half of the eyes' openings outside the irises; ``None`` when they hold
    fewer than 4 pixels (closed eyes)."""
    return _white_of(eye_white_pixels(x, L))


def _white_of(pix: np.ndarray) -> np.ndarray | None:
    """The eye whites' colour (:func:`eye_white`) of the pixels :func:`eye_white_pixels` gave."""
    if len(pix) < 4:
        return None
    bright = pix[pix.mean(axis=1) >= np.median(pix.mean(axis=1))]
    return np.median(bright, axis=0)


def eye_white_pixels(x: np.ndarray, L) -> np.ndarray:
    """The pixels (k, 3) of the eyes' openings outside the irises of a float crop ``x`` with its
    points ``L``."""
    import cv2

    L = np.asarray(L, dtype=np.float64)
    h, w = x.shape[:2]
    pix = []
    for contour, centre in zip(mesh.EYE_CONTOURS, mesh.IRIS_CENTRES, strict=True):
        poly = L[list(contour)]
        x0, y0 = np.maximum(np.floor(poly.min(axis=0)).astype(int) - 1, 0)
        x1, y1 = np.minimum(np.ceil(poly.max(axis=0)).astype(int) + 2, (w, h))
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        m = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
        cv2.fillPoly(m, [np.round((poly - (x0, y0)) * 16).astype(np.int32)], 1, shift=4)
        c = L[centre]
        r = float(np.linalg.norm(L[centre + 1 : centre + 5] - c, axis=1).mean())
        yy, xx = np.mgrid[y0:y1, x0:x1]
        m &= ((xx - c[0]) ** 2 + (yy - c[1]) ** 2 > (1.2 * r) ** 2).astype(np.uint8)
        pix.append(np.asarray(x[y0:y1, x0:x1], dtype=np.float64)[m.astype(bool)])
    return np.concatenate(pix) if pix else np.zeros((0, 3))


class MouthLook:
    """The mouth's look of a :class:`~mr_core.methods.mesh_mr.MeshRegressionModel` (a base of it): it
    uses the model's ``_size``, ``shape_mean_`` and ``reference_shape_``, and keeps ``mouth_colour_``,
    ``mouth_detail_``, ``mouth_bank_``, ``mouth_keys_`` and ``mouth_white_``."""

    def _mouth(self):
        """The reference shape's mouth opening: (hard mask (h, w) bool, soft mask (h, w), bounding box)."""
        if getattr(self, "_mouth_masks", None) is None:
            import cv2

            h, w = self._size
            poly = np.round(self.reference_shape_[list(mesh.INNER_LIP)].astype(np.float64) * 16).astype(
                np.int32
            )
            hard = np.zeros((h, w), dtype=np.uint8)
            cv2.fillPoly(hard, [poly], 1, shift=4)
            soft = np.zeros((h, w), dtype=np.float32)
            cv2.fillPoly(soft, [poly], 1.0, lineType=cv2.LINE_AA, shift=4)
            soft = cv2.GaussianBlur(soft, (0, 0), max(0.5, w / 256.0))
            ys, xs = np.nonzero(soft > 1e-3)
            if len(ys) == 0:  # a closed reference mouth: nothing to fill
                box = (0, 0, 0, 0)
            else:
                pad = int(math.ceil(3 * MOUTH_DETAIL_SIGMA * w / 256.0))
                box = (
                    max(ys.min() - pad, 0),
                    min(ys.max() + pad + 1, h),
                    max(xs.min() - pad, 0),
                    min(xs.max() + pad + 1, w),
                )
            self._mouth_masks = (hard.astype(bool), soft, box)
        return self._mouth_masks

    def _soft_in_box(self, soft: np.ndarray, box) -> bool:
        """Whether the soft mask of :meth:`_mouth` is 0 everywhere outside its box (found once)."""
        held = getattr(self, "_soft_boxed", None)
        if held is None or held[0] is not soft:
            y0, y1, x0, x1 = box
            held = self._soft_boxed = (soft, np.count_nonzero(soft) == np.count_nonzero(soft[y0:y1, x0:x1]))
        return held[1]

    def _add_mouths(self, B: np.ndarray, Y: np.ndarray, S: np.ndarray, T: np.ndarray) -> None:
        """Collect the shape-normalised targets' mouth openings (colour sums and crops of the box),
        their faces' keys (from the sources' points ``S``) and their colour over the eye whites of
        the same target photo ``Y`` (points ``T``)."""
        hard, _, (y0, y1, x0, x1) = self._mouth()
        if not hard.any() or not len(B):
            return
        means = B[:, hard].mean(axis=1)
        self._mouth_sum = self._mouth_sum + means.sum(axis=0)
        self._mouth_crops.extend(np.asarray(B[:, y0:y1, x0:x1], dtype=np.float16))
        for y, src, tgt, m in zip(Y, S, T, means, strict=True):
            self._bank_keys.append(self._mouth_key(src))
            white = eye_white(y, tgt)
            self._bank_white.append(np.full(3, np.nan) if white is None else m / np.maximum(white, 1e-3))

    def _mouth_key(self, L: np.ndarray) -> np.ndarray:
        """What chooses a face's mouths from the bank: its lips' and lower face's points in the
        frame of its still points (crop widths, centred)."""
        w = self._size[1]
        mean = self.shape_mean_.astype(np.float64).reshape(mesh.N_POINTS, 2) * w
        A, b = similarity(np.asarray(L, dtype=np.float64)[still_points()], mean[still_points()])
        P = (np.asarray(L, dtype=np.float64)[list(KEY_POINTS)] @ A.T + b) / w
        return (P - P.mean(axis=0)).ravel().astype(np.float32)

    def _mouth_model(self):
        """(mouth_colour_ (3,), mouth_detail_ (h, w, 3)) or (None, None) for a model without them."""
        crops = getattr(self, "_mouth_crops", None)
        if getattr(self, "mouth_colour_", None) is None and crops:
            import cv2

            h, w = self._size
            hard, soft, (y0, y1, x0, x1) = self._mouth()
            C = np.asarray(crops, dtype=np.float32)
            inner = hard[y0:y1, x0:x1]
            mean = C.mean(axis=0)
            medoid = C[int(np.argmin(((C[:, inner] - mean[inner]) ** 2).sum(axis=(1, 2))))]
            detail = medoid - cv2.GaussianBlur(medoid, (0, 0), MOUTH_DETAIL_SIGMA * w / 256.0)
            full = np.zeros((h, w, 3), dtype=np.float32)
            full[y0:y1, x0:x1] = detail * soft[y0:y1, x0:x1, None]
            self.mouth_colour_ = (self._mouth_sum / len(C)).astype(np.float32)
            self.mouth_detail_ = full
            blur = np.stack([cv2.GaussianBlur(c, (0, 0), MOUTH_DETAIL_SIGMA * w / 256.0) for c in C])
            self.mouth_bank_ = ((C - blur) * soft[y0:y1, x0:x1, None]).astype(np.float32)
            self.mouth_keys_ = np.asarray(self._bank_keys, dtype=np.float32)
            ratio = np.asarray(self._bank_white, dtype=np.float64)
            fill = np.nanmean(ratio, axis=0) if np.isfinite(ratio).any() else np.full(3, 0.6)
            self.mouth_white_ = np.where(np.isfinite(ratio), ratio, fill).astype(np.float32)
            self._mouth_crops, self._bank_keys, self._bank_white = [], [], []
        return getattr(self, "mouth_colour_", None), getattr(self, "mouth_detail_", None)

    def _dress_mouth(self, pred: np.ndarray, x: np.ndarray | None = None, L=None) -> np.ndarray:
        """MR's prediction in the reference frame with the mouth's colour and detail (see the module).

        With a mouth bank and the input crop ``x`` with its points ``L``: the detail of the training
        mouths nearest to this face's shape (:data:`BANK_NEAREST`, the nearest weighing most), and
        the opening's colour that of the same photo's eye whites times those mouths' colour over
        their own photos' eye whites, so the teeth are lit as the face is.  Otherwise (no bank, eyes
        not found): MR's brightness with the training mouths' hue and the medoid's detail."""
        colour, detail = self._mouth_model()
        if colour is None:
            return pred
        hard, soft, (y0, y1, x0, x1) = self._mouth()
        mean = pred[hard].mean(axis=0)
        hue = colour / max(float(colour.mean()), 1e-6) * float(mean.mean())
        bank = getattr(self, "mouth_bank_", None)
        if bank is None or x is None or not len(bank):
            return pred + soft[..., None] * (hue - mean).astype(np.float32) + detail
        d2 = ((self.mouth_keys_ - self._mouth_key(L)) ** 2).sum(axis=1)
        near = np.argsort(d2)[:BANK_NEAREST]
        wts = np.exp(-4.0 * (d2[near] / max(float(d2[near[0]]), 1e-12) - 1.0))
        wts = (wts / wts.sum()).astype(np.float32)
        pix = eye_white_pixels(x, L)
        white = _white_of(pix)
        target = hue if white is None else (wts @ self.mouth_white_[near]) * white
        shift = (target - mean).astype(np.float32)
        if self._soft_in_box(soft, (y0, y1, x0, x1)):  # the same sums where they change anything
            out = pred.copy()
            out[y0:y1, x0:x1] = pred[y0:y1, x0:x1] + soft[y0:y1, x0:x1, None] * shift
        else:
            out = pred + soft[..., None] * shift
        # the detail scales with the light: a dim photo's teeth have dim edges
        gain = float(np.mean(target)) / max(float(colour.mean()), 1e-6)
        out[y0:y1, x0:x1] += gain * np.tensordot(wts, bank[near], axes=1)
        if white is not None:  # the eye whites' hue; never brighter over them than real teeth are
            box, inner, fade = out[y0:y1, x0:x1], hard[y0:y1, x0:x1], soft[y0:y1, x0:x1, None]
            _hue_like_whites(box, inner, fade, white)
            limit = _brightest_tenth(_lightness(pix)) + TEETH_OVER_WHITES
            for _ in range(3):  # the scaling is exact but for the sRGB curve's linear toe
                teeth = _brightest_tenth(_lightness(box[inner]))
                if teeth <= limit + 0.1:
                    break
                np.clip(box, 0.0, 1.0, out=box)  # what the photo shows of it in the end
                # L* -> relative luminance, which sRGB values scale by about their 2.4th power
                f = ((limit + 16.0) / (teeth + 16.0)) ** (3.0 / 2.4)
                box *= 1.0 - (1.0 - f) * fade
        return out
