"""Live synthesis: a camera's frames edited one by one, the face followed and smoothed over time."""

from __future__ import annotations

import numpy as np
import pytest

from mr_core.core.modelfile import resolve_model
from mr_core.errors import InvalidParameterError
from mr_core.face import FaceDetector, FacePipeline
from mr_core.face.landmarks import Landmarker
from mr_core.methods import load_model
from mr_core.synthesis import synthesize
from mr_core.synthesis.live import LiveEditor
from testclips import clip_frames

FPS = 30.0


@pytest.fixture(scope="module")
def smile():
    return load_model(resolve_model("smile", None))


@pytest.fixture(scope="module")
def detector():
    with FaceDetector() as det:
        yield det


@pytest.fixture(scope="module")
def pipeline(detector):
    with FacePipeline(detector) as pipe:
        yield pipe


class CountingLandmarker(Landmarker):
    def __init__(self):
        super().__init__(blendshapes=False)
        self.found = []

    def analyze(self, rgb):
        face = super().analyze(rgb)
        self.found.append(None if face is None else face.landmarks)
        return face


def test_frames_come_back_edited_and_frames_without_a_face_unchanged(smile, pipeline):
    frames = list(clip_frames(20, (320, 240), face_frames=set(range(8))))
    editor = LiveEditor(pipeline)
    outs = [editor.edit(f, smile, 1.0, i / FPS) for i, f in enumerate(frames)]
    changed = [int((np.abs(o.astype(int) - f) > 8).sum()) for o, f in zip(outs, frames, strict=True)]
    assert min(changed[:8]) > 300, changed  # pixels visibly changed (mouth, cheeks)
    # the face is gone: after the tracker's hold and fade, frames pass as they are
    assert np.array_equal(outs[-1], frames[-1])
    assert editor.frames == 20 and 8 <= editor.frames_with_face < 20


def test_intensity_applies_per_frame_and_zero_leaves_the_frame(smile, pipeline):
    frames = list(clip_frames(4, (320, 240), motion=False))
    editor = LiveEditor(pipeline)
    assert np.array_equal(editor.edit(frames[0], smile, 0.0, 0.0), frames[0])
    weak = editor.edit(frames[1], smile, 0.5, 1 / FPS)
    strong = editor.edit(frames[2], smile, 1.5, 2 / FPS)
    d = lambda o, f: float(np.abs(o.astype(int) - f).mean())  # noqa: E731
    assert d(strong, frames[2]) > 1.5 * d(weak, frames[1]) > 0


def test_landmarks_are_smoothed_over_time_and_found_every_other_frame(smile, pipeline):
    """A still face with sensor noise: the landmarks used for the warp move less than those found."""
    frames = list(clip_frames(24, (320, 240), motion=False, noise=4.0))
    marker = CountingLandmarker()
    editor = LiveEditor(pipeline, landmarker=marker)
    used = []
    for i, f in enumerate(frames):
        editor.edit(f, smile, 1.0, i / FPS)
        used.append(editor._held[min(editor._held)][1].copy())
    assert len(marker.found) == editor.landmark_runs == 12  # every other frame
    raw = np.stack([p for p in marker.found if p is not None])
    steady = np.stack(used)
    assert np.std(steady[4:], axis=0).mean() < 0.6 * np.std(raw[2:], axis=0).mean()


def test_every_frame_landmarks_and_the_photo_pipeline_agree_on_a_first_frame(smile, pipeline):
    frame = next(clip_frames(1, (320, 240), motion=False))
    live = LiveEditor(pipeline, landmarks_every=1).edit(frame, smile, 1.0, 0.0)
    photo = synthesize(frame, smile, 1.0, largest_only=True, pipeline=pipeline).image
    assert np.array_equal(live, photo)


def test_bad_frames_and_settings_say_what_is_wrong(smile, pipeline):
    editor = LiveEditor(pipeline)
    with pytest.raises(InvalidParameterError, match="RGB uint8"):
        editor.edit(np.zeros((10, 10), np.uint8), smile, 1.0, 0.0)
    with pytest.raises(InvalidParameterError, match="intensity"):
        editor.edit(np.zeros((10, 10, 3), np.uint8), smile, 2.0, 0.0)
    with pytest.raises(InvalidParameterError, match="landmarks_every"):
        LiveEditor(pipeline, landmarks_every=0).edit(np.zeros((10, 10, 3), np.uint8), smile, 1.0, 0.0)
    with pytest.raises(InvalidParameterError, match="detect_every must be an integer >= 1, got 0"):
        LiveEditor(pipeline, detect_every=0).edit(np.zeros((10, 10, 3), np.uint8), smile, 1.0, 0.0)


