"""Rebuild ``mr_core/assets/expression_rig.safetensors`` from ICT-FaceKit Light and MediaPipe's canonical face.

The face editor moves MediaPipe's 478 landmarks by ARKit-style blendshapes.  Their geometry comes from
**ICT-FaceKit Light** (USC Institute for Creative Technologies, MIT licence,
https://github.com/ICT-VGL/ICT-FaceKit): 53 expression shapes named after ARKit's blendshapes
(``FaceXModel/<name>.obj``) on a neutral face (``generic_neutral_mesh.obj``) with the vertex indices of the
68 Multi-PIE landmarks (its README).  This script transfers each shape onto MediaPipe's canonical face
(``geometry_pipeline_metadata_landmarks.binarypb`` inside the vendored ``face_landmarker.task``):

1. a similarity alignment of the canonical face onto ICT's neutral face by 49 landmarks both models have
   (brows, eyes, nose, lips, chin, the face's sides), then a 3-D thin-plate spline through the same
   landmarks, so that lips land on lips and lids on lids;
2. every MediaPipe point is expressed on the nearest point of ICT's face surface (a triangle and its
   barycentric weights); points on the lower lip and chin search only the triangles that ``jawOpen``
   moves down, points on the upper lip only the others (ICT's lips touch where MediaPipe's part);
3. a shape's displacement of a MediaPipe point is the barycentric blend of its triangle's vertex
   displacements, taken back into the canonical face's frame and units (cm).  The 10 iris points get
   no displacement.

Only the derived table is vendored (53 x 478 x 3 displacements and the canonical face, about 300 kB),
with ICT-FaceKit's licence (``expression_rig.LICENSE``) and a SHA-256 (``expression_rig.sha256``).

Usage (``git clone https://github.com/ICT-VGL/ICT-FaceKit`` first)::

    python scripts/build_expression_rig.py --ict ICT-FaceKit            # write the asset
    python scripts/build_expression_rig.py --ict ICT-FaceKit --check    # rebuild and compare only

The closed-loop calibration of the rig (what weight of a shape gives what MediaPipe score) is a second
step, ``python scripts/calibrate_expression_rig.py``, which needs the face photos.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "mr_core" / "assets"
TARGET = ASSETS / "expression_rig.safetensors"
LANDMARKER = ASSETS / "face_landmarker.task"

#: ICT's 68 Multi-PIE landmark vertices (its README, 0-indexed).
ICT_68 = (
    1225, 1888, 1052, 367, 1719, 1722, 2199, 1447, 966, 3661, 4390, 3927, 3924, 2608, 3272, 4088, 3443,
    268, 493, 1914, 2044, 1401, 3615, 4240, 4114, 2734, 2509, 978, 4527, 4942, 4857, 1140, 2075, 1147,
    4269, 3360, 1507, 1542, 1537, 1528, 1518, 1511, 3742, 3751, 3756, 3721, 3725, 3732, 5708, 5695, 2081,
    0, 4275, 6200, 6213, 6346, 6461, 5518, 5957, 5841, 5702, 5711, 5533, 6216, 6207, 6470, 5517, 5966,
)  # fmt: skip
#: Multi-PIE landmark -> MediaPipe point, for the landmarks both models place the same way.
SHARED = {
    0: 127, 16: 356, 8: 152,
    17: 70, 18: 63, 19: 105, 20: 66, 21: 107, 22: 336, 23: 296, 24: 334, 25: 293, 26: 300,
    27: 168, 30: 1, 33: 2,
    36: 33, 37: 160, 38: 158, 39: 133, 40: 153, 41: 144, 42: 362, 43: 385, 44: 387, 45: 263, 46: 373, 47: 380,
    48: 61, 49: 40, 50: 37, 51: 0, 52: 267, 53: 270, 54: 291, 55: 321, 56: 314, 57: 17, 58: 84, 59: 91,
    60: 78, 61: 81, 62: 13, 63: 311, 64: 308, 65: 402, 66: 14, 67: 178,
}  # fmt: skip
#: ICT's face area (its README): vertices [0, 9408].
FACE_VERTICES = 9409
#: MediaPipe's inner lips, upper and lower, from the right corner (78) to the left one (308).
UPPER_INNER = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LOWER_INNER = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)


# ------------------------------------------------------------------------------------------- reading
def read_obj(path: Path, faces: bool = False):
    vertices, polys = [], []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("v "):
                vertices.append([float(t) for t in line.split()[1:4]])
            elif faces and line.startswith("f "):
                polys.append([int(t.split("/")[0]) - 1 for t in line.split()[1:]])
    return np.array(vertices, dtype=np.float64), polys


def _protobuf_fields(data: bytes):
    """(field, wire type, value) of a protobuf message (the few wire types the metadata uses)."""
    out, i = [], 0

    def varint(i):
        value = shift = 0
        while True:
            byte = data[i]
            i += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value, i

    while i < len(data):
        key, i = varint(i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, i = varint(i)
        elif wire == 2:
            n, i = varint(i)
            value, i = data[i : i + n], i + n
        elif wire == 5:
            value, i = data[i : i + 4], i + 4
        elif wire == 1:
            value, i = data[i : i + 8], i + 8
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        out.append((field, wire, value))
    return out


def mediapipe_canonical_face(task: Path = LANDMARKER) -> np.ndarray:
    """The 468 vertices (cm; x to the face's left, y up, z towards the camera) of MediaPipe's canonical face
    (GeometryPipelineMetadata.canonical_mesh, vertex buffer of x, y, z, u, v)."""
    with zipfile.ZipFile(task) as z:
        data = z.read("geometry_pipeline_metadata_landmarks.binarypb")
    mesh = next(v for f, _, v in _protobuf_fields(data) if f == 1)
    buffer = b"".join(v for f, w, v in _protobuf_fields(mesh) if f == 3 and w == 5)
    return np.frombuffer(buffer, dtype="<f4").reshape(-1, 5)[:, :3].astype(np.float64)


# ------------------------------------------------------------------------------------------- fitting
def similarity(X: np.ndarray, Y: np.ndarray):
    """Scale, rotation and translation (Umeyama) taking points X onto Y: Y ~ s R X + t."""
    mx, my = X.mean(0), Y.mean(0)
    A, B = X - mx, Y - my
    U, S, Vt = np.linalg.svd(B.T @ A / len(X))
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt))])
    R = U @ d @ Vt
    s = float((S * np.diag(d)).sum() / (A**2).sum(1).mean())
    return s, R, my - s * R @ mx


def thin_plate_spline(X: np.ndarray, Y: np.ndarray, reg: float = 1e-3):
    """The 3-D thin-plate spline (kernel r) through X -> Y, as a function of points."""
    n = len(X)
    K = np.linalg.norm(X[:, None] - X[None], axis=-1)
    P = np.hstack([np.ones((n, 1)), X])
    A = np.zeros((n + 4, n + 4))
    A[:n, :n], A[:n, n:], A[n:, :n] = K + reg * np.eye(n), P, P.T
    b = np.zeros((n + 4, 3))
    b[:n] = Y
    W = np.linalg.solve(A, b)
    return lambda Z: (
        np.linalg.norm(Z[:, None] - X[None], axis=-1) @ W[:n] + np.hstack([np.ones((len(Z), 1)), Z]) @ W[n:]
    )


def closest_points(p: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray):
    """Closest point of each triangle (a, b, c) to the point p: (points (k, 3), barycentric weights (k, 3))."""
    ab, ac = b - a, c - a
    d1, d2 = (ab * (p - a)).sum(-1), (ac * (p - a)).sum(-1)
    d3, d4 = (ab * (p - b)).sum(-1), (ac * (p - b)).sum(-1)
    d5, d6 = (ab * (p - c)).sum(-1), (ac * (p - c)).sum(-1)
    va, vb, vc = d3 * d6 - d5 * d4, d5 * d2 - d1 * d6, d1 * d4 - d3 * d2
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = va + vb + vc
        v, w = vb / denom, vc / denom
        bary = np.stack([1 - v - w, v, w], -1)
        t_ab, t_ac = d1 / (d1 - d3), d2 / (d2 - d6)
        t_bc = (d4 - d3) / ((d4 - d3) + (d5 - d6))
    zero = np.zeros_like(d1)
    regions = [  # Ericson's Voronoi regions, in his order; the first that holds wins
        ((d1 <= 0) & (d2 <= 0), np.stack([zero + 1, zero, zero], -1)),
        ((d3 >= 0) & (d4 <= d3), np.stack([zero, zero + 1, zero], -1)),
        ((d6 >= 0) & (d5 <= d6), np.stack([zero, zero, zero + 1], -1)),
        ((vc <= 0) & (d1 >= 0) & (d3 <= 0), np.stack([1 - t_ab, t_ab, zero], -1)),
        ((vb <= 0) & (d2 >= 0) & (d6 <= 0), np.stack([1 - t_ac, zero, t_ac], -1)),
        ((va <= 0) & (d4 - d3 >= 0) & (d5 - d6 >= 0), np.stack([zero, 1 - t_bc, t_bc], -1)),
    ]
    done = np.zeros(len(a), dtype=bool)
    for mask, value in regions:
        take = mask & ~done
        bary[take] = value[take]
        done |= take
    q = bary[:, :1] * a + bary[:, 1:2] * b + bary[:, 2:] * c
    return q, bary


def build(ict: Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    from scipy.spatial import cKDTree

    models = ict / "FaceXModel"
    names = json.loads((models / "vertex_indices.json").read_text(encoding="utf-8"))["expressions"]
    V0, polys = read_obj(models / "generic_neutral_mesh.obj", faces=True)
    tris = np.array(
        [[f[0], f[k], f[k + 1]] for f in polys if max(f) < FACE_VERTICES for k in range(1, len(f) - 1)]
    )
    deltas = np.stack([read_obj(models / f"{n}.obj")[0] - V0 for n in names])
    C = mediapipe_canonical_face()

    mp_idx, ict_idx = list(SHARED.values()), [ICT_68[k] for k in SHARED]
    s, R, t = similarity(C[mp_idx], V0[ict_idx])
    aligned = s * C @ R.T + t
    residual = np.linalg.norm(aligned[mp_idx] - V0[ict_idx], axis=1)
    warped = thin_plate_spline(aligned[mp_idx], V0[ict_idx])(aligned)

    # lower lip and chin (what jawOpen moves down) against the rest, on both models
    jaw = deltas[names.index("jawOpen")]
    lower_vertex = jaw[:, 1] < -1.0
    tri_lower, tri_upper = lower_vertex[tris].all(1), (~lower_vertex[tris]).all(1)
    x = C[:, 0]
    up, lo = np.array(UPPER_INNER), np.array(LOWER_INNER)
    ou, ol = np.argsort(C[up, 0]), np.argsort(C[lo, 0])
    midline = 0.5 * (np.interp(x, C[up[ou], 0], C[up[ou], 1]) + np.interp(x, C[lo[ol], 0], C[lo[ol], 1]))
    zone = (np.abs(x) < 3.2) & (C[:, 1] < -1.5) & (C[:, 1] > -7.5)
    mp_lower, mp_upper = zone & (C[:, 1] < midline), zone & ~(C[:, 1] < midline)

    tree = cKDTree(V0[tris].mean(1))
    chosen, weights, dist = np.zeros((len(C), 3), int), np.zeros((len(C), 3)), np.zeros(len(C))
    for i, p in enumerate(warped):
        cand = np.asarray(tree.query(p, k=200)[1])
        if mp_lower[i]:
            cand = cand[tri_lower[cand]]
        elif mp_upper[i]:
            cand = cand[tri_upper[cand]]
        q, bary = closest_points(p, *(V0[tris[cand, j]] for j in range(3)))
        d = np.linalg.norm(q - p, axis=1)
        j = int(np.argmin(d))
        chosen[i], weights[i], dist[i] = tris[cand[j]], bary[j], d[j]

    moved = np.einsum("kvjc,vj->kvc", deltas[:, chosen], weights)  # ICT frame and units
    canonical_frame = np.einsum("kvc,cd->kvd", moved, R) / s  # R^T d / s, as row vectors
    full = np.zeros((len(names), 478, 3), dtype=np.float32)
    full[:, : len(C)] = canonical_frame
    tensors = {"deltas": full, "canonical": C.astype(np.float32)}
    commit = _git_head(ict)
    meta = {
        "format": "mr-expression-rig",
        "format_version": "1",
        "shapes": json.dumps(names),
        "units": "cm, MediaPipe canonical face frame (x to the face's left, y up, z towards the camera)",
        "source": "ICT-FaceKit Light FaceXModel (MIT, USC Institute for Creative Technologies)",
        "source_commit": commit,
        "alignment_residual_cm_median": f"{np.median(residual):.3f}",
        "projection_distance_cm_p95": f"{np.percentile(dist, 95):.3f}",
    }
    return tensors, meta


def _git_head(path: Path) -> str:
    try:
        out = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ict", type=Path, required=True, help="a checkout of ICT-FaceKit (holds FaceXModel/)")
    ap.add_argument("--check", action="store_true", help="rebuild and compare with the vendored file only")
    args = ap.parse_args(argv)
    if not (args.ict / "FaceXModel" / "generic_neutral_mesh.obj").is_file():
        print(
            f"{args.ict}: not an ICT-FaceKit checkout (no FaceXModel/generic_neutral_mesh.obj)",
            file=sys.stderr,
        )
        return 2
    tensors, meta = build(args.ict)
    if args.check:
        from safetensors.numpy import load_file

        old = load_file(TARGET)
        diff = max(float(np.abs(old[k] - tensors[k]).max()) for k in tensors)
        print(f"largest difference from the vendored rig: {diff:.2e} cm")
        return 0 if diff < 1e-4 else 1
    from safetensors.numpy import save_file

    # keep the calibration tensors and metadata of the vendored file (scripts/calibrate_expression_rig.py)
    if TARGET.exists():
        from safetensors import safe_open

        with safe_open(TARGET, "np") as f:
            old_meta = f.metadata() or {}
            for key in f.keys():
                if key.startswith("calibration"):
                    tensors[key] = f.get_tensor(key)
        meta.update({k: v for k, v in old_meta.items() if k.startswith("calibration")})
    tmp = TARGET.with_suffix(".tmp")
    save_file(tensors, tmp, metadata=meta)
    tmp.replace(TARGET)
    digest = hashlib.sha256(TARGET.read_bytes()).hexdigest()
    (ASSETS / "expression_rig.sha256").write_text(f"{digest}  {TARGET.name}\n", encoding="utf-8")
    print(f"wrote {TARGET} ({TARGET.stat().st_size} bytes), sha256 {digest}")
    print(f"alignment residual (median) {meta['alignment_residual_cm_median']} cm, "
          f"projection distance (p95) {meta['projection_distance_cm_p95']} cm")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
