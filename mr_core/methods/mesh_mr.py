"""The ``"mesh-mr"`` expression method: each face's own geometry, and a mouth that opens and closes.

Shape and appearance are separated as in active appearance models, and both parts are linear models
trained in closed form:

* **Shape.**  Every face's 478 FaceLandmarker points in the aligned crop predict its own target
  points: ``target = source + d0 + W (source - s0)``, a ridge regression on the landmark coordinates
  (ridge weight chosen by cross-validation over the training subjects unless given), trained with
  mirrored pairs.  The face outline, the eye contours and the irises are kept where they are (they
  carry identity, and they bound the mesh).  The face is then warped piecewise-affinely over the mesh
  from its own points to the predicted ones, at the photo's own resolution in the photo pipeline, so
  the person's own pixels (skin, lips, eyes) move and stay sharp.
* **Appearance.**  Masked regression (the paper's MR) in a *shape-normalised frame*: every training
  face, source and target, is warped from its own points to one reference shape (the mean predicted
  target), so that lips and teeth line up across people; MR learns the target's appearance from the
  source's there.  Where the edited mouth is open, the inside of the mouth (teeth, the mouth's
  inside, the lips' inner edges) is MR's prediction warped back to the face's new shape, unblurred;
  where the target closes the lips, the strip between them shrinks to nothing and what was between
  them (teeth) disappears.  Elsewhere only the low frequencies of MR's change (cheek shading) are
  added.  The mouth's content is learned from the pairs whose target shows the inside of the mouth
  (lips apart by more than ``open_threshold`` of the mouth's width) when there are enough of them.
* **The mouth's look** (:mod:`.mesh_mouth`): the opening takes the colour and detail (teeth) of the
  training mouths nearest to the face's shape, lit by the photo's own eye whites.

The shape model is in :mod:`.mesh_shape`, the warp shared with the face editor in :mod:`.mesh_render`,
the model file's fields in :mod:`.mesh_file`.

Intensity ``a`` moves the points by ``a`` times the predicted motion (0 leaves the crop unchanged,
1 is the model, 1.5 exaggerates); the new content fades in with ``min(a, 1)`` inside a mouth whose
opening itself grows with ``a``, so teeth never pop in at a threshold.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import geometry
from ..core.params import Real, Satisfies
from ..errors import DataError, NotFittedError
from ..face import mesh
from . import mesh_file, mesh_shape
from .mesh_file import EXTRA_TENSORS
from .mesh_mouth import MouthLook
from .mesh_render import front_last, mesh_warp, mouth_mask, signed_areas, soft_eye_mask
from .mesh_shape import check_landmarks, choose_lam, ridge, similarity, still_points, to_frame
from .texture import TEXTURE_CONSTRAINTS, TextureModel

#: Least number of open-mouth targets for the mouth's content to be learned from them alone.
MIN_OPEN_PAIRS = 8
#: Width of the band inside the face outline over which the predicted motion fades out (fraction of
#: the face's width).
OUTLINE_TAPER = 0.12
#: The default gain on the predicted motion (``motion_gain``), chosen by cross-validation over the
#: training subjects (``scripts/choose_settings.py``): a ridge prediction is an average of many
#: people's motions, and an average of broad and narrow smiles reads weaker than either.
MOTION_GAIN = 1.0
#: The gain on the lips' own motion (``mouth_gain``), on top of :data:`MOTION_GAIN`: it fades from the
#: lips' points to 1 over :data:`MOUTH_REACH` of the face's width.  The ridge prediction averages
#: open and closed smiles, so an opened mouth comes out narrower than a real broad smile's.
MOUTH_GAIN = 1.0
MOUTH_REACH = 0.12
#: The gain on the lower lids' predicted motion (``lid_gain``, within :data:`LID_RISE` up and
#: ``lid_sink`` down): a ridge prediction of a few pixels' motion is shrunk towards the mean, which
#: for the lids is small.  ``lid_sink`` (default 0: lids never sink, as a smile's do not) lets the
#: ``neutral`` model's lids come down with the relaxing cheek, which otherwise stretched the smile's
#: fold under them into a grey band.  ``shading_gain`` scales the low frequencies of MR's change.
LID_GAIN = 1.0
#: Lips apart by less than the first of these fractions of the mouth's width after the edit are
#: closed (upper and lower inner lip meet half-way), by more than the second left as predicted, in
#: between partly: real mouths are closed or open, and a sliver between them showed as a thin pale
#: line of teeth (a smile that barely parts the lips, a neutral that does not quite close them).
CLOSE_BELOW = (0.02, 0.05)


class MeshRegressionModel(MouthLook, TextureModel):
    """Per-face landmark geometry plus masked regression in a shape-normalised frame.

    Parameters
    ----------
    receptive_field, lam, backend, dtype
        Settings of the appearance :class:`~mr_core.core.regression.MaskedRegression`.
    shape_lam : float > 0 or None
        Ridge weight of the shape model (landmark coordinates in crop widths); ``None`` chooses it
        from :data:`SHAPE_LAMS` by cross-validation over the training subjects.
    open_threshold : float >= 0
        A target mouth is open when its inner lips are apart by more than this fraction of its width.
    mirror : bool
        Also train on the left-right mirrored pairs.
    source, target, template, training_set
        Stored in model files; ``template`` must name the alignment template of the crops.

    Landmarks are (n, 478, 2) FaceLandmarker points in crop pixels (x = 0 at the crop's left edge,
    as :class:`~mr_core.face.landmarks.Landmarker` returns them).
    """

    name = "mesh-mr"
    label = "mesh + MR"
    description = (
        "each face's own landmark geometry predicted by a linear shape model, the photo warped over the "
        "face mesh, and MR in a shape-normalised frame for the mouth's new content (teeth), 256-pixel "
        "crops (needs --align)"
    )
    #: Edits need each face's landmarks (:meth:`edit` finds them when they are not given).
    needs_landmarks = True
    crop_size = (256, 256)
    file_tensors = EXTRA_TENSORS
    _parameter_constraints = {
        **TEXTURE_CONSTRAINTS,
        "shape_lam": Real(0, strict=True, optional=True),
        "open_threshold": Real(0),
        "motion_gain": Real(0, strict=True),
        "mouth_gain": Real(0, strict=True),
        "lid_gain": Real(0),
        "lid_sink": Satisfies(lambda v: Real(0).accepts(v) and v <= 1, "a number in [0, 1]"),
        "shading_gain": Real(0),
    }

    def __init__(
        self,
        receptive_field: int = 3,
        lam: float = 0.4,
        backend: str = "numpy",
        dtype: str = "float32",
        *,
        shape_lam: float | None = None,
        open_threshold: float = 0.08,
        mirror: bool = True,
        motion_gain: float = MOTION_GAIN,
        mouth_gain: float = MOUTH_GAIN,
        lid_gain: float = LID_GAIN,
        lid_sink: float = 0.0,
        shading_gain: float = 1.0,
        source: str = "neutral",
        target: str = "smiling",
        template: str | None = None,
        training_set: str = "",
    ):
        self.receptive_field = receptive_field
        self.lam = lam
        self.backend = backend
        self.dtype = dtype
        self.shape_lam = shape_lam
        self.open_threshold = open_threshold
        self.mirror = mirror
        self.motion_gain = motion_gain
        self.mouth_gain = mouth_gain
        self.lid_gain = lid_gain
        self.lid_sink = lid_sink
        self.shading_gain = shading_gain
        self.source = source
        self.target = target
        self.template = template
        self.training_set = training_set

    # ------------------------------------------------------------------ training
    def _mirror(self, L: np.ndarray) -> np.ndarray:
        M = L[:, self._mirror_index].copy()
        M[..., 0] = self._size[1] - M[..., 0]
        return M

    def fit_shape(
        self, source_landmarks, target_landmarks, image_size: tuple[int, int], lighting=None
    ) -> MeshRegressionModel:
        """Learn the shape model and the reference shape from the training pairs' landmarks
        (``lighting``, the training crops' face statistics, is not used by this method)."""
        self._validate_params()
        S = check_landmarks(source_landmarks, "source_landmarks")
        T = check_landmarks(target_landmarks, "target_landmarks", len(S))
        if len(S) < 2:
            raise DataError(f"the shape model needs at least 2 pairs, got {len(S)}")
        h, w = (int(v) for v in image_size)
        self._size = (h, w)
        self._mirror_index = geometry.landmark_mirror_index(np.concatenate([S, T]), w / 2)
        groups = np.arange(len(S))
        if self.mirror:
            S, T = np.concatenate([S, self._mirror(S)]), np.concatenate([T, self._mirror(T)])
            groups = np.concatenate([groups, groups])
        # Each pair in the frame of its source's still points (a similarity fitted to their mean): the
        # regression then sees the face's shape, not where the detector happened to put the crop.
        S, T = to_frame(S, T, S[:, still_points()].mean(axis=0))
        S, T = to_frame(S, T, S[:, still_points()].mean(axis=0))
        a = S.reshape(len(S), -1) / w
        d = (T - S).reshape(len(S), -1) / w
        lam = self.shape_lam if self.shape_lam is not None else choose_lam(a, d, groups)
        mean_a, mean_d, W = ridge(a, d, lam)
        self.shape_lam_ = float(lam)
        self.shape_mean_ = mean_a.astype(np.float32)
        self.shape_delta_ = mean_d.astype(np.float32)
        self.shape_weights_ = W.astype(np.float32)
        self.shape_frame_ = "similarity"
        pred = S + self._delta(S)
        ref = pred.mean(axis=0)
        self.reference_shape_ = ref.astype(np.float32)
        opening = mesh.mouth_opening(T)
        n_open = int((opening > self.open_threshold).sum()) // (2 if self.mirror else 1)
        self.open_only_ = bool(n_open >= MIN_OPEN_PAIRS and mesh.mouth_opening(ref) > self.open_threshold)
        self.texture_ = self._new_texture()
        self.n_shape_pairs_ = len(S) // (2 if self.mirror else 1)
        self._reference_raster = self._facing = None
        self._mouth_masks = None
        self._mouth_sum, self._mouth_crops = np.zeros(3), []
        self._bank_keys, self._bank_white = [], []
        self.mouth_bank_ = self.mouth_keys_ = self.mouth_white_ = None
        self._learn_mouth = n_open >= MIN_OPEN_PAIRS
        self.mouth_colour_ = self.mouth_detail_ = None
        return self


    def _delta(self, L: np.ndarray, pin: bool = True) -> np.ndarray:
        """Predicted motion (n, 478, 2) of landmarks (n, 478, 2), pinned points kept still.

        Models of ``shape_frame_ == "similarity"`` (format 4) see each face in the frame of its still
        points fitted to the mean shape's (the motion is turned back to the crop's frame), so that a
        crop the detector placed a little off, rotated or scaled (small faces, wide frames) gets the
        same motion as a well-placed one instead of an extrapolated one."""
        w = self._size[1]
        L = np.asarray(L, dtype=np.float64)
        frame = None
        if getattr(self, "shape_frame_", "crop") == "similarity":
            mean = self.shape_mean_.astype(np.float64).reshape(mesh.N_POINTS, 2) * w
            frame = [similarity(li[still_points()], mean[still_points()]) for li in L]
            L = np.stack([li @ A.T + b for li, (A, b) in zip(L, frame, strict=True)])
        a = L.reshape(len(L), -1) / w
        cached = getattr(self, "_weights64", None)  # the float64 product's weights, converted once
        if cached is None or cached[0] is not self.shape_weights_:
            cached = self._weights64 = (self.shape_weights_, self.shape_weights_.astype(np.float64))
        a = a - self.shape_mean_
        # One face: einsum, not BLAS, whose threads stall for milliseconds on a busy CPU at this size.
        p = np.einsum("ij,jk->ik", a, cached[1]) if len(a) == 1 else a @ cached[1]
        d = (self.shape_delta_ + p).reshape(L.shape) * w
        if frame is not None:
            d = np.stack([di @ np.linalg.inv(A).T for di, (A, _) in zip(d, frame, strict=True)])
        if pin:
            d[:, mesh.pinned_points()] = 0.0
        return d

    def _reference(self):
        if getattr(self, "_reference_raster", None) is None:
            h, w = self._size
            index, bary = geometry.rasterize_triangles(
                self.reference_shape_.astype(np.float64) - 0.5, mesh.triangles(), (h, w)
            )
            self._reference_raster = geometry.prepare_raster(index, bary, mesh.triangles())
        return self._reference_raster


    def _front_last(self, points: np.ndarray) -> np.ndarray:
        """The mesh's triangles, those turned over at ``points`` (facing unlike the reference shape's)
        first (:func:`~mr_core.methods.mesh_render.front_last`)."""
        tri = mesh.triangles()
        if getattr(self, "_facing", None) is None:
            self._facing = np.sign(signed_areas(self.reference_shape_.astype(np.float64), tri))
        return front_last(tri, np.asarray(points, dtype=np.float64), self._facing)

    def normalise(self, x: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
        """A crop (h, w, c) warped from its own landmarks (478, 2) to the reference shape."""
        m = self._reference().map(np.asarray(landmarks, dtype=np.float64) - 0.5, self._size)
        return geometry.warp_image(x, m, "linear")

    def partial_fit(self, X, Y, source_landmarks, target_landmarks) -> MeshRegressionModel:
        """Add crop pairs (n, h, w, 3) in [0, 1] with their landmarks to the appearance model."""
        if getattr(self, "shape_weights_", None) is None:
            raise NotFittedError("call fit_shape() with the training landmarks before partial_fit()")
        X = np.asarray(X, dtype=np.float32)
        Y = np.asarray(Y, dtype=np.float32)
        h, w = self._size
        if X.ndim != 4 or X.shape[1:] != (h, w, 3) or X.shape != Y.shape:
            raise DataError(f"X and Y must be RGB crops of {h}x{w}, got shapes {X.shape} and {Y.shape}")
        S = check_landmarks(source_landmarks, "source_landmarks", len(X))
        T = check_landmarks(target_landmarks, "target_landmarks", len(X))
        opened = mesh.mouth_opening(T) > self.open_threshold
        if self.open_only_:
            X, Y, S, T, opened = X[opened], Y[opened], S[opened], T[opened], opened[opened]
            if not len(X):
                return self
        A = np.stack([self.normalise(x, s) for x, s in zip(X, S, strict=True)])
        B = np.stack([self.normalise(y, t) for y, t in zip(Y, T, strict=True)])
        if getattr(self, "_learn_mouth", False):
            self._add_mouths(B[opened], Y[opened], S[opened], T[opened])
        if self.mirror:
            A = np.concatenate([A, A[:, :, ::-1]])
            B = np.concatenate([B, B[:, :, ::-1]])
        self.texture_.partial_fit(A, B)
        return self

    def fit(self, X, Y, source_landmarks, target_landmarks) -> MeshRegressionModel:
        """Learn the shape model from the landmarks and the appearance model from the crops."""
        X = np.asarray(X, dtype=np.float32)
        self.fit_shape(source_landmarks, target_landmarks, X.shape[1:3])
        return self.partial_fit(X, Y, source_landmarks, target_landmarks)

    # ------------------------------------------------------------------ learned attributes
    @property
    def n_pairs_(self) -> int:
        return int(self.n_shape_pairs_)

    @property
    def displacement_(self) -> np.ndarray:
        """The motion of the average face (h, w, 2): where each crop pixel samples from, relative to
        itself, when the mean source shape is edited (what the demo draws; every face gets its own)."""
        self._texture()
        cached = getattr(self, "_mean_motion", None)
        if cached is None:
            h, w = self._size
            mean = (self.shape_mean_.astype(np.float64) * w).reshape(mesh.N_POINTS, 2)
            target = mean + self._delta(mean[None])[0]
            tri = mesh.triangles()
            index, bary = geometry.rasterize_triangles(target - 0.5, tri, (h, w), step=2)
            m = geometry.piecewise_affine_map(index, bary, tri, mean - 0.5, (h, w))
            cached = self._mean_motion = (m - geometry.identity_map((h, w))).astype(np.float32)
        return cached

    # ------------------------------------------------------------------ synthesis
    def predict_landmarks(self, landmarks, intensity: float = 1.0) -> np.ndarray:
        """The face's edited landmarks (478, 2): its own plus ``intensity`` times the predicted motion,
        which fades out towards the (pinned) face outline over :data:`OUTLINE_TAPER` of the face's width.

        Without the taper, points beside the outline can move right up to it or past it (a chin rising
        as the mouth closes): the skin between them and the outline is then crushed into a hard edge,
        or the mesh folds, along the jaw."""
        self._texture()
        L = check_landmarks(np.asarray(landmarks)[None], "landmarks")
        outline = L[0, list(mesh.face_outline())]
        band = OUTLINE_TAPER * float(np.ptp(outline[:, 0]))
        taper = np.clip(mesh.distance_to_outline(L[0]) / max(band, 1e-9), 0.0, 1.0)
        taper = taper * taper * (3.0 - 2.0 * taper)  # smoothstep
        gain = float(intensity) * float(getattr(self, "motion_gain", 1.0))
        d = gain * taper[:, None] * self._delta(L, pin=False)[0]
        mg = float(getattr(self, "mouth_gain", 1.0))
        if mg != 1.0:
            lips = L[0, list(mesh.OUTER_LIP + mesh.INNER_LIP)]
            near = np.sqrt(((L[0][:, None] - lips[None]) ** 2).sum(-1)).min(axis=1)
            reach = MOUTH_REACH * float(np.ptp(outline[:, 0]))
            d *= (1.0 + (mg - 1.0) * np.clip(1.0 - near / max(reach, 1e-9), 0.0, 1.0))[:, None]
        lids = [i for lid in mesh_shape.LOWER_LIDS for i in lid]
        lid_set = (float(getattr(self, "lid_gain", 1.0)), float(getattr(self, "lid_sink", 0.0)))
        rise = 0.0
        if getattr(self, "shape_frame_", "crop") == "similarity":
            rise = mesh_shape.lid_motion(L[0], d, *lid_set)
        d[mesh.pinned_points()] = 0.0
        d[lids] = rise if np.ndim(rise) == 0 else rise[lids]
        out = L[0] + d
        if getattr(self, "shape_frame_", "crop") == "similarity":
            floor = self.open_threshold if getattr(self, "mouth_bank_", None) is not None else None
            mesh_shape.settle_opening(out, CLOSE_BELOW, floor, min(float(intensity), 1.0))
        return out

    def mouth_content(self, x: np.ndarray, landmarks) -> np.ndarray:
        """The mouth's new content for a float crop (h, w, 3) with its landmarks (478, 2): masked
        regression's prediction in the reference frame (``reference_shape_``), with the mouth's hue and
        detail, lit by the crop's own eye whites as :meth:`edit_one` lights it; warp it to a new shape to
        fill an opened mouth."""
        tex = self._texture()
        x = np.asarray(x, dtype=np.float32)
        L = np.asarray(landmarks, dtype=np.float64)
        pred = tex.predict(self.normalise(x, L)[None])[0]
        return self._dress_mouth(np.asarray(pred, dtype=np.float32), x, L)

    def edit_one(self, x: np.ndarray, landmarks, intensity: float = 1.0):
        """One float crop (h, w, 3) in [0, 1] and its landmarks -> (moved, change, displacement).

        ``moved``: the crop warped to its edited shape; ``change``: what to add to it (the mouth's
        new content and the low frequencies of the appearance change); ``displacement``: (h, w, 2),
        where each pixel of the result samples the input from, relative to itself.
        """
        import cv2

        tex = self._texture()
        h, w = self._size
        x = np.asarray(x, dtype=np.float32)
        if x.shape != (h, w, 3):
            got = "x".join(str(v) for v in x.shape)
            raise DataError(
                f"the crop is {got} but the model expects {h}x{w}x3 (aligned RGB crops of its size)"
            )
        a = float(intensity)
        L = np.asarray(landmarks, dtype=np.float64)
        La = self.predict_landmarks(L, a)
        raster, moving = mesh_warp(L, La, self._front_last(La), (h, w))
        scale = w / 256.0
        # The eyes' openings keep their own pixels: no motion (even where a folded triangle covers
        # them) and no change of colour, the lids' inner edges included.
        eyes = soft_eye_mask(La, (h, w))
        ident = geometry.identity_map((h, w))
        moving = ident + (moving - ident) * (1.0 - eyes)[..., None]
        to_ref = raster.map(self.reference_shape_.astype(np.float64) - 0.5, (h, w))
        moved = geometry.warp_image(x, moving)
        pred = np.asarray(tex.predict(self.normalise(x, L)[None])[0], dtype=np.float32)
        pred = self._dress_mouth(pred, x, L)
        content = geometry.warp_image(pred, to_ref, "linear")
        diff = content - moved
        mouth = mouth_mask(La, (h, w))  # the edited shape's opening, with the lips' inner edges
        face = np.zeros((h, w), dtype=np.float32)
        outline = np.round(La[list(mesh.face_outline())] * 16).astype(np.int32)
        cv2.fillPoly(face, [outline], 1.0, lineType=cv2.LINE_AA, shift=4)
        face = cv2.GaussianBlur(face, (0, 0), 4.0 * scale)
        # MR's change is blurry where the input is sharp (the irises, lashes): in the eyes it would
        # lighten the iris, so the low frequencies come from the skin around them (normalised
        # convolution) and the eyes themselves get none.
        keep = 1.0 - eyes
        low = cv2.GaussianBlur(diff * (keep * (1.0 - mouth))[..., None], (0, 0), 3.0 * scale)
        low /= np.maximum(cv2.GaussianBlur(keep, (0, 0), 3.0 * scale), 0.05)[..., None]
        # Lips closed before and after the edit get none of the new content (a pale line between them
        # where real closed lips show their own dark line); it fades in as the lips part, before (the
        # teeth of a mouth that closes are covered) or after (an opened mouth is filled).
        lo, hi = CLOSE_BELOW
        parted = float(np.clip((mesh.mouth_opening(np.stack([L, La])).max() - lo) / (hi - lo), 0.0, 1.0))
        change = min(a, 1.0) * parted * mouth[..., None] * diff
        shade = a * float(getattr(self, "shading_gain", 1.0))
        change += shade * ((1.0 - mouth) * face * keep)[..., None] * low
        return moved, change.astype(np.float32), (moving - ident).astype(np.float32)


    def edit(self, x: np.ndarray, intensity: float = 1.0, landmarks=None, poses=None):
        """Float crops (n, h, w, 3) in [0, 1] -> (edited, change, motion (n, h, w, 2)).

        ``landmarks`` (n, 478, 2) of the crops; found with the shared
        :class:`~mr_core.face.landmarks.Landmarker` when not given (a crop without a face is returned
        unchanged, with zero change and motion).
        """
        n, h, w = x.shape[:3]
        if landmarks is None:
            landmarks = find_landmarks(x)
        out = np.empty_like(x)
        change = np.zeros_like(x)
        motion = np.zeros((n, h, w, 2), dtype=np.float32)
        for i in range(n):
            if landmarks[i] is None:
                out[i] = x[i]
                continue
            moved, change[i], motion[i] = self.edit_one(x[i], landmarks[i], intensity)
            out[i] = moved + change[i]
        return out, change, motion

    # ------------------------------------------------------------------ reports and files
    def facts(self) -> dict:
        return {
            "shape_lam": float(self.shape_lam_),
            "open_only": bool(self.open_only_),
            "mirror": bool(self.mirror),
            "motion_gain": float(self.motion_gain),
            "mouth_gain": float(getattr(self, "mouth_gain", 1.0)),
            "lid_gain": float(getattr(self, "lid_gain", 1.0)),
            "lid_sink": float(getattr(self, "lid_sink", 0.0)),
            "shading_gain": float(getattr(self, "shading_gain", 1.0)),
            "shape_frame": str(getattr(self, "shape_frame_", "crop")),
            "mouth_bank": int(len(self.mouth_bank_)) if getattr(self, "mouth_bank_", None) is not None else 0,
        }

    @classmethod
    def explain(cls, meta: dict[str, str]) -> str:
        return (
            "Method: **mesh + MR** — a linear shape model predicts where this face's own 478 "
            "landmarks go (mouth corners up, lips apart, cheeks raised; outline and eyes kept), the "
            "photo is warped over the face mesh at its own resolution, and a masked regression "
            "learned on shape-normalised faces fills the mouth's opening (teeth: the detail of the "
            "training smiles nearest to this face's shape, lit by the photo's own eye whites, when it "
            "learned from open mouths) and adds the shading; the eyes keep their own pixels."
        )

    # ------------------------------------------------------------------ files (:mod:`.mesh_file`)
    def _extra_metadata(self) -> dict[str, str]:
        return mesh_file.metadata_of(self)

    def _extra_tensors(self) -> dict[str, np.ndarray]:
        return mesh_file.tensors_of(self)

    @classmethod
    def extra_tensors(cls, meta: dict) -> tuple[str, ...]:
        return mesh_file.extra_tensors(meta)

    @classmethod
    def validate_metadata(cls, path: Path, meta: dict) -> None:
        mesh_file.validate_metadata(path, meta)

    @classmethod
    def from_file(cls, path: Path, meta: dict, tensors: dict, backend: str = "numpy") -> MeshRegressionModel:
        return mesh_file.from_file(cls, path, meta, tensors, backend)


def find_landmarks(x: np.ndarray) -> list:
    """FaceLandmarker points of float crops (n, h, w, 3) in [0, 1]; ``None`` where no face is found."""
    from ..face.landmarks import shared_landmarker

    marker = shared_landmarker()
    crops = np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)
    return [None if (r := marker.analyze(c)) is None else r.landmarks for c in crops]
