"""Rendering a face edit over MediaPipe's mesh: what the mesh + MR method and the face editor share.

A crop is warped piecewise-affinely from its landmarks to their edited places (:func:`mesh_warp`, the
triangles facing away drawn first so that a fold resolves as a renderer culls back faces), the eyes keep
their own pixels (:func:`soft_eye_mask`, :func:`eye_openings`), the skin is kept from folding
(:func:`unfolded`), nearly closed lids are closed (:func:`closed_lids`), and an opened mouth is filled
(:func:`mouth_mask`, :func:`mouth_fill`).  :func:`render` is the face editor's whole warp.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from .. import geometry
from ..face import mesh

#: MediaPipe's eye contours (upper and lower lid, outer corner to inner), the face's right eye then left.
EYE_LIDS = (
    ((33, 246, 161, 160, 159, 158, 157, 173, 133), (33, 7, 163, 144, 145, 153, 154, 155, 133)),
    ((263, 466, 388, 387, 386, 385, 384, 398, 362), (263, 249, 390, 373, 374, 380, 381, 382, 362)),
)
#: The pinned ring around the face: the outline scaled by this much about the outline's centre.
RING_SCALE = 1.3


def signed_areas(points: np.ndarray, tri: np.ndarray) -> np.ndarray:
    """Twice the signed area of each triangle (t,) of ``points`` (k, 2)."""
    a, b, c = points[tri[:, 0]], points[tri[:, 1]], points[tri[:, 2]]
    return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])


def front_last(tri: np.ndarray, points: np.ndarray, facing: np.ndarray) -> np.ndarray:
    """The triangles ``tri``, those turned over at ``points`` (their sign unlike ``facing``'s, the sign
    of their area where the mesh is not folded) first: where the mesh folds (at the face's outline,
    where lips press together) the triangles that face the camera then cover the pixels, as a renderer
    culls back faces, and a fold resolves the same way for every pixel instead of in jagged blocks."""
    back = signed_areas(points, tri) * facing < 0
    return np.concatenate([tri[back], tri[~back]])


def mesh_warp(P: np.ndarray, Pa: np.ndarray, tri: np.ndarray, size: tuple[int, int]):
    """(raster, moving): the triangles ``tri`` rasterised at the edited points ``Pa`` and the map (h, w, 2)
    that samples each pixel of the result from the points ``P`` (pixel centres at +0.5)."""
    raster = geometry.prepare_raster(*geometry.rasterize_triangles(Pa - 0.5, tri, size, step=2), tri)
    return raster, raster.map(P - 0.5, size)


def mouth_mask(La: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The mouth's opening (inner lips) of the points ``La``, 1 px wider for the lips' inner edges and
    softened (float32 (h, w) in [0, 1])."""
    import cv2

    h, w = size
    mouth = np.zeros((h, w), dtype=np.float32)
    poly = np.round(La[list(mesh.INNER_LIP)] * 16).astype(np.int32)
    cv2.fillPoly(mouth, [poly], 1.0, lineType=cv2.LINE_AA, shift=4)
    return cv2.GaussianBlur(cv2.dilate(mouth, np.ones((3, 3), np.uint8)), (0, 0), max(0.5, w / 256.0))


