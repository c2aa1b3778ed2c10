"""The mesh + MR method's shape model: a ridge regression from a face's landmarks to its target's.

Each pair is seen in the frame of its source's *still points* (irises, eye corners, the nose's ridge
and tip: they do not move with the expression), fitted by a similarity; the ridge weight is chosen by
cross-validation over the training subjects (a pair and its mirror image stay in one fold).
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError
from ..face import mesh

#: Ridge weights tried by the cross-validation of the shape model (coordinates in crop widths).
SHAPE_LAMS = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
#: Folds of that cross-validation (over subjects: a pair and its mirror image stay together).
CV_FOLDS = 5
#: Points that fix a face's frame for the shape model (they do not move with the expression): the
#: irises, the eyes' corners and the nose's ridge and tip.
STILL = tuple(range(468, 478)) + (33, 133, 263, 362) + (1, 2, 4, 5, 6, 98, 168, 195, 197, 327)
#: Each eye's lower lid (inner contour points between the corners, the person's right eye first) and
#: the upper-lid and lower-lid midpoints that give the eye's height.  A lower lid may rise (a smile
#: narrows the eyes) by at most :data:`LID_RISE` of the eye's height, so that the pupil stays in
#: view, and sink by at most the model's ``lid_sink`` of it; the iris under it keeps its own pixels.
LOWER_LIDS = ((155, 154, 153, 145, 144, 163, 7), (382, 381, 380, 374, 373, 390, 249))
EYE_HEIGHT = ((159, 145), (386, 374))
LID_RISE = 0.35


def lid_motion(L: np.ndarray, d: np.ndarray, gain: float, sink: float = 0.0) -> np.ndarray:
    """The lower lids' motion (478, 2) of one face's points ``L`` (478, 2): the predicted one ``d``
    (not pinned) times ``gain``, vertical only, rising by at most :data:`LID_RISE` and sinking by at
    most ``sink`` of the eye's height (zero elsewhere)."""
    out = np.zeros_like(d)
    for lid, (top, bottom) in zip(LOWER_LIDS, EYE_HEIGHT, strict=True):
        height = float(np.linalg.norm(L[top] - L[bottom]))
        out[list(lid), 1] = np.clip(gain * d[list(lid), 1], -LID_RISE * height, sink * height)
    return out


def check_landmarks(L, name: str, n: int | None = None) -> np.ndarray:
    """``L`` as float64 (n, 478, 2) FaceLandmarker points, or :class:`DataError` naming ``name``."""
    L = np.asarray(L, dtype=np.float64)
    if L.ndim != 3 or L.shape[1:] != (mesh.N_POINTS, 2) or (n is not None and L.shape[0] != n):
        want = f"({n if n is not None else 'n'}, {mesh.N_POINTS}, 2)"
        raise DataError(f"{name} must be FaceLandmarker points of shape {want}, got {L.shape}")
    if not np.isfinite(L).all():
        raise DataError(f"{name} must be finite")
    return L


def still_points() -> list[int]:
    """The indices of :data:`STILL`, as a list (for fancy indexing)."""
    return list(STILL)


