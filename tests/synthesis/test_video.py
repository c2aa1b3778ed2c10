"""Video synthesis: tracking and smoothing, the streaming pipeline, bad clips (clips made by the tests)."""

from __future__ import annotations

import numpy as np
import pytest

from mr_core.core.modelfile import resolve_model
from mr_core.errors import InvalidParameterError, VideoError
from mr_core.face import (
    DetectedFace,
    FaceDetector,
    FacePipeline,
    FaceTracker,
    OneEuroFilter,
    interpolate_faces,
)
from mr_core.methods import load_model
from mr_core.synthesis import VideoLimits, VideoOptions, probe_video, synthesize_video
from testclips import frame_times, make_clip, make_vfr_clip, raw_h264, read_frames


@pytest.fixture(scope="module")
def smile():
    return load_model(resolve_model("smile", None))


def _face(x: float, y: float, eye: float = 60.0) -> DetectedFace:
    kps = np.array(
        [[x - eye / 2, y], [x + eye / 2, y], [x, y + 0.5 * eye], [x, y + eye], [x - eye, y], [x + eye, y]]
    )
    return DetectedFace(box=(x - eye, y - eye, 2 * eye, 2.5 * eye), keypoints=kps, score=0.9)


def test_one_euro_filter_steadies_a_still_point_and_follows_a_moving_one():
    rng = np.random.default_rng(0)
    f = OneEuroFilter(min_cutoff=0.8, beta=2.0, scale=60.0)
    still = np.array([f([100.0, 50.0] + rng.normal(0, 1.0, 2), i / 30) for i in range(90)])
    assert still[30:].std(axis=0).max() < 0.35  # input jitter: std 1 px
    g = OneEuroFilter(min_cutoff=0.8, beta=2.0, scale=60.0)
    moving = [g([100.0 + 10.0 * i, 50.0], i / 30) for i in range(60)]
    assert abs(moving[-1][0] - (100.0 + 590.0)) < 15.0  # 300 px/s: lags by less than 1.5 frames


def test_tracker_matches_holds_fades_and_smooths_any_points():
    tracker = FaceTracker(hold=2, fade=4)
    rng = np.random.default_rng(1)
    ids, weights = [], []
    for i in range(10):
        jitter = rng.normal(0, 1.0, 2)
        out = tracker.update([_face(200 + jitter[0], 150 + jitter[1])], i / 30)
        assert len(out) == 1 and out[0].seen
        ids.append(out[0].track_id)
        weights.append(out[0].weight)
    assert set(ids) == {ids[0]} and weights == [1.0] * 10  # present from the first frame: full strength
    # Missed for a few frames: held where it was, at full strength, then fading out.
    held = [tracker.update([], (10 + k) / 30) for k in range(6)]
    assert [len(h) for h in held] == [1, 1, 1, 1, 1, 0]
    assert [h[0].weight for h in held[:5]] == pytest.approx([1.0, 1.0, 0.75, 0.5, 0.25])
    assert not held[0][0].seen
    # A face that appears later fades in; a second face far away gets its own track.
    a = tracker.update([_face(200, 150), _face(500, 150)], 16 / 30)
    b = tracker.update([_face(202, 150), _face(501, 151)], 17 / 30)
    assert {t.weight for t in a} == {0.25} and {t.weight for t in b} == {0.5}
    assert {t.track_id for t in a} == {t.track_id for t in b} and tracker.track_count == 3
    # Any point array of a track can be smoothed, each name with its own filter.
    tid = b[0].track_id
    pts = [
        tracker.smooth(tid, np.full((468, 2), 10.0) + rng.normal(0, 1, (468, 2)), (18 + k) / 30)
        for k in range(20)
    ]
    assert np.std(np.stack(pts[5:]), axis=0).mean() < 0.5
    assert np.array_equal(tracker.smooth(999, np.ones((3, 2)), 1.0), np.ones((3, 2)))


