"""Animated images: an animated GIF is edited as a clip (as the Video tab does), an animated WebP is
refused as a photo with a sentence, never silently cut to its first frame."""

from __future__ import annotations

from conftest import run_cli
from PIL import Image

from testclips import clip_frames, read_frames


def test_animated_gif_is_a_clip_and_animated_webp_is_refused(tmp_path):
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    frames = [Image.fromarray(f) for f in clip_frames(6, (320, 240))]
    frames[0].save(inputs / "anim.gif", save_all=True, append_images=frames[1:], duration=80, loop=0)
    frames[0].save(inputs / "anim.webp", save_all=True, append_images=frames[1:], duration=80, loop=0)
    frames[0].save(inputs / "still.gif")
    proc = run_cli(
        "synthesize", "--expression", "smile", "--quiet", "-o", out,
        inputs / "anim.gif", inputs / "anim.webp", inputs / "still.gif",
    )  # fmt: skip
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert f"{inputs / 'anim.gif'}: 6 frames, 6 with a face (1 face followed), audio none" in proc.stderr
    assert f"{inputs / 'anim.webp'}: is an animated image (6 frames), not a photo" in proc.stderr
    assert "wrote 2 of 3 input(s)" in proc.stdout
    assert sorted(p.name for p in out.iterdir()) == ["anim.mp4", "still.png"]
    assert len(read_frames(out / "anim.mp4")[0]) == 6
