"""The face pipeline: one detector, landmarkers, template and options for every synthesis."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import LONDON

from mr_core.errors import FaceError, InvalidParameterError
from mr_core.face import FaceDetector, FacePipeline
from mr_core.face.landmarks import _TASKS
from mr_core.imageio import read_image


@pytest.fixture(scope="module")
def photo():
    path = LONDON / "neutral" / "002.jpg"
    if not path.is_file():
        pytest.skip("the London face set is not here (../shared/data/london)")
    return read_image(path).rgb


def test_closes_what_it_made_and_leaves_what_it_was_given(photo):
    with FaceDetector() as det:
        with FacePipeline(det) as pipe:
            (face,), skipped = pipe.select(photo, "p.jpg")
            (al,) = pipe.align(photo, [face], (256, 256))
            found = pipe.landmarks([face], [al], "p.jpg", pose=True)
            task = pipe.landmarker(pose=True)._task
            assert task in _TASKS and found.kept == [0] and found.analyses[0].blendshapes
            assert not skipped and al.crop.shape == (256, 256, 3)
        assert task not in _TASKS  # closed at the end of the block, not left to the collector
        assert not det._closed and det.detect(photo)  # the detector it was given stays open


def test_faces_too_small_or_missing_are_named(photo):
    with FacePipeline(min_eye_distance=1000) as pipe:
        with pytest.raises(FaceError, match=r"x\.jpg: no face large enough to edit"):
            pipe.select(photo, "x.jpg")
        with pytest.raises(FaceError, match=r"blank\.png: no face found"):
            pipe.select(np.full((200, 200, 3), 90, np.uint8), "blank.png")
    with pytest.raises(InvalidParameterError, match="min_eye_distance must be >= 0"):
        FacePipeline(min_eye_distance=-1)
    with pytest.raises(InvalidParameterError, match="unknown alignment template"):
        FacePipeline(template="nope")


def test_synthesis_with_the_callers_pipeline_or_its_own_is_the_same(photo):
    from mr_core.core.modelfile import resolve_model
    from mr_core.methods import load_model
    from mr_core.synthesis import synthesize

    smile = load_model(resolve_model(expression="smile"))
    own = synthesize(photo, smile, 1.0).image
    with FacePipeline() as pipe:
        assert np.array_equal(synthesize(photo, smile, 1.0, pipeline=pipe).image, own)
