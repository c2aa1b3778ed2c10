"""The Live tab's WebRTC transport, driven by a WebRTC client in Python (aiortc) on this machine.

The client sends the example portrait as a 30 frames/s camera; the server answers its offer and
sends back every frame its edit function had time for.  Checked: edited frames come back (the
face changed, the rest as sent), frames are dropped rather than queued when the edit is slower
than the camera (the delay stays bounded), bad offers and a full server get a sentence, and the
ICE servers come from the environment.
"""

from __future__ import annotations

import asyncio
import fractions
import time

import numpy as np
import pytest

aiortc = pytest.importorskip("aiortc")

from demo.live_webrtc import RtcServer, RtcUnavailable, ice_servers_from_env, webrtc_unavailable_reason  # noqa: E402

W, H, FPS = 320, 240, 30


BITS, CELL = 10, 16  # each sent frame carries its number: BITS black or white squares along the top


def camera_frames(n: int = 30) -> list[np.ndarray]:
    from testclips import clip_frames

    return list(clip_frames(n, (W, H)))


def stamp(rgb: np.ndarray, i: int) -> np.ndarray:
    out = rgb.copy()
    for b in range(BITS):
        out[:CELL, b * CELL : (b + 1) * CELL] = 255 if (i >> b) & 1 else 0
    return out


