"""Face detection, alignment and paste-back on real photos (skips without ../shared/data)."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from mr_core.errors import FaceError, InvalidParameterError, ModelFileError
from mr_core.face import (
    ASSETS_DIR,
    DEFAULT_TEMPLATE,
    DETECTOR_MODELS,
    TEMPLATES,
    FaceDetector,
    align_face,
    align_photo,
    estimate_similarity,
    face_mask,
    get_template,
    paste_back,
)
from mr_core.imageio import read_image

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
HAVE_ASSETS = all((ASSETS_DIR / name).is_file() for name, _size, _sha in DETECTOR_MODELS.values())

needs_assets = pytest.mark.skipif(not HAVE_ASSETS, reason="face detector models not vendored")
needs_data = pytest.mark.skipif(not (DATA / "london").is_dir(), reason=f"{DATA} not present")


def london(kind: str = "neutral") -> list[Path]:
    return sorted((DATA / "london" / kind).glob("*.jpg"))


def wild() -> list[Path]:
    return sorted((DATA / "wild").glob("*/*.jpg"))


@pytest.fixture(scope="module")
def detector():
    if not HAVE_ASSETS:
        pytest.skip("face detector models not vendored")
    det = FaceDetector()
    yield det
    det.close()


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    if not (DATA / "london").is_dir():
        pytest.skip(f"{DATA} not present")
    return read_image(london()[3]).rgb


# ------------------------------------------------------------------------------ pure geometry
def test_similarity_recovers_a_known_transform():
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 100, (5, 2))
    ang, s, t = np.deg2rad(23.0), 1.7, np.array([12.0, -40.0])
    rot = s * np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
    m = estimate_similarity(src, src @ rot.T + t)
    assert np.allclose(m[:, :2], rot) and np.allclose(m[:, 2], t)


def test_similarity_never_reflects():
    src = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    m = estimate_similarity(src, src * np.array([-1.0, 1.0]))  # a mirror image
    assert np.linalg.det(m[:, :2]) > 0


def test_templates():
    t = get_template(DEFAULT_TEMPLATE)
    assert t.name == DEFAULT_TEMPLATE and TEMPLATES[DEFAULT_TEMPLATE] is t
    assert t.keypoints == (0, 1, 2)  # eyes and nose tip: never the mouth (3), which moves
    with pytest.raises(InvalidParameterError, match="unknown alignment template"):
        get_template("no-such-template")
    mask = face_mask(DEFAULT_TEMPLATE, (128, 128))
    assert mask.shape == (128, 128) and mask.max() == 1.0
    assert mask[0].max() == 0 and mask[:, 0].max() == 0 and mask[:, -1].max() == 0
    pts = t.points_px((128, 128)).astype(int)
    assert all(mask[y, x] > 0.5 for x, y in pts)  # eyes and nose well inside the pasted region


# ------------------------------------------------------------------------------ the vendored models
@needs_assets
def test_assets_match_their_checksums():
    sums = dict(
        line.split()[::-1] for line in (ASSETS_DIR / "face_detector.sha256").read_text().splitlines() if line
    )
    for name, size, digest in DETECTOR_MODELS.values():
        assert sums[name] == digest
        assert (ASSETS_DIR / name).stat().st_size == size
    assert "Apache License" in (ASSETS_DIR / "face_detector.LICENSE").read_text()
    assert "mediapipe==0.10.21" in (ASSETS_DIR / "face_detector.NOTICE").read_text()


@needs_assets
def test_missing_or_corrupt_asset_is_refused(tmp_path):
    blank = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(ModelFileError, match="missing"):
        FaceDetector(model="short", assets_dir=tmp_path).detect(blank)
    name = DETECTOR_MODELS["short"][0]
    shutil.copy(ASSETS_DIR / name, tmp_path / name)
    with open(tmp_path / name, "r+b") as fh:
        fh.seek(1000)
        fh.write(b"\x00\x01\x02")
    with pytest.raises(ModelFileError, match="corrupt"):
        FaceDetector(model="short", assets_dir=tmp_path).detect(blank)


def test_detector_arguments():
    with pytest.raises(InvalidParameterError):
        FaceDetector(model="tiny")
    with pytest.raises(InvalidParameterError):
        FaceDetector(min_confidence=1.5)


# ------------------------------------------------------------------------------ detection
@needs_data
def test_detection_rate_on_london_and_wild(detector):
    paths = london("neutral") + london("smiling") + wild()
    missed = [p for p in paths if not detector.detect(read_image(p))]
    rate = 1 - len(missed) / len(paths)
    print(f"\ndetection rate: {len(paths) - len(missed)}/{len(paths)} = {rate:.1%}; missed: {missed}")
    assert rate >= 0.98


@needs_data
def test_keypoints_are_in_order(detector, photo):
    faces = detector.detect(photo)
    assert len(faces) == 1
    f = faces[0]
    x, y, w, h = f.box
    assert f.keypoints.shape == (6, 2) and 0.5 < f.score <= 1
    assert f.keypoints[0, 0] < f.keypoints[2, 0] < f.keypoints[1, 0]  # right eye, nose, left eye (image order)
    assert f.keypoints[0, 1] < f.keypoints[2, 1] < f.keypoints[3, 1]  # eyes above nose above mouth
    assert x < f.keypoints[2, 0] < x + w and y < f.keypoints[2, 1] < y + h


def test_no_face_in_a_blank_image(detector):
    blank = np.full((300, 400, 3), 127, np.uint8)
    assert detector.detect(blank) == []
    with pytest.raises(FaceError, match="no face found"):
        align_photo(blank, detector=detector, name="blank.png")


@needs_data
def test_huge_photo_is_detected_on_a_downscaled_copy(detector, photo):
    canvas = np.full((3000, 4000, 3), 120, np.uint8)
    canvas[:, 500:3500] = cv2.resize(photo, (3000, 3000), interpolation=cv2.INTER_CUBIC)
    small = detector.detect(photo)[0]
    big = detector.detect(canvas)
    assert len(big) == 1
    expected = small.keypoints * (3000 / photo.shape[0]) + np.array([500, 0])
    assert np.abs(big[0].keypoints[:3] - expected[:3]).max() < 0.03 * big[0].eye_distance * 3
    crop_small = align_face(photo, small).crop.astype(int)
    crop_big = align_face(canvas, big[0]).crop.astype(int)
    assert np.abs(crop_small - crop_big)[30:110, 30:98].mean() < 20


@needs_data
def test_detector_is_thread_safe(detector):
    images = [read_image(p).rgb for p in london()[:6]]
    expected = [detector.detect(im)[0].keypoints for im in images]
    errors: list = []

    def work(k: int) -> None:
        for i in range(len(images)):
            j = (i + k) % len(images)
            got = detector.detect(images[j])
            if len(got) != 1 or not np.allclose(got[0].keypoints, expected[j]):
                errors.append(j)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_closed_detector_refuses(tmp_path):
    det = FaceDetector()
    det.close()
    det.close()  # idempotent
    with pytest.raises(InvalidParameterError, match="closed"):
        det.detect(np.zeros((64, 64, 3), np.uint8))


# ------------------------------------------------------------------------------ alignment
def _crop_points_in_photo(matrix: np.ndarray) -> np.ndarray:
    inv = cv2.invertAffineTransform(matrix)
    pts = np.array([[0, 0], [128, 0], [0, 128], [128, 128], [64, 64]], float)
    return pts @ inv[:, :2].T + inv[:, 2]


@needs_data
@pytest.mark.parametrize(
    "angle, scale, shift",
    [(0, 1.0, (40, -30)), (15, 1.0, (0, 0)), (-25, 1.0, (0, 0)), (0, 0.6, (0, 0)), (0, 1.5, (0, 0)),
     (20, 0.8, (60, 40))],
)
def test_alignment_is_stable_under_shift_rotation_and_scale(detector, photo, angle, scale, shift):
    h, w = photo.shape[:2]
    ref = align_face(photo, detector.detect(photo)[0])
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    m[:, 2] += shift
    moved = cv2.warpAffine(photo, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    faces = detector.detect(moved)
    assert len(faces) == 1
    got = align_face(moved, faces[0])
    # where the reference crop's corners and centre land in the moved photo's crop (crop pixels)
    pts = _crop_points_in_photo(ref.matrix) @ m[:, :2].T + m[:, 2]
    pts = pts @ got.matrix[:, :2].T + got.matrix[:, 2]
    expected = np.array([[0, 0], [128, 0], [0, 128], [128, 128], [64, 64]], float)
    assert np.abs(pts - expected).max() < 12.0  # corners: BlazeFace keypoints jitter by a pixel or two
    assert np.abs(pts[-1] - expected[-1]).max() < 4.0
    diff = np.abs(got.crop.astype(int) - ref.crop.astype(int))[30:110, 30:98].mean()
    assert diff < 25


@needs_data
def test_aligned_crops_put_eyes_and_nose_on_the_template(detector):
    t = TEMPLATES[DEFAULT_TEMPLATE]
    for path in london()[:5] + wild()[::10]:
        rgb = read_image(path).rgb
        face = detector.detect(rgb)[0]
        al = align_face(rgb, face, size=(128, 128))
        assert al.crop.shape == (128, 128, 3) and al.template == DEFAULT_TEMPLATE
        kp = face.keypoints[:3] @ al.matrix[:, :2].T + al.matrix[:, 2]
        assert np.abs(kp - t.points_px((128, 128))).max() < 6, path
        # the mouth (not used for the fit) is inside the crop, well above the chin margin
        mouth = face.keypoints[3] @ al.matrix[:, :2].T + al.matrix[:, 2]
        assert 50 < mouth[0] < 78 and 70 < mouth[1] < 100, path


@needs_data
def test_align_photo_other_sizes_and_small_faces(detector, photo):
    assert align_photo(photo, size=(64, 80), detector=detector).shape == (64, 80, 3)
    tiny = cv2.resize(photo, (64, 64), interpolation=cv2.INTER_AREA)
    faces = detector.detect(cv2.copyMakeBorder(tiny, 100, 100, 100, 100, cv2.BORDER_REPLICATE))
    if faces:  # the detector may or may not find a face this small; alignment must refuse it
        with pytest.raises(FaceError, match="too small"):
            align_photo(cv2.copyMakeBorder(tiny, 100, 100, 100, 100, cv2.BORDER_REPLICATE), detector=detector)
    with pytest.raises(FaceError, match="too small"):
        align_photo(photo, detector=detector, min_eye_distance=1000, name="x.jpg")


# ------------------------------------------------------------------------------ paste-back
@needs_data
def test_paste_back_unchanged_crop_is_identity(detector, photo):
    al = align_face(photo, detector.detect(photo)[0])
    assert np.array_equal(paste_back(photo, al.crop, al), photo)


@needs_data
@pytest.mark.parametrize("mode", ["delta", "replace"])
def test_paste_back_leaves_the_background_bit_identical(detector, photo, mode):
    face = detector.detect(photo)[0]
    al = align_face(photo, face)
    out = paste_back(photo, 255 - al.crop, al, mode=mode)
    assert out.shape == photo.shape and out.dtype == np.uint8
    changed = np.any(out != photo, axis=2)
    assert changed.sum() > 0.5 * face.area
    # every changed pixel maps inside the crop's mask: outside it the photo is untouched
    warped_mask = cv2.warpAffine(face_mask(al.template, al.size), cv2.invertAffineTransform(al.matrix),
                                 (photo.shape[1], photo.shape[0]), flags=cv2.INTER_LINEAR)
    assert not np.any(changed & (warped_mask == 0))
    x, y, w, h = face.box
    assert not changed[: max(0, int(y - h / 2))].any() and not changed[:, : max(0, int(x - w / 2))].any()
    assert not changed[:, int(x + 1.5 * w):].any()


@needs_data
def test_paste_back_feather_scales_with_the_face(detector, photo):
    """A uniform change fades out over a band whose width is proportional to the face size."""
    widths = []
    for scale in (1.0, 0.5):
        img = photo if scale == 1.0 else cv2.resize(photo, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        al = align_face(img, detector.detect(img)[0])
        out = paste_back(img, np.clip(al.crop.astype(int) + 60, 0, 255).astype(np.uint8), al)
        change = out.astype(int)[..., 1] - img.astype(int)[..., 1]
        row = change[int(np.argmax((change >= 59).sum(axis=1)))]  # the widest fully changed row
        ramp = np.flatnonzero((row > 0) & (row < 55))
        widths.append(len(ramp) / 2)  # ramps on both sides
        # colours stay consistent at the seam: no jump larger than a small fraction of the change
        assert np.abs(np.diff(row)).max() <= 60 * 0.25
    assert widths[0] == pytest.approx(2 * widths[1], rel=0.35)


@needs_data
def test_paste_back_on_a_huge_photo_only_touches_the_face(detector, photo):
    canvas = np.full((3000, 4000, 3), 77, np.uint8)
    canvas[1000:1512, 1500:2012] = photo
    al = align_face(canvas, detector.detect(canvas)[0])
    out = paste_back(canvas, 255 - al.crop, al)
    changed = np.any(out != canvas, axis=2)
    ys, xs = np.nonzero(changed)
    assert ys.min() >= 1000 and ys.max() < 1512 and xs.min() >= 1500 and xs.max() < 2012


def test_paste_back_checks_its_arguments(detector):
    from mr_core.face import AlignedFace

    al = AlignedFace(crop=np.zeros((128, 128, 3), np.uint8), matrix=np.eye(2, 3), template=DEFAULT_TEMPLATE,
                     size=(128, 128), photo_shape=(200, 200, 3))
    with pytest.raises(InvalidParameterError, match="shape"):
        paste_back(np.zeros((200, 200, 3), np.uint8), np.zeros((64, 64, 3), np.uint8), al)
    with pytest.raises(InvalidParameterError, match="aligned on a 200x200"):
        paste_back(np.zeros((100, 100, 3), np.uint8), al.crop, al)
    with pytest.raises(InvalidParameterError, match="mode"):
        paste_back(np.zeros((200, 200, 3), np.uint8), al.crop, al, mode="magic")


def test_tiles_nearly_the_photos_size_become_one_look_at_the_whole_photo():
    from mr_core.face.detect import tile_grid

    assert tile_grid(512, 512) == [(0, 0, 512)]  # a portrait: one full-range pass, not four tiles
    assert len(tile_grid(700, 512)) == 4  # a wider photo: the 480 tiles find its small faces
    assert tile_grid(1600, 1600)[-1] == (0, 0, 1600) and len(tile_grid(1600, 1600)) > 10
