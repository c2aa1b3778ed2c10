"""``synthesize`` on videos mixed with photos: outputs, reports, bad clips, no overwrite."""

from __future__ import annotations

import shutil

from conftest import run_cli

from demo.examples import grace_hopper_path
from testclips import frame_times, make_clip, make_vfr_clip, raw_h264, read_frames


def test_synthesize_videos_and_photos_in_one_run(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    make_clip(inputs / "clip.mov", n=30)
    make_clip(inputs / "gaps.mkv", n=20, face_frames=set(range(10)), audio=False)
    shutil.copy(grace_hopper_path(), inputs / "hopper.jpg")
    (inputs / "junk.mp4").write_text("not a video")
    whole = (inputs / "clip.mov").read_bytes()
    (inputs / "cut.mp4").write_bytes(whole[: len(whole) // 2])
    out = tmp_path / "out"
    out.mkdir()
    (out / "taken.mp4").write_bytes(b"someone else's file")
    make_clip(inputs / "taken.webm", n=5, codec="libvpx", audio=False)
    proc = run_cli("synthesize", "--expression", "smile", "--quiet", "-o", out, inputs)
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert f"{inputs / 'clip.mov'}: 30 frames, 30 with a face (1 face followed), audio copied" in lines
    assert f"{inputs / 'gaps.mkv'}: 20 frames, 10 with a face (1 face followed), audio none" in lines
    assert any(line.startswith(f"{inputs / 'junk.mp4'}: not a readable video") for line in lines)
    assert any(line.startswith(f"{inputs / 'cut.mp4'}: ") for line in lines)
    # a taken output name is never replaced: the clip goes to the next free name
    assert f"{inputs / 'taken.webm'}: 5 frames, 5 with a face (1 face followed), audio none" in lines
    assert "wrote 4 of 6 input(s)" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "clip.mp4",
        "gaps.mp4",
        "hopper.jpg",
        "taken (1).mp4",
        "taken.mp4",
    ]
    assert (out / "taken.mp4").read_bytes() == b"someone else's file"
    frames, facts = read_frames(out / "clip.mp4")
    assert len(frames) == 30 and (facts["width"], facts["height"], facts["fps"]) == (320, 240, 25)
    assert facts["audio_packets"] == read_frames(inputs / "clip.mov")[1]["audio_packets"]
    frames, facts = read_frames(out / "gaps.mp4")
    assert len(frames) == 20 and facts["audio"] is None


def test_synthesize_keeps_a_phone_clips_varying_frame_times_and_warns_of_a_raw_stream(tmp_path):
    inputs = tmp_path / "in"
    inputs.mkdir()
    times = make_vfr_clip(inputs / "phone.mp4", [10 if i % 2 else 56 for i in range(20)])
    (inputs / "raw.mp4").write_bytes(raw_h264(8))
    out = tmp_path / "out"
    proc = run_cli("synthesize", "--expression", "smile", "--quiet", "-o", out, inputs)
    assert proc.returncode == 0, proc.stderr
    assert f"{inputs / 'phone.mp4'}: 20 frames, 20 with a face (1 face followed), audio none" in proc.stderr
    written = frame_times(out / "phone.mp4")
    assert max(abs(a - b) for a, b in zip(written, times, strict=True)) < 1e-3, written
    assert f"warning: {inputs / 'raw.mp4'}: the video stream has no timestamps" in proc.stderr
    assert "wrote 2 of 2 input(s)" in proc.stdout


def test_synthesize_a_clip_with_the_face_editor(tmp_path):
    """--preset on a clip: every frame with a face is edited, the clip keeps its frames and timing."""
    import numpy as np

    src = tmp_path / "clip.mp4"
    make_clip(src, n=20, audio=False)
    out = tmp_path / "out"
    proc = run_cli("synthesize", "--preset", "surprised", "--quiet", "-o", out, src)
    assert proc.returncode == 0, proc.stderr
    assert f"{src}: 20 frames, 20 with a face" in proc.stderr
    before, _ = read_frames(src)
    after, _ = read_frames(out / "clip.mp4")
    assert len(after) == len(before) == 20
    diffs = [float(np.abs(a.astype(int) - b).mean()) for a, b in zip(after, before, strict=True)]
    assert min(diffs) > 1.0, diffs  # brows up and the mouth open in every frame