def number(rgb: np.ndarray) -> int:
    cells = rgb[CELL // 2, CELL // 2 :: CELL][:BITS].mean(axis=1)
    return int(sum(1 << b for b, v in enumerate(cells) if v > 128))


async def _roundtrip(server: RtcServer, frames, process, seconds: float):
    """Send ``frames`` (looped) for ``seconds``; returns [(sent index, seconds after sending, rgb)] and
    the server's connection."""
    import av
    from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription

    sent_at: dict[int, float] = {}

    class Camera(MediaStreamTrack):
        kind = "video"

        def __init__(self):
            super().__init__()
            self.i = 0
            self.start = None

        async def recv(self):
            if self.start is None:
                self.start = time.monotonic()
            due = self.start + self.i / FPS
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            rgb = stamp(frames[self.i % len(frames)], self.i)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = self.i * 3000, fractions.Fraction(1, 90000)
            sent_at[self.i] = time.monotonic()
            self.i += 1
            return frame

    got = []
    pc = RTCPeerConnection()
    pc.addTransceiver(Camera(), direction="sendrecv")

    async def consume(track):
        try:
            while True:
                frame = await track.recv()
                now = time.monotonic()
                rgb = frame.to_ndarray(format="rgb24")
                got.append((number(rgb), now, rgb))
        except Exception:  # the track ended
            return

    pc.on("track", lambda track: asyncio.ensure_future(consume(track)))
    await pc.setLocalDescription(await pc.createOffer())
    offer = {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}
    loop = asyncio.get_running_loop()
    answer, peer = await loop.run_in_executor(None, server.answer, offer, process)
    await pc.setRemoteDescription(RTCSessionDescription(**answer))
    await asyncio.sleep(seconds)
    await pc.close()
    return got, sent_at, peer


def roundtrip(server, frames, process, seconds=3.0):
    return asyncio.run(_roundtrip(server, frames, process, seconds))


@pytest.fixture
def server():
    s = RtcServer(max_peers=2)
    yield s
    s.close()


def test_edited_frames_come_back_over_webrtc(server):
    frames = camera_frames()
    marked = []

    def process(rgb, t):
        out = rgb.copy()
        out[100:140, 120:200] = (255, 0, 255)  # what the edit does: a magenta patch
        marked.append(t)
        return out

    got, _, peer = roundtrip(server, frames, process)
    assert len(got) >= 10, f"only {len(got)} frames came back"
    assert peer.stats.edited >= len(got) and peer.stats.received >= peer.stats.edited
    for _, _, rgb in got[-5:]:
        assert rgb.shape == (H, W, 3)
        patch = rgb[105:135, 125:195].astype(int)
        assert np.abs(patch - (255, 0, 255)).mean() < 25  # the edit is there
    # the rest of the frame is the camera's (within the video codec's loss)
    assert min(np.abs(got[-1][2][160:, :100].astype(int) - f[160:, :100]).mean() for f in frames) < 6
    assert all(b > a for a, b in zip(marked, marked[1:], strict=False))  # times grow


def test_a_slow_edit_drops_frames_instead_of_queueing_them(server):
    frames = camera_frames()

    def slow(rgb, t):
        time.sleep(0.15)  # 6-7 frames/s against a 30 frames/s camera
        return rgb

    got, sent_at, peer = roundtrip(server, frames, slow, seconds=4.0)
    assert peer.stats.dropped > peer.stats.edited > 5, peer.stats
    # how old each frame is when it comes back: bounded (a queue would make it grow by ~0.12 s per frame)
    ages = [now - sent_at[i] for i, now, _ in got if i in sent_at]
    assert ages and max(ages[len(ages) // 2 :]) < 1.0, [round(a, 2) for a in ages]


def test_the_live_editor_works_through_the_transport(server):
    from mr_core.core.modelfile import resolve_model
    from mr_core.face import FacePipeline
    from mr_core.methods import load_model
    from mr_core.synthesis.live import LiveEditor

    frames = camera_frames()
    model = load_model(resolve_model("smile", None))
    with FacePipeline() as pipe:
        editor = LiveEditor(pipe)
        got, _, peer = roundtrip(server, frames, lambda rgb, t: editor.edit(rgb, model, 1.5, t), seconds=4.0)
    assert editor.frames_with_face >= 3 and got
    # the mouth region differs from the nearest camera frame far more than the backdrop does
    i, _, rgb = got[-1]
    nearest = min(frames, key=lambda f: np.abs(rgb[40:, :60].astype(int) - f[40:, :60]).mean())
    d = np.abs(rgb[CELL:].astype(int) - nearest[CELL:]).mean(axis=2)
    assert (d > 20).sum() > 150, int((d > 20).sum())


def test_bad_offers_and_a_full_server_get_a_sentence(server):
    with pytest.raises(RtcUnavailable, match="not one"):
        server.answer({"type": "answer", "sdp": "v=0"}, lambda rgb, t: rgb)
    with pytest.raises(RtcUnavailable, match="cannot be used"):
        server.answer({"type": "offer", "sdp": "v=0\r\n"}, lambda rgb, t: rgb)
    full = RtcServer(max_peers=0)
    with pytest.raises(RtcUnavailable, match="already serves 0"):
        full.answer({"type": "offer", "sdp": "v=0\r\n"}, lambda rgb, t: rgb)
    assert server.peers == 0


def test_ice_servers_come_from_the_environment(monkeypatch):
    assert ice_servers_from_env({}) == []
    env = {
        "MR_STUN_URLS": "stun:stun.example.org:3478",
        "MR_TURN_URLS": "turn:turn.example.org:3478?transport=udp, turns:turn.example.org:5349",
        "MR_TURN_USERNAME": "user",
        "MR_TURN_CREDENTIAL": "secret",
    }
    assert ice_servers_from_env(env) == [
        {"urls": ["stun:stun.example.org:3478"]},
        {
            "urls": ["turn:turn.example.org:3478?transport=udp", "turns:turn.example.org:5349"],
            "username": "user",
            "credential": "secret",
        },
    ]
    monkeypatch.delenv("MR_TURN_URLS", raising=False)
    monkeypatch.setenv("SPACE_ID", "someone/some-space")
    assert "TURN" in webrtc_unavailable_reason()
    monkeypatch.setenv("MR_TURN_URLS", "turn:turn.example.org:3478")
    assert webrtc_unavailable_reason() is None


def test_a_live_session_applies_its_settings_and_the_face_editor_per_frame():
    """The session's settings apply to the next frame: expression, intensity, and the face editor's
    preset and sliders (on top of the expression's model)."""
    from dataclasses import replace

    from demo.catalog import ModelCatalog
    from demo.live_tab import LiveSession, LiveSettings
    from mr_core.face import FacePipeline

    frames = camera_frames(8)
    catalog = ModelCatalog()
    with FacePipeline() as pipe:
        sess = LiveSession(pipe)
        assert np.array_equal(sess.process(frames[0], 0.0), frames[0])  # no expression chosen yet
        sess.settings = LiveSettings(catalog=catalog, expression="smile", intensity=0.0)
        assert np.array_equal(sess.process(frames[1], 0.1), frames[1])
        sess.settings = replace(sess.settings, intensity=1.0)
        smiled = sess.process(frames[2], 0.2)
        sess.settings = replace(sess.settings, edits=(("jawOpen", 0.9),))
        opened = sess.process(frames[3], 0.3)
        sess.settings = replace(sess.settings, edits=(), preset="surprised")
        surprised = sess.process(frames[4], 0.4)
    d = lambda a, b: int((np.abs(a.astype(int) - b) > 8).sum())  # noqa: E731
    assert d(smiled, frames[2]) > 300
    # the face editor adds its own change to the smile's (the frames differ a little from each other:
    # the clip moves, so each is compared with its own input)
    assert d(opened, frames[3]) > d(smiled, frames[2]) + 100, (d(opened, frames[3]), d(smiled, frames[2]))
    assert d(surprised, frames[4]) > d(smiled, frames[2]) + 100
    sess.stop()
