"""The FaceLandmarker's 478-point face mesh: its triangles, lip contours and the points identity keeps.

The topology is MediaPipe's canonical face mesh (``FaceLandmarksConnections`` of the installed
``mediapipe`` package, read once on first use), with the opening of the mouth triangulated as a
strip between the upper and the lower inner lip so that a piecewise-affine warp can open a closed
mouth (the strip's triangles grow from zero area) or close an open one (they shrink to zero area and
what was between the lips disappears).  The eyes are holes of the mesh: a warp over it never moves
the pixels inside them.
"""

from __future__ import annotations

from functools import cache

import numpy as np

#: Number of FaceLandmarker points (468 mesh points and 10 iris points).
N_POINTS = 478

#: Inner lip contour, clockwise from the right mouth corner (78): upper lip to 308, lower lip back.
INNER_LIP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
#: Outer lip contour, the same way round from the right mouth corner (61).
OUTER_LIP = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146)
#: Each lip contour as two paths from the right mouth corner to the left: along the upper lip and
#: along the lower lip (both with the corners).
UPPER_INNER_LIP = INNER_LIP[:11]
LOWER_INNER_LIP = INNER_LIP[:1] + INNER_LIP[10:][::-1]
UPPER_OUTER_LIP = OUTER_LIP[:11]
LOWER_OUTER_LIP = OUTER_LIP[:1] + OUTER_LIP[10:][::-1]
#: Each eye's opening (its contour in order, the person's right eye first), then its iris centre.
EYE_CONTOURS = (
    (33, 246, 161, 160, 159, 158, 157, 173, 133, 155, 154, 153, 145, 144, 163, 7),
    (263, 466, 388, 387, 386, 385, 384, 398, 362, 382, 381, 380, 374, 373, 390, 249),
)
IRIS_CENTRES = (468, 473)
#: Mid-points of the inner lips (upper, lower) and the mouth corners (right, left).
LIP_MIDPOINTS = (13, 14)
MOUTH_CORNERS = (61, 291)


def _connections(name: str) -> list[tuple[int, int]]:
    from mediapipe.tasks.python.vision import FaceLandmarksConnections

    return [(c.start, c.end) for c in getattr(FaceLandmarksConnections, name)]


@cache
def mouth_triangles() -> np.ndarray:
    """Triangles (18, 3) that fill the mouth's opening: a strip from the upper to the lower inner lip."""
    upper, lower = UPPER_INNER_LIP, LOWER_INNER_LIP  # 78 ... 308 along each lip
    tris = []
    for i in range(10):
        a, b, c, d = upper[i], upper[i + 1], lower[i], lower[i + 1]
        if i == 0:
            tris.append((a, b, d))
        elif i == 9:
            tris.append((a, b, c))
        else:
            tris += [(a, b, d), (a, d, c)]
    out = np.array(tris, dtype=np.int32)
    out.setflags(write=False)
    return out


@cache
def triangles() -> np.ndarray:
    """All triangles (k, 3) of the mesh, the mouth's opening included (read-only int32)."""
    edges = _connections("FACE_LANDMARKS_TESSELATION")
    mesh = np.array([[edges[i][0], edges[i + 1][0], edges[i + 2][0]] for i in range(0, len(edges), 3)])
    out = np.vstack([mesh.astype(np.int32), mouth_triangles()])
    out.setflags(write=False)
    return out


@cache
def pinned_points() -> np.ndarray:
    """Points an expression must not move: the face outline, the eye contours and the irises.

    The outline is the mesh's border (beyond it nothing moves) and the eyes are its holes, so
    keeping them still makes the warp continuous; they are also what identity rests on most.
    """
    pts = set(range(468, N_POINTS))
    for name in ("FACE_LANDMARKS_FACE_OVAL", "FACE_LANDMARKS_LEFT_EYE", "FACE_LANDMARKS_RIGHT_EYE"):
        for a, b in _connections(name):
            pts.update((a, b))
    out = np.array(sorted(pts), dtype=np.int64)
    out.setflags(write=False)
    return out


def mouth_opening(landmarks) -> np.ndarray:
    """How far the lips are apart: inner-lip gap over mouth width, per face ((n,) for (n, 478, 2))."""
    L = np.asarray(landmarks, dtype=np.float64)
    gap = np.linalg.norm(L[..., LIP_MIDPOINTS[0], :] - L[..., LIP_MIDPOINTS[1], :], axis=-1)
    width = np.linalg.norm(L[..., MOUTH_CORNERS[0], :] - L[..., MOUTH_CORNERS[1], :], axis=-1)
    return gap / np.maximum(width, 1e-9)


@cache
def face_outline() -> tuple[int, ...]:
    """The face outline's points in order around the face (the mesh's border)."""
    edges = _connections("FACE_LANDMARKS_FACE_OVAL")
    nxt: dict[int, list[int]] = {}
    for a, b in edges:
        nxt.setdefault(a, []).append(b)
        nxt.setdefault(b, []).append(a)
    ring, prev, cur = [edges[0][0]], None, edges[0][0]
    while True:
        step = next(p for p in nxt[cur] if p != prev)
        if step == ring[0]:
            return tuple(ring)
        ring.append(step)
        prev, cur = cur, step


def distance_to_outline(landmarks) -> np.ndarray:
    """Each point's distance (478,) to the face outline (the closed polyline of :func:`face_outline`)
    of the same face's landmarks (478, 2)."""
    L = np.asarray(landmarks, dtype=np.float64)
    ring = L[list(face_outline())]
    a, b = ring, np.roll(ring, -1, axis=0)
    ab = b - a
    # x and y apart (points x segments), not as a last axis of 2: the same sums, without tiny reductions
    (ax, ay), (bx, by), (px, py) = a.T, ab.T, (L[:, :1], L[:, 1:])
    qx, qy = px - ax, py - ay
    t = np.clip((qx * bx + qy * by) / np.maximum(bx * bx + by * by, 1e-12), 0.0, 1.0)
    dx, dy = px - (ax + t * bx), py - (ay + t * by)
    return np.sqrt(dx * dx + dy * dy).min(axis=1)