def test_faces_between_two_frames_are_interpolated_when_they_match_one_to_one():
    before = [_face(200, 150), _face(500, 150, eye=40)]
    after = [_face(510, 154, eye=44), _face(210, 150)]
    mid = interpolate_faces(before, after, 0.5)
    assert [round(f.eye_distance) for f in mid] == [60, 42]  # largest first
    np.testing.assert_allclose(mid[0].keypoints, _face(205, 150).keypoints)
    np.testing.assert_allclose(mid[1].box, _face(505, 152, eye=42).box)
    assert interpolate_faces(before, after[:1], 0.5) is None  # a face comes or goes: detect
    assert interpolate_faces([_face(200, 150)], [_face(300, 150)], 0.5) is None  # it jumped
    assert interpolate_faces([], [], 0.5) == []


class CountingDetector(FaceDetector):
    calls = 0

    def detect(self, image):
        self.calls += 1
        return super().detect(image)


def test_detector_runs_on_every_other_frame_and_the_frames_between_match(tmp_path, smile):
    src = make_clip(tmp_path / "clip.mp4", n=20, size=(320, 240), audio=False, lossless=True)
    with CountingDetector() as every2, CountingDetector() as every1:
        with FacePipeline(every2) as p2, FacePipeline(every1) as p1:
            a = synthesize_video(src, tmp_path / "every2.mp4", smile, 1.0, pipeline=p2)
            b = synthesize_video(src, tmp_path / "every1.mp4", smile, 1.0, pipeline=p1, options=VideoOptions(detect_every=1))
    # keyframes 0, 2, ..., 18; frame 19 has no keyframe after it and is detected itself
    assert (every2.calls, every1.calls) == (11, 20)
    assert a.frames_with_face == b.frames_with_face == a.frames_edited == 20
    fin, _ = read_frames(src)
    fa, _ = read_frames(tmp_path / "every2.mp4")
    fb, _ = read_frames(tmp_path / "every1.mp4")
    face = (slice(60, 200), slice(100, 220))
    edit = [np.abs(o[face].astype(int) - i[face]).mean() for o, i in zip(fb, fin, strict=True)]
    apart = [np.abs(o[face].astype(int) - p[face]).mean() for o, p in zip(fa, fb, strict=True)]
    # Close to the every-frame result (they differ by the smoothing and H.264's noise), and the
    # frames between keyframes as close as the keyframes themselves.
    assert np.mean(apart) < 0.4 * np.mean(edit), (apart, edit)
    assert np.mean(apart[1::2]) < 1.3 * np.mean(apart[2::2]) + 0.3, apart
    with pytest.raises(InvalidParameterError, match="detect_every"):
        synthesize_video(src, tmp_path / "bad.mp4", smile, options=VideoOptions(detect_every=0))