def soft_eye_mask(La: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The eyes' openings of the points ``La`` (their contours), widened and softened, 1 inside."""
    import cv2

    h, w = size
    eyes = np.zeros((h, w), dtype=np.float32)
    for contour in mesh.EYE_CONTOURS:
        cv2.fillPoly(eyes, [np.round(La[list(contour)] * 16).astype(np.int32)], 1.0, cv2.LINE_AA, shift=4)
    eyes = cv2.GaussianBlur(cv2.dilate(eyes, np.ones((3, 3), np.uint8)), (0, 0), max(0.5, w / 256.0))
    return np.clip(2.0 * eyes, 0.0, 1.0)


def eye_openings(La: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The eyes' openings between the lids :data:`EYE_LIDS` of the points ``La`` (anti-aliased, 1 inside)."""
    import cv2

    keep = np.zeros(size, dtype=np.float32)
    for up, lo in EYE_LIDS:
        poly = np.round(np.vstack([La[list(up)], La[list(lo)][::-1]]) * 16).astype(np.int32)
        cv2.fillPoly(keep, [poly], 1.0, lineType=cv2.LINE_AA, shift=4)
    return keep


def _strip(upper, lower) -> list[tuple[int, int, int]]:
    """Triangles filling the opening between two contours that share their end points."""
    tris = []
    n = len(upper) - 1
    for i in range(n):
        a, b, c, d = upper[i], upper[i + 1], lower[i], lower[i + 1]
        if i == 0:
            tris.append((a, b, d))
        elif i == n - 1:
            tris.append((a, b, c))
        else:
            tris += [(a, b, d), (a, d, c)]
    return tris


def eye_triangles() -> np.ndarray:
    return np.array([t for up, lo in EYE_LIDS for t in _strip(up, lo)], dtype=np.int64)


def _ring(L: np.ndarray) -> np.ndarray:
    outline = L[list(mesh.face_outline())]
    c = outline.mean(axis=0)
    return c + RING_SCALE * (outline - c)


def _ring_triangles() -> np.ndarray:
    ring = list(mesh.face_outline())
    n = len(ring)
    tris = []
    for i in range(n):
        a, b = ring[i], ring[(i + 1) % n]
        ra, rb = 478 + i, 478 + (i + 1) % n
        tris += [(a, b, rb), (a, rb, ra)]
    return np.array(tris, dtype=np.int64)


#: Lids whose gap shrinks below this fraction of their own meet: a nearly closed eye is closed (else a
#: pale slit of the eye's white stays between them).
SHUT = 0.25


def closed_lids(L: np.ndarray, La: np.ndarray) -> np.ndarray:
    """``La`` with the lids of each eye brought together where the edit leaves less than :data:`SHUT` of
    their gap: they meet a third of the way up from the lower lid (where a closed eye's lash line is)."""
    La = La.copy()
    for up, lo in EYE_LIDS:
        up, lo = list(up[1:-1]), list(lo[1:-1])
        gap0 = np.linalg.norm(L[up] - L[lo], axis=1)
        gap1 = np.linalg.norm(La[up] - La[lo], axis=1)
        if np.median(gap1 / np.maximum(gap0, 1e-6)) < SHUT:
            meet = La[lo] + (La[up] - La[lo]) / 3.0
            La[up], La[lo] = meet, meet
    return La


#: Least area a skin triangle of the mesh may keep (a fraction of its own); below it, or turned over, the
#: motion of its corners is halved until none is (the skin would fold and tear into jagged blocks).
MIN_AREA = 0.05


def unfolded(L: np.ndarray, La: np.ndarray, rounds: int = 8) -> np.ndarray:
    """``La`` with the motion limited where it would fold the skin of the upper face (above the nose's
    base, where brows move against the lids): the corners of every triangle there that would turn over or
    shrink below :data:`MIN_AREA` of its area move half as far, until none does (at most ``rounds`` times).
    The lower face folds where lips press together, which the renderer resolves (facing triangles last)."""
    tri = np.asarray(mesh.triangles()[: -len(mesh.mouth_triangles())])
    tri = tri[(L[tri, 1] < L[2, 1]).all(axis=1)]
    before = signed_areas(L, tri)
    La = La.copy()
    for _ in range(rounds):
        bad = signed_areas(La, tri) / np.where(np.abs(before) > 1e-9, before, 1e-9) < MIN_AREA
        bad &= np.abs(before) > 1e-6
        if not bad.any():
            break
        corners = np.unique(tri[bad])
        La[corners] = L[corners] + 0.5 * (La[corners] - L[corners])
    return La


#: The band along the crop's edges over which the motion fades out (a fraction of the crop's side).
EDGE_BAND = 0.06


@cache
def _edge_ramp(h: int, w: int) -> np.ndarray:
    """1 inside the crop, falling smoothly to 0 at its edges over :data:`EDGE_BAND` of its side."""

    def ramp(n: int) -> np.ndarray:
        band = max(1.0, EDGE_BAND * n)
        d = np.minimum(np.arange(n), np.arange(n)[::-1]) / band
        t = np.clip(d, 0.0, 1.0)
        return t * t * (3.0 - 2.0 * t)

    out = np.outer(ramp(h), ramp(w)).astype(np.float32)
    out.setflags(write=False)
    return out


def render(x: np.ndarray, L: np.ndarray, La: np.ndarray, mouth_model=None, fade: float = 1.0):
    """Warp a float crop (h, w, 3) from landmarks ``L`` to ``La`` (478, 2) and fill a mouth that opens.

    Returns (moved, change, displacement) like the mesh + MR method's edit.
    """
    h, w = x.shape[:2]
    La = closed_lids(L, unfolded(L, La))
    eyes_move = any(np.abs(La[list(up + lo)] - L[list(up + lo)]).max() > 1e-3 for up, lo in EYE_LIDS)
    tri = [mesh.triangles(), _ring_triangles()] + ([eye_triangles()] if eyes_move else [])
    tri = np.concatenate(tri)
    P = np.vstack([L, _ring(L)])
    Pa = np.vstack([La, _ring(L)])
    tri = front_last(tri, Pa, np.sign(signed_areas(P, tri)))
    _, moving = mesh_warp(P, Pa, tri, (h, w))
    # inside each new eye opening the eye keeps its own pixels: closing lids cover the iris, they do
    # not squash it (the lids' skin is what the warp moves), and an edit that leaves the lids where
    # they are leaves every pixel of the eye as it was
    keep = eye_openings(La, (h, w))
    ident = geometry.identity_map((h, w))
    moving = moving + keep[..., None] * (ident - moving)
    # the motion fades out towards the crop's edges, so the photo around the crop meets it without a seam
    moving = ident + (moving - ident) * _edge_ramp(h, w)[..., None]
    moved = geometry.warp_image(x, moving)
    change = np.zeros_like(moved)
    opened = mesh.mouth_opening(La[None])[0] - mesh.mouth_opening(L[None])[0]
    if mouth_model is not None and opened > MIN_OPENING:
        ref = np.asarray(mouth_model.reference_shape_, dtype=np.float64)
        content = mouth_fill(mouth_model.mouth_content(x, L), ref, La, x)
        mouth = mouth_mask(La, (h, w))
        change = (fade * mouth[..., None] * (content - moved)).astype(np.float32)
    return moved, change, (moving - ident).astype(np.float32)


#: Least growth of the mouth's opening (inner-lip gap over width) that is filled with the mouth model's
#: teeth and inside; below it the lips' own pixels stay between them.
MIN_OPENING = 0.04
#: Least height of the upper and lower teeth shown in an opened mouth (fraction of the mouth's width).
TEETH_HEIGHT = (0.13, 0.07)


def mouth_fill(content: np.ndarray, ref: np.ndarray, La: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The inside of the mouth opening of ``La`` from a mouth model's content in its reference frame.

    The reference opening's upper half (upper teeth) is laid under the new upper lip and its lower half
    over the new lower lip, each as tall as in the reference (scaled by the mouth's width) but at least
    :data:`TEETH_HEIGHT` of the mouth's width, so teeth keep their size in a mouth opened wider than the
    reference; what is left between them is the mouth's inside: the reference opening's darkest tenth
    above, shading into the colour of the face's own lips, darkened, where the tongue lies.
    """
    import cv2

    h, w = x.shape[:2]
    up, down = list(mesh.UPPER_INNER_LIP), list(mesh.LOWER_INNER_LIP)
    U, D = La[up], La[down]
    Ur, Dr = ref[up], ref[down]
    Mr = 0.5 * (Ur + Dr)
    width = float(np.linalg.norm(La[308] - La[78]))
    scale = width / max(float(np.linalg.norm(ref[308] - ref[78])), 1e-6)
    half = 0.5 * np.linalg.norm(Dr - Ur, axis=1) * scale
    # teeth bands: the reference's, or at least a fraction of the mouth's width, tapering at the corners
    taper = np.sin(np.linspace(0.0, np.pi, len(U)))
    top = np.maximum(half, TEETH_HEIGHT[0] * width * taper)
    bottom = np.maximum(half, TEETH_HEIGHT[1] * width * taper)
    gap = D - U
    G = np.linalg.norm(gap, axis=1)
    unit = gap / np.maximum(G, 1e-9)[:, None]
    share = np.minimum(1.0, G / np.maximum(top + bottom, 1e-9))
    Up = U + (top * share)[:, None] * unit
    Dp = D - (bottom * share)[:, None] * unit
    out_pts = np.vstack([U, Up, Dp, D])
    src_pts = np.vstack([Ur, Mr, Mr, Dr])
    n = len(U)
    tris, band_of = [], []
    for band, (a, b) in enumerate(((0, 1), (1, 2), (2, 3))):
        for i in range(n - 1):
            p, q, r, t = a * n + i, a * n + i + 1, b * n + i, b * n + i + 1
            tris += [(p, q, t), (p, t, r)]
            band_of += [band, band]
    tris = np.array(tris, dtype=np.int64)
    index, bary = geometry.rasterize_triangles(out_pts - 0.5, tris, (h, w))
    m = geometry.piecewise_affine_map(index, bary, tris, src_pts - 0.5, (h, w))
    filled = geometry.warp_image(content, m, "linear")
    inside = np.zeros((h, w), dtype=np.uint8)
    cv2.fillPoly(inside, [np.round(np.vstack([Ur, Dr[::-1]])).astype(np.int32)], 1)
    lips = np.zeros((h, w), dtype=np.uint8)
    cv2.fillPoly(lips, [np.round(La[list(mesh.OUTER_LIP)]).astype(np.int32)], 1)
    cv2.fillPoly(lips, [np.round(La[list(mesh.INNER_LIP)]).astype(np.int32)], 0)
    lip = x[lips.astype(bool)].mean(axis=0) if lips.any() else np.array([0.6, 0.35, 0.35])
    if inside.any():
        vals = content[inside.astype(bool)]
        lum = vals.mean(axis=1)
        dark = vals[lum <= np.quantile(lum, 0.1)].mean(axis=0) * 0.8
    else:
        dark = lip * 0.25
    tongue = lip * 0.55
    cavity = np.zeros((h, w), dtype=np.float32)
    depth = np.zeros((h, w), dtype=np.float32)  # 0 under the upper teeth .. 1 over the lower ones
    sel = index >= 0
    middle = np.asarray(band_of)[index[sel]] == 1
    cavity[sel] = middle
    rows = np.nonzero(sel)[0].astype(np.float64)
    y_top = np.interp(np.nonzero(sel)[1], Up[:, 0], Up[:, 1])
    y_bot = np.interp(np.nonzero(sel)[1], Dp[:, 0], Dp[:, 1])
    depth[sel] = np.clip((rows - y_top) / np.maximum(y_bot - y_top, 1e-6), 0.0, 1.0)
    colour = dark[None, None] + (depth**2)[..., None] * (tongue - dark)[None, None]
    cavity = cv2.GaussianBlur(cavity, (0, 0), max(0.7, w / 200.0))
    return (filled * (1 - cavity[..., None]) + cavity[..., None] * colour).astype(np.float32)
