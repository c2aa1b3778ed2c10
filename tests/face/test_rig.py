"""The expression rig: the vendored table, its rebuild from ICT-FaceKit, poses and blendshape names."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from mr_core.errors import InvalidParameterError, ModelFileError
from mr_core.face.rig import BLENDSHAPES, CHECKSUM_PATH, RIG_PATH, blendshape_keys, ict_shapes, load_rig

REPO = Path(__file__).resolve().parents[2]


def test_the_vendored_rig_matches_its_checksum_and_holds_every_ict_shape():
    digest = hashlib.sha256(RIG_PATH.read_bytes()).hexdigest()
    assert CHECKSUM_PATH.read_text().split()[0] == digest
    rig = load_rig()
    assert rig.deltas.shape == (53, 478, 3) and "jawOpen" in rig.shapes and "eyeBlink_L" in rig.shapes
    assert np.abs(rig.deltas[:, 468:]).max() == 0.0  # the irises are not moved by any shape
    assert rig.calibrated and rig.curve_scores.shape[0] == len(BLENDSHAPES)
    for name in ("LICENSE", "NOTICE"):
        assert (RIG_PATH.parent / f"expression_rig.{name}").is_file()
    assert (
        "USC Institute for Creative Technologies" in (RIG_PATH.parent / "expression_rig.LICENSE").read_text()
    )


def test_the_rig_is_on_the_landmarkers_own_canonical_face():
    import sys

    sys.path.insert(0, str(REPO / "scripts"))
    from build_expression_rig import mediapipe_canonical_face

    assert np.allclose(load_rig().canonical, mediapipe_canonical_face(), atol=1e-5)


def test_a_corrupt_or_foreign_rig_file_is_refused(tmp_path):
    bad = tmp_path / "rig.safetensors"
    data = bytearray(RIG_PATH.read_bytes())
    data[-5] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="corrupt"):
        load_rig(bad, CHECKSUM_PATH)
    bad.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ")
    with pytest.raises(ModelFileError, match="not an expression rig"):
        load_rig(bad, None)


@pytest.mark.skipif(not os.environ.get("ICT_FACEKIT"), reason="set ICT_FACEKIT to a checkout of ICT-FaceKit")
def test_the_rig_rebuilds_from_ict_facekit(tmp_path):
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "scripts/build_expression_rig.py", "--ict", os.environ["ICT_FACEKIT"], "--check"],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr


def test_a_pose_is_recovered_from_posed_canonical_points():
    rig = load_rig()
    angle = np.deg2rad(20)
    R = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
    flip = np.diag([1.0, -1.0, -1.0])  # image frame: y down, z away from the camera
    P = np.zeros((478, 3))
    P[:468] = 11.0 * rig.canonical @ (flip @ R).T + [128, 140, 0]
    pose = rig.pose(P)
    assert pose.scale == pytest.approx(11.0, rel=1e-6)
    assert np.allclose(pose.rotation, flip @ R, atol=1e-6)


def test_jaw_open_drops_the_lower_lip_and_chin_and_keeps_the_upper_lip():
    rig = load_rig()
    pose = rig.pose(np.vstack([10 * rig.canonical @ np.diag([1.0, -1.0, -1.0]), np.zeros((10, 3))]))
    d = rig.displacement({"jawOpen": 1.0}, pose)  # image pixels, y down
    assert d[14, 1] > 25 and d[152, 1] > 20  # lower inner lip, chin
    assert abs(d[13, 1]) < 5  # upper inner lip
    smile = rig.displacement({"mouthSmileLeft": 1.0}, pose)
    assert smile[291, 1] < -5 and abs(smile[61]).max() < 1  # the face's own left corner rises


def test_blendshape_names_both_sides_and_unknown_ones():
    assert blendshape_keys("mouthSmile") == ("mouthSmileLeft", "mouthSmileRight")
    assert blendshape_keys("jawOpen") == ("jawOpen",)
    assert ict_shapes("browInnerUp") == ("browInnerUp_L", "browInnerUp_R")
    assert ict_shapes("eyeBlinkLeft") == ("eyeBlink_L",)
    with pytest.raises(InvalidParameterError, match="unknown blendshape 'smiel'.*valid: browDownLeft"):
        blendshape_keys("smiel")
    with pytest.raises(InvalidParameterError) as e:
        blendshape_keys("x" * 500)
    assert len(str(e.value)) < 2000 and "x" * 41 not in str(e.value)


def test_a_copy_of_the_rig_loads_only_with_its_own_checksum(tmp_path):
    copy = tmp_path / "rig.safetensors"
    shutil.copy(RIG_PATH, copy)
    (tmp_path / "rig.sha256").write_text("0" * 64 + "  rig.safetensors\n")
    with pytest.raises(ModelFileError, match="corrupt"):
        load_rig(copy, tmp_path / "rig.sha256")
    assert load_rig(copy, CHECKSUM_PATH).shapes == load_rig().shapes
