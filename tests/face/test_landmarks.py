"""FaceLandmarker wrapper: vendored model checksum, scores and thread safety."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mr_core.errors import InvalidParameterError, MRError
from mr_core.face.landmarks import (
    CHECKSUM_PATH,
    MODEL_PATH,
    Landmarker,
    expression_score,
    load_model_bytes,
)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
LONDON = DATA / "london"
SUBJECTS = ["002", "013", "026", "068", "104", "141"]


def _london(expression: str, name: str) -> np.ndarray:
    if not (LONDON / expression / f"{name}.jpg").is_file():
        pytest.skip(f"London set not found under {LONDON}")
    return np.asarray(Image.open(LONDON / expression / f"{name}.jpg").convert("RGB"))


@pytest.fixture(scope="module")
def landmarker():
    lm = Landmarker()
    yield lm
    lm.close()


def test_vendored_model_matches_checksum():
    data = MODEL_PATH.read_bytes()
    assert len(data) == 3_758_596
    expected = CHECKSUM_PATH.read_text().split()[0]
    assert hashlib.sha256(data).hexdigest() == expected
    assert load_model_bytes() == data
    notice = (MODEL_PATH.parent / "face_landmarker.NOTICE").read_text()
    assert expected in notice and "Apache" in notice
    assert "Apache License" in (MODEL_PATH.parent / "face_landmarker.LICENSE").read_text()


def test_corrupt_or_missing_model_is_refused(tmp_path):
    bad = tmp_path / "face_landmarker.task"
    bad.write_bytes(MODEL_PATH.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(MRError, match="corrupt"):
        load_model_bytes(bad)
    with pytest.raises(MRError, match="cannot read"):
        load_model_bytes(tmp_path / "missing.task")
    lm = Landmarker(model_path=bad)
    with pytest.raises(MRError, match="corrupt"):
        lm.analyze(np.zeros((64, 64, 3), np.uint8))


def test_expression_score_definitions():
    shapes = {"mouthSmileLeft": 0.2, "mouthSmileRight": 0.4, "jawOpen": 0.9}
    assert expression_score(shapes, "smile") == pytest.approx(0.3)
    assert expression_score(shapes, "smiling") == pytest.approx(0.3)
    assert expression_score(shapes, "neutral") == pytest.approx(0.7)
    with pytest.raises(InvalidParameterError, match="valid"):
        expression_score(shapes, "anger")
    with pytest.raises(InvalidParameterError, match="mouthSmileRight"):
        expression_score({"mouthSmileLeft": 0.1}, "smile")


def test_bad_input_and_no_face(landmarker):
    with pytest.raises(InvalidParameterError):
        landmarker.analyze(np.zeros((32, 32, 3), np.float32))
    with pytest.raises(InvalidParameterError):
        landmarker.analyze(np.zeros((32, 32, 2), np.uint8))
    assert landmarker.analyze(np.full((200, 200, 3), 128, np.uint8)) is None
    with pytest.raises(InvalidParameterError):
        Landmarker(min_confidence=0)


def test_smiling_scores_above_neutral(landmarker):
    gaps = []
    for name in SUBJECTS:
        a_neu = landmarker.analyze(_london("neutral", name))
        a_smi = landmarker.analyze(_london("smiling", name))
        assert a_neu is not None and a_smi is not None
        assert a_neu.landmarks.shape == (478, 2)
        assert len(a_neu.blendshapes) == 52
        assert 0 <= a_neu.landmarks.min() and a_neu.landmarks.max() <= 512
        s_neu = expression_score(a_neu.blendshapes, "smile")
        s_smi = expression_score(a_smi.blendshapes, "smile")
        assert s_smi > s_neu, name
        gaps.append(s_smi - s_neu)
    assert np.mean(gaps) > 0.3


@pytest.mark.parametrize("min_size", [0, 256])
def test_small_crops_score_like_photos(landmarker, min_size):
    lm = Landmarker(min_size=min_size)
    try:
        for name in SUBJECTS[:3]:
            scores = {}
            for expr in ("neutral", "smiling"):
                rgb = _london(expr, name)
                a = landmarker.analyze(rgb)
                x0, y0 = a.landmarks.min(axis=0).astype(int)
                x1, y1 = a.landmarks.max(axis=0).astype(int)
                crop = np.asarray(Image.fromarray(rgb[y0:y1, x0:x1]).resize((128, 128), Image.LANCZOS))
                c = lm.analyze(crop)
                assert c is not None
                assert c.landmarks.max() <= 128 * 1.1  # landmarks in the crop's own pixels
                scores[expr] = expression_score(c.blendshapes, "smile")
            assert scores["smiling"] > scores["neutral"] + 0.15, name
    finally:
        lm.close()


def test_thread_safe(landmarker):
    images = [_london("smiling", n) for n in SUBJECTS[:3]]
    expected = [expression_score(landmarker.analyze(im).blendshapes, "smile") for im in images]
    results: dict[int, list[float]] = {}

    def work(k):
        results[k] = [expression_score(landmarker.analyze(im).blendshapes, "smile") for im in images]

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k in range(4):
        np.testing.assert_allclose(results[k], expected, atol=1e-6)