def similarity(src: np.ndarray, dst: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(A (2, 2), b (2,)): the least-squares similarity ``p -> A p + b`` taking ``src`` onto ``dst``."""
    ms, md = src.mean(axis=0), dst.mean(axis=0)
    s, d = src - ms, dst - md
    den = float((s * s).sum())
    if den < 1e-12:
        return np.eye(2), md - ms
    a = float((s * d).sum()) / den
    b = float((s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum()) / den
    A = np.array([[a, -b], [b, a]])
    return A, md - A @ ms


def to_frame(S: np.ndarray, T: np.ndarray, ref: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs of landmark sets (n, 478, 2) moved onto ``ref``: each source by the similarity of its
    still points onto ``ref``'s, its target by that of the target's still points onto the moved
    source's (the two photos of a pair are seldom taken with the head in the same place)."""
    still = still_points()
    S2, T2 = np.empty_like(S), np.empty_like(T)
    for i in range(len(S)):
        A, b = similarity(S[i, still], ref)
        S2[i] = S[i] @ A.T + b
        A, b = similarity(T[i, still], S2[i, still])
        T2[i] = T[i] @ A.T + b
    return S2, T2


def ridge(a: np.ndarray, d: np.ndarray, lam: float):
    """Ridge regression of ``d`` on ``a`` (rows are samples) in its dual form: (mean_a, mean_d, W)."""
    ma, md = a.mean(axis=0), d.mean(axis=0)
    A = a - ma
    K = A @ A.T
    alpha = np.linalg.solve(K + lam * np.eye(len(K)), d - md)
    return ma, md, A.T @ alpha


def choose_lam(a: np.ndarray, d: np.ndarray, groups: np.ndarray) -> float:
    """The ridge weight of :data:`SHAPE_LAMS` with the least cross-validated error over the subjects
    ``groups`` (one id per row; :data:`CV_FOLDS` folds), 0.1 with fewer than 2 subjects."""
    subjects = np.unique(groups)
    k = min(CV_FOLDS, len(subjects))
    if k < 2:
        return 0.1
    fold = np.arange(len(subjects)) % k
    errs = []
    for lam in SHAPE_LAMS:
        e = 0.0
        for f in range(k):
            test = np.isin(groups, subjects[fold == f])
            ma, md, W = ridge(a[~test], d[~test], lam)
            e += float((((a[test] - ma) @ W + md - d[test]) ** 2).sum())
        errs.append(e)
    return float(SHAPE_LAMS[int(np.argmin(errs))])


#: The inner lips' points, upper and lower, paired from one mouth corner to the other (the corners
#: left out), and the outer lips' points beside them (the same order).
UPPER_INNER, LOWER_INNER = mesh.UPPER_INNER_LIP[1:-1], mesh.LOWER_INNER_LIP[1:-1]
UPPER_OUTER, LOWER_OUTER = mesh.UPPER_OUTER_LIP[1:-1], mesh.LOWER_OUTER_LIP[1:-1]
#: The outer lip follows its inner edge by this fraction where a mouth is opened further (the lips
#: thin a little as they part, as real lips stretched by a smile do).
OUTER_FOLLOWS = 0.6


def settle_opening(out: np.ndarray, close_below: tuple[float, float], floor: float | None, weight: float) -> None:
    """Real mouths are closed or open; a sliver between the lips shows as a thin pale line.

    Moves the lips of one face's edited points ``out`` (478, 2) in place: lips apart by less than
    ``close_below[0]`` of the mouth's width are closed (the inner lips meet half-way), by more than
    ``close_below[1]`` kept, in between partly; with a ``floor`` (models whose targets' mouths are
    open), a mouth apart by more than ``close_below[1]`` is opened to at least ``floor`` of its
    width (in between, partly: the opening grows steadily with the prediction).  ``weight`` in [0, 1]
    scales the change (0 at intensity 0: the face as it is)."""
    lo, hi = close_below
    o = float(mesh.mouth_opening(out[None])[0])
    ramp = float(np.clip((o - lo) / (hi - lo), 0.0, 1.0))
    want = ramp * max(o, floor) if floor is not None else ramp * o
    want = o + weight * (want - o)
    if o < 1e-9 or abs(want - o) < 1e-9:
        return
    up, down = list(UPPER_INNER), list(LOWER_INNER)
    mid = 0.5 * (out[up] + out[down])
    s = want / o - 1.0  # each pair of inner points moves apart (or together) about its midpoint
    shift_up, shift_down = s * (out[up] - mid), s * (out[down] - mid)
    out[up] += shift_up
    out[down] += shift_down
    if s > 0:
        out[list(UPPER_OUTER)] += OUTER_FOLLOWS * shift_up
        out[list(LOWER_OUTER)] += OUTER_FOLLOWS * shift_down
