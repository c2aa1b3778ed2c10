"""Small test clips made on the spot: the Grace Hopper portrait moved and scaled over a backdrop, a tone.

Shared by the tests and the benchmarks (a module of the source tree, not of the installed package)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image

from demo.examples import grace_hopper_path


def portrait() -> np.ndarray:
    path = grace_hopper_path()
    if path is None:
        import pytest

        pytest.skip("matplotlib's sample portrait is not installed")
    return np.asarray(Image.open(path).convert("RGB"))


def clip_frames(
    n: int = 30,
    size: tuple[int, int] = (320, 240),
    *,
    motion: bool = True,
    noise: float = 0.0,
    face_frames=None,
    seed: int = 0,
):
    """Frames (RGB uint8, ``size`` = (width, height)) of the portrait drifting and zooming slowly;
    frames outside ``face_frames`` show only the backdrop; ``noise``: per-frame Gaussian sensor noise."""
    face = portrait()
    w, h = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    backdrop = np.stack([120 + 60 * xx / w, 140 + 30 * yy / h, 160 - 40 * xx / w], axis=-1)
    fh, fw = face.shape[:2]
    for i in range(n):
        frame = backdrop.copy()
        if face_frames is None or i in face_frames:
            s = (0.95 * h / fh) * ((1.0 + 0.08 * i / max(n - 1, 1)) if motion else 1.0)
            dx = (w - fw * s) / 2 + (12.0 * np.sin(i / 6.0) if motion else 0.0)
            dy = (h - fh * s) / 2 + (4.0 * i / max(n - 1, 1) if motion else 0.0)
            m = np.array([[s, 0, dx], [0, s, dy]], dtype=np.float64)
            warped = cv2.warpAffine(face, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
            inside = cv2.warpAffine(
                np.ones((fh, fw), np.float32), m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0
            )[..., None]
            frame = frame * (1 - inside) + warped.astype(np.float32) * inside
        if noise:
            frame = frame + rng.normal(0.0, noise, frame.shape)
        yield np.clip(np.rint(frame), 0, 255).astype(np.uint8)


def make_clip(
    path: Path,
    n: int = 30,
    size: tuple[int, int] = (320, 240),
    fps: int = 25,
    *,
    audio: bool = True,
    rotation: int = 0,
    motion: bool = True,
    noise: float = 0.0,
    face_frames=None,
    codec: str = "libx264",
    lossless: bool = False,
    faststart: bool = False,
) -> Path:
    """Write a clip of ``n`` frames (H.264 by default) with a 440 Hz AAC tone; ``rotation``: the
    display rotation stored as metadata (the pixels are stored turned the other way, so the
    portrait shows upright); ``faststart``: the index before the frames (as web exports write)."""
    fmt = "matroska" if path.suffix == ".mkv" else None
    opts = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), mode="w", format=fmt, options=opts) as out:
        vs = out.add_stream(codec, rate=fps)
        k = (rotation // 90) % 4
        vs.width, vs.height = (size[1], size[0]) if k % 2 else size
        vs.pix_fmt = "yuv420p"
        if codec == "libx264":
            vs.options = {"crf": "0" if lossless else "18", "preset": "ultrafast"}
        if rotation:
            vs.set_display_rotation(rotation)
        streams = [vs]
        if audio:
            aus = out.add_stream("aac", rate=44100)
            aus.layout = "mono"
            streams.append(aus)
        for frame in clip_frames(n, size, motion=motion, noise=noise, face_frames=face_frames):
            stored = np.ascontiguousarray(np.rot90(frame, -k)) if k else frame
            for p in vs.encode(av.VideoFrame.from_ndarray(stored, format="rgb24")):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
        if audio:
            seconds = n / fps
            t = np.arange(int(44100 * seconds)) / 44100
            tone = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
            for start in range(0, len(tone), 1024):
                chunk = tone[start : start + 1024][None, :]
                af = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
                af.sample_rate = 44100
                af.pts = start
                af.time_base = Fraction(1, 44100)
                for p in aus.encode(af):
                    out.mux(p)
            for p in aus.encode(None):
                out.mux(p)
    return path


def read_frames(path: Path) -> tuple[list[np.ndarray], dict]:
    """Decoded frames (RGB, as stored) and facts: size, fps, rotation, audio codec and packet count."""
    with av.open(str(path)) as c:
        vs = c.streams.video[0]
        facts = {
            "width": vs.width,
            "height": vs.height,
            "fps": Fraction(vs.average_rate),
            "codec": vs.codec_context.name,
            "audio": c.streams.audio[0].codec_context.name if c.streams.audio else None,
        }
        frames = []
        rotation = 0
        for f in c.decode(vs):
            rotation = int(round(float(f.rotation or 0)))
            frames.append(f.to_ndarray(format="rgb24"))
        facts["rotation"] = rotation % 360
    if facts["audio"]:
        with av.open(str(path)) as c:
            facts["audio_packets"] = [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]
    return frames, facts


def make_vfr_clip(path: Path, intervals_ms, size: tuple[int, int] = (320, 240)) -> list[float]:
    """An H.264 MP4 whose frames are ``intervals_ms`` apart (one interval per frame, the last one
    unused), as a phone records at a varying frame rate; returns each frame's time in seconds."""
    tb = Fraction(1, 1000)
    times, t = [], 0
    with av.open(str(path), mode="w") as out:
        vs = out.add_stream("libx264", rate=30)
        vs.width, vs.height = size
        vs.pix_fmt = "yuv420p"
        vs.time_base = tb
        vs.codec_context.time_base = tb
        vs.options = {"crf": "18", "preset": "ultrafast"}
        for frame, step in zip(clip_frames(len(intervals_ms), size), intervals_ms, strict=True):
            vf = av.VideoFrame.from_ndarray(frame, format="rgb24")
            vf.pts, vf.time_base = t, tb
            times.append(float(t * tb))
            for p in vs.encode(vf):
                out.mux(p)
            t += int(step)
        for p in vs.encode(None):
            out.mux(p)
    return times


def raw_h264(n: int, size: tuple[int, int] = (320, 240), *, motion: bool = True) -> bytes:
    """A raw H.264 elementary stream (no container, no timestamps) of ``n`` frames."""
    import io

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="h264") as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height = size
        vs.pix_fmt = "yuv420p"
        vs.options = {"preset": "ultrafast"}
        for frame in clip_frames(n, size, motion=motion):
            for p in vs.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                out.mux(p)
        for p in vs.encode(None):
            out.mux(p)
    return buf.getvalue()


def frame_times(path: Path) -> list[float]:
    """The presentation time (seconds) of each decoded frame of a clip."""
    with av.open(str(path)) as c:
        return [float(f.time) for f in c.decode(c.streams.video[0])]