def test_video_keeps_size_rate_frames_rotation_audio_and_changes_the_face(tmp_path, smile):
    src = make_clip(tmp_path / "turned.mov", n=30, rotation=90)
    info = probe_video(src)
    assert (info.width, info.height, info.rotation, info.audio) == (320, 240, 90, "aac")
    seen = []
    res = synthesize_video(src, tmp_path / "out.mp4", smile, 1.0, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (30, 30) and res.frames == 30 and res.frames_with_face == 30 and res.faces == 1
    assert res.audio == "copied"
    stages = ("decode", "convert", "detect", "align", "landmarks", "edit", "paste", "encode")
    assert tuple(res.seconds) == stages and all(res.seconds[k] > 0 for k in stages), res.seconds
    fin, a = read_frames(src)
    fout, b = read_frames(tmp_path / "out.mp4")
    assert len(fout) == len(fin) == 30
    assert (b["width"], b["height"], b["fps"], b["rotation"], b["codec"]) == (240, 320, 25, 90, "h264")
    assert b["audio_packets"] == a["audio_packets"]  # the audio stream, unchanged
    # Against the same clip at intensity 0 (same encoding): the face changed, the backdrop did not.
    synthesize_video(src, tmp_path / "zero.mp4", smile, 0.0)
    fzero, _ = read_frames(tmp_path / "zero.mp4")
    up_zero, up_out = np.rot90(fzero[15], 1).astype(int), np.rot90(fout[15], 1).astype(int)
    face = np.abs(up_zero[100:200, 100:220] - up_out[100:200, 100:220])
    assert face.mean() > 1.0 and np.percentile(face, 99) > 8, (face.mean(), np.percentile(face, 99))
    assert np.abs(up_zero[:, :30] - up_out[:, :30]).mean() < 0.5
    assert not list(tmp_path.glob(".*tmp*"))


def test_intensity_zero_and_frames_without_a_face_pass_unchanged(tmp_path, smile):
    src = make_clip(
        tmp_path / "gaps.mp4", n=30, face_frames=set(range(0, 10)) | set(range(22, 30)), lossless=True
    )
    res = synthesize_video(src, tmp_path / "out.mp4", smile, 1.0)
    # A lost face is held 3 frames, then faded out over 4 more.
    assert (res.frames, res.frames_with_face, res.frames_edited) == (30, 18, 25)
    zero = synthesize_video(src, tmp_path / "zero.mp4", smile, 0.0)
    assert zero.frames_edited == 0 and zero.frames_with_face == 18
    fin, _ = read_frames(src)
    fout, _ = read_frames(tmp_path / "out.mp4")
    fzero, _ = read_frames(tmp_path / "zero.mp4")
    # Intensity 0: the frames as they were, up to the H.264 encoding (1 to 3.5 grey levels here: 4:2:0 chroma).
    assert max(np.abs(i.astype(int) - z).mean() for i, z in zip(fin, fzero, strict=True)) < 4.0
    # Against that: frames without a face are the same (0.07 to 0.14 here), frames with one changed (the
    # smile moves the mouth and cheeks only, the eyes keep their pixels: 0.7 to 1.8 of the whole frame).
    diffs = [np.abs(o.astype(int) - z).mean() for o, z in zip(fout, fzero, strict=True)]
    assert max(diffs[17:22]) < 0.3 and min(diffs[:10] + diffs[24:]) > 0.5, [round(float(d), 2) for d in diffs]


def test_still_face_with_sensor_noise_does_not_flicker(tmp_path, smile):
    src = make_clip(tmp_path / "still.mp4", n=30, motion=False, noise=4.0, audio=False, lossless=True)
    synthesize_video(src, tmp_path / "out.mp4", smile, 1.0)
    fin, _ = read_frames(src)
    fout, _ = read_frames(tmp_path / "out.mp4")
    region = (slice(100, 230), slice(100, 220))
    std_in = np.stack([f[region] for f in fin]).astype(np.float32).std(axis=0).mean()
    std_out = np.stack([f[region] for f in fout]).astype(np.float32).std(axis=0).mean()
    assert std_out <= std_in + 1.0, (std_in, std_out)


def test_bad_clips_say_why_and_leave_nothing(tmp_path, smile):
    good = make_clip(tmp_path / "good.mp4", n=10)
    (tmp_path / "text.mp4").write_text("not a video")
    (tmp_path / "cut.mp4").write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    cases = {
        "text.mp4": "not a readable video",
        "cut.mp4": "corrupt",
        "missing.mp4": "no such file",
    }
    for name, words in cases.items():
        with pytest.raises(VideoError, match=words):
            synthesize_video(tmp_path / name, tmp_path / f"out-{name}", smile)
    with pytest.raises(VideoError, match="over the limit of 0.2 s"):
        synthesize_video(good, tmp_path / "out-long.mp4", smile, limits=VideoLimits(max_seconds=0.2))
    with pytest.raises(VideoError, match="over the limit of 160x120"):
        synthesize_video(
            good, tmp_path / "out-big.mp4", smile, limits=VideoLimits(max_width=160, max_height=120)
        )
    with pytest.raises(VideoError, match="MB, over the limit"):
        synthesize_video(good, tmp_path / "out-heavy.mp4", smile, limits=VideoLimits(max_bytes=1000))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.mp4", "good.mp4", "text.mp4"]


def test_a_name_taken_while_the_clip_is_edited_is_kept(tmp_path, smile):
    """``replace=False``: a file that appears at the output's name during the edit is never replaced;
    the clip goes to the name ``another_name`` gives, and no temporary file is left."""
    src = make_clip(tmp_path / "clip.mp4", n=6, audio=False)
    out = tmp_path / "out"
    out.mkdir()
    dst = out / "clip.mp4"

    def someone_writes(done: int, total: int) -> None:
        if done == 3:
            dst.write_bytes(b"another program's file")

    res = synthesize_video(
        src,
        dst,
        smile,
        progress=someone_writes,
        replace=False,
        another_name=lambda p: p.with_name("clip (1).mp4"),
    )
    assert res.path == out / "clip (1).mp4" and len(read_frames(res.path)[0]) == 6
    assert dst.read_bytes() == b"another program's file"
    assert sorted(p.name for p in out.iterdir()) == ["clip (1).mp4", "clip.mp4"]


def test_variable_frame_rate_clip_keeps_each_frames_own_time(tmp_path, smile):
    """A phone's clip: frames 10 ms and 56 ms apart in turn (their average rate rounds two of them to
    one tick of 1/25 s).  Every frame is written, at its own time."""
    src = tmp_path / "phone.mp4"
    times = make_vfr_clip(src, [10 if i % 2 else 56 for i in range(30)])
    res = synthesize_video(src, tmp_path / "out.mp4", smile, 1.0)
    assert res.frames == 30 and res.frames_with_face == 30 and not res.notes
    out = frame_times(tmp_path / "out.mp4")
    assert out == pytest.approx(times, abs=1e-3), out


def test_streams_without_timestamps_or_cut_short_are_not_passed_off_as_clips(tmp_path, smile):
    raw = tmp_path / "raw.mp4"  # a raw H.264 stream named .mp4: no container, no timestamps
    raw.write_bytes(raw_h264(12))
    res = synthesize_video(raw, tmp_path / "raw-out.mp4", smile, 1.0)
    assert res.frames == 12 and any("no timestamps" in n and "25 frames/s" in n for n in res.notes), res.notes
    assert frame_times(tmp_path / "raw-out.mp4") == pytest.approx([i / 25 for i in range(12)], abs=1e-3)
    photo = tmp_path / "photo.mp4"  # a photo renamed .mp4
    import shutil

    from demo.examples import grace_hopper_path

    shutil.copy(grace_hopper_path(), photo)
    with pytest.raises(VideoError, match="still picture .*not a video"):
        synthesize_video(photo, tmp_path / "photo-out.mp4", smile)
    whole = make_clip(tmp_path / "web.mp4", n=30, audio=False, faststart=True).read_bytes()
    (tmp_path / "cut.mp4").write_bytes(whole[: len(whole) * 2 // 3])  # index first, frames cut off
    with pytest.raises(VideoError, match=r"cut short: it holds \d+ of the 30 frames"):
        synthesize_video(tmp_path / "cut.mp4", tmp_path / "cut-out.mp4", smile)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cut.mp4",
        "photo.mp4",
        "raw-out.mp4",
        "raw.mp4",
        "web.mp4",
    ]


def test_limits_hold_while_decoding_when_the_container_does_not_tell(tmp_path, smile):
    """A stream that reports no duration is stopped at the time limit; one whose frames change size
    mid-stream is stopped at the first frame of another size, not squeezed into the first size."""
    endless = tmp_path / "endless.mp4"
    endless.write_bytes(raw_h264(60, (64, 48), motion=False))  # 2.4 s at 25 frames/s, no duration told
    assert probe_video(endless).seconds == 0.0
    with pytest.raises(VideoError, match="runs past 1 s .*over the limit of 1 s"):
        synthesize_video(endless, tmp_path / "o1.mp4", smile, limits=VideoLimits(max_seconds=1))
    with pytest.raises(VideoError, match="more than 10 frames"):
        synthesize_video(endless, tmp_path / "o2.mp4", smile, limits=VideoLimits(max_frames=10))
    grows = tmp_path / "grows.mp4"
    grows.write_bytes(raw_h264(5, (160, 120)) + raw_h264(5, (640, 480)))
    # (FFmpeg's header may tell either size; the frames of the other one are refused)
    with pytest.raises(
        VideoError, match=r"frame \d+ is (640x480|160x120) pixels while the clip's frames are"
    ):
        synthesize_video(grows, tmp_path / "o3.mp4", smile)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(("o", "."))]