def test_the_detector_skips_the_frames_the_landmarker_runs_on(smile, pipeline):
    """A moving face: the detector and the landmarker take turns, every frame is still edited, and the
    frames differ little from those of a detector run on every frame."""
    frames = list(clip_frames(16, (320, 240)))
    turns, every = LiveEditor(pipeline), LiveEditor(pipeline, detect_every=1)
    outs = [turns.edit(f, smile, 1.0, i / FPS) for i, f in enumerate(frames)]
    ref = [every.edit(f, smile, 1.0, i / FPS) for i, f in enumerate(frames)]
    assert turns.detector_runs <= 9 and every.detector_runs == 16, (turns.detector_runs, every.detector_runs)
    assert turns.detector_runs + turns.landmark_runs <= 17  # one of them a frame, both on the first
    changed = [int((np.abs(o.astype(int) - f) > 8).sum()) for o, f in zip(outs, frames, strict=True)]
    assert min(changed) > 300, changed
    apart = [float(np.abs(a.astype(int) - b).mean()) for a, b in zip(outs, ref, strict=True)]
    edit = [float(np.abs(b.astype(int) - f).mean()) for b, f in zip(ref, frames, strict=True)]
    assert np.mean(apart) < 0.35 * np.mean(edit), (apart, edit)


def test_time_going_back_starts_the_stream_anew(smile, pipeline):
    frames = list(clip_frames(3, (320, 240)))
    editor = LiveEditor(pipeline)
    editor.edit(frames[0], smile, 1.0, 5.0)
    editor.edit(frames[1], smile, 1.0, 5.1)
    first = editor._tracker
    editor.edit(frames[2], smile, 1.0, 1.0)  # another stream's clock
    assert first is not None and editor._tracker is not first


def test_a_video_landmarker_follows_the_stream_and_agrees_with_the_image_one(detector):
    from mr_core.face import align_face

    frames = list(clip_frames(12, (320, 240)))
    crops = [align_face(f, detector.detect(f)[0], size=(256, 256)).crop for f in frames]
    with Landmarker(blendshapes=False) as still, Landmarker(blendshapes=False, video=True) as video:
        found = []
        for i, crop in enumerate(crops):
            t = 0.0 if i == 6 else i / FPS  # a time that goes back once is moved after the last one
            a, b = still.analyze(crop), video.analyze(crop, t)
            assert a is not None and b is not None
            found.append((a.landmarks, b.landmarks))
        assert video.analyze(np.zeros((64, 64, 3), np.uint8), 2.0) is None  # no face
    apart = [float(np.abs(a - b).mean()) for a, b in found]
    assert np.mean(apart) < 2.0, apart  # crop pixels (256 x 256)
    # followed from frame to frame, the points move less between frames than found anew each time
    moves = lambda k: np.mean([np.abs(found[i][k] - found[i - 1][k]).mean() for i in range(1, 12)])  # noqa: E731
    assert moves(1) <= moves(0), (moves(1), moves(0))


def test_the_face_editor_edits_a_live_stream_with_steady_scores(pipeline):
    """A preset applied live: the frames change, and a still face's edit stays still (the blendshape scores
    the rig moves the face by are averaged over the landmarker's finds)."""
    from mr_core.synthesis import make_editor

    frames = list(clip_frames(12, (320, 240), motion=False))
    editor = LiveEditor(pipeline)
    model = make_editor(None, preset="surprised", refine=0)
    outs = [editor.edit(f, model, 1.0, i / FPS) for i, f in enumerate(frames)]
    changed = [int((np.abs(o.astype(int) - f) > 8).sum()) for o, f in zip(outs, frames, strict=True)]
    assert min(changed[2:]) > 200, changed
    assert editor.landmark_runs <= 7  # every other frame
    # the same still face: consecutive edited frames differ little once the scores have settled
    steps = [float(np.abs(outs[i].astype(int) - outs[i - 1]).mean()) for i in range(6, 12)]
    assert max(steps) < 1.5, steps
