"""The Live tab's fast path: the browser's camera over WebRTC, edited, and sent back the same way.

The browser sends its camera as a WebRTC video track; :class:`RtcServer` answers its offer
(aiortc, on an asyncio loop in a thread of its own, started on the first offer) and sends back a
track whose frames are the camera's, edited by the function the caller gives.  Nothing queues: the
newest camera frame waits in a slot of one, and one that arrives before the previous was taken is
dropped (:attr:`Peer.dropped`); the edited frames wait in a slot of one for the encoder the same
way.  So when the CPU is slower than the camera the output rate falls, not the latency grows (and the
page, ``live_client.js``, then sends its camera at about the rate edited frames come back, so that
frames which would be dropped here are neither encoded there nor decoded here).  Each
connection edits in a thread of its own, in order, and the encoder encodes one frame while the next
is being edited.

STUN/TURN servers (needed where the browser cannot reach this machine directly, e.g. on a Hugging
Face Space) come from the environment (:func:`ice_servers_from_env`); without them only direct
(host) connections are tried, which is what a computer or a local network needs.  Nothing here
knows Gradio (``demo.live_tab`` is the page).
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "TURN_ENV",
    "Peer",
    "RtcServer",
    "RtcUnavailable",
    "ice_servers_from_env",
    "webrtc_unavailable_reason",
]

log = logging.getLogger("demo")

#: The environment variables that configure the ICE servers (comma-separated URLs; one user name and
#: credential for all TURN URLs).
TURN_ENV = ("MR_TURN_URLS", "MR_TURN_USERNAME", "MR_TURN_CREDENTIAL")
STUN_ENV = "MR_STUN_URLS"

#: Seconds the server waits for its own ICE candidates before answering anyway.
GATHER_TIMEOUT = 5.0

FrameFn = Callable[[np.ndarray, float], np.ndarray]


class RtcUnavailable(RuntimeError):
    """WebRTC cannot be offered (a sentence saying why)."""


def webrtc_unavailable_reason() -> str | None:
    """Why this server cannot serve WebRTC at all (``None`` when it can)."""
    try:
        import aiortc  # noqa: F401
    except ImportError:
        return "the server has no WebRTC library (aiortc is not installed)"
    if os.environ.get("SPACE_ID") and not os.environ.get(TURN_ENV[0]):
        return "this Space has no TURN server configured (MR_TURN_URLS, see the README)"
    return None


def ice_servers_from_env(environ=None) -> list[dict]:
    """The ICE servers, as the browser's ``RTCPeerConnection`` takes them, from ``MR_STUN_URLS`` and
    ``MR_TURN_URLS`` / ``MR_TURN_USERNAME`` / ``MR_TURN_CREDENTIAL`` (none set: an empty list)."""
    env = os.environ if environ is None else environ
    servers = []
    stun = [u.strip() for u in env.get(STUN_ENV, "").split(",") if u.strip()]
    if stun:
        servers.append({"urls": stun})
    turn = [u.strip() for u in env.get(TURN_ENV[0], "").split(",") if u.strip()]
    if turn:
        servers.append(
            {"urls": turn, "username": env.get(TURN_ENV[1], ""), "credential": env.get(TURN_ENV[2], "")}
        )
    return servers


def _to_rgb(frame) -> np.ndarray:
    """A decoded WebRTC frame as RGB uint8 (4:2:0 frames converted by OpenCV, the rest by PyAV)."""
    if frame.format.name == "yuv420p" and frame.width % 2 == 0 and frame.height % 2 == 0:
        return cv2.cvtColor(frame.to_ndarray(format="yuv420p"), cv2.COLOR_YUV2RGB_I420)
    return frame.to_ndarray(format="rgb24")


#: The clock of the edited frames' timestamps (RTP's for video).
SEND_TIME_BASE = fractions.Fraction(1, 90000)


def _to_frame(rgb: np.ndarray, pts: int):
    import av

    h, w = rgb.shape[:2]
    if h % 2 == 0 and w % 2 == 0:
        out = av.VideoFrame.from_ndarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), format="yuv420p")
    else:
        out = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    out.pts, out.time_base = pts, SEND_TIME_BASE
    return out


@dataclass
class PeerStats:
    """Frames of one connection: received from the camera, edited and sent, dropped unedited."""

    received: int = 0
    edited: int = 0
    dropped: int = 0
    sent: int = 0
    edit_seconds: float = 0.0
    #: how late the frames reached the edit, against the earliest any did (seconds): growing would mean
    #: frames queued before the edit (decoding that cannot keep up)
    late_last: float = 0.0
    late_max: float = 0.0


class _FrameEdit:
    """One connection's per-frame work, in its edit thread: the camera frame decoded to RGB, edited by
    ``process`` and made a frame to send, stamped when it is ready."""

    def __init__(self, process: FrameFn, stats: PeerStats) -> None:
        self.process, self.stats = process, stats
        self._t0: float | None = None
        self._sent0: float | None = None
        self._last_pts = -1

    def __call__(self, frame):
        start = time.perf_counter()
        rgb = _to_rgb(frame)
        t = float(frame.pts * frame.time_base) if frame.pts is not None else time.monotonic()
        origin = time.monotonic() - t
        self._t0 = origin if self._t0 is None else min(self._t0, origin)
        st = self.stats
        st.late_last = origin - self._t0
        st.late_max = max(st.late_max, st.late_last)
        edited = self.process(rgb, t)
        # stamped when it is ready, not when the camera took it: the browser's jitter buffer then sees
        # frames that arrive on time (the edit's own varying delay would otherwise grow its buffer)
        now = time.monotonic()
        if self._sent0 is None:
            self._sent0 = now
        pts = max(round((now - self._sent0) * 90000), self._last_pts + 1)
        self._last_pts = pts
        out = _to_frame(edited, pts)
        st.edited += 1
        st.edit_seconds += time.perf_counter() - start
        return out


class _Slots:
    """The newest camera frame and the newest edited one, each in a slot of one (a frame that finds its
    slot full replaces the one there, which is dropped), and the loop that edits from one into the other."""

    def __init__(self, edit: _FrameEdit, stats: PeerStats) -> None:
        self.edit, self.stats = edit, stats
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="live-edit")
        self.camera = None  # the newest camera frame not yet taken
        self.camera_ready = asyncio.Event()
        self.edited = None  # the newest edited frame not yet sent
        self.edited_ready = asyncio.Event()
        self.ended = False

    async def read(self, source, ended_error) -> None:
        try:
            while True:
                frame = await source.recv()
                self.stats.received += 1
                if self.camera is not None:
                    self.stats.dropped += 1
                self.camera = frame
                self.camera_ready.set()
        except ended_error:
            pass
        finally:
            self.ended = True
            self.camera_ready.set()

    async def edit_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self.camera_ready.wait()
            self.camera_ready.clear()
            frame, self.camera = self.camera, None
            if frame is None:
                if self.ended:
                    break
                continue
            try:
                out = await loop.run_in_executor(self.executor, self.edit, frame)
            except Exception:
                log.exception("live frame failed (WebRTC)")
                out = frame
            if self.edited is not None:
                self.stats.dropped += 1
            self.edited = out
            self.edited_ready.set()
        self.edited_ready.set()


def _edited_track_class():
    from aiortc import MediaStreamTrack
    from aiortc.mediastreams import MediaStreamError

    class EditedTrack(MediaStreamTrack):
        """The camera track ``source`` with every frame it has time for edited by ``process``."""

        kind = "video"

        def __init__(self, source, process: FrameFn, stats: PeerStats) -> None:
            super().__init__()
            self.stats = stats
            self._slots = slots = _Slots(_FrameEdit(process, stats), stats)
            self._tasks = [
                asyncio.ensure_future(slots.read(source, MediaStreamError)),
                asyncio.ensure_future(slots.edit_loop()),
            ]

        async def recv(self):
            slots = self._slots
            while True:
                if self.readyState != "live":
                    raise MediaStreamError
                await slots.edited_ready.wait()
                slots.edited_ready.clear()
                frame, slots.edited = slots.edited, None
                if frame is not None:
                    self.stats.sent += 1
                    return frame
                if slots.ended and slots.camera is None:
                    self.stop()
                    raise MediaStreamError

        def stop(self) -> None:
            for task in self._tasks:
                task.cancel()
            self._slots.executor.shutdown(wait=False, cancel_futures=True)
            super().stop()

    return EditedTrack


class Peer:
    """One browser's WebRTC connection (created by :meth:`RtcServer.answer`)."""

    def __init__(self, server: RtcServer, pc, stats: PeerStats, on_close=None) -> None:
        self._server, self._pc, self.stats = server, pc, stats
        self.started = time.monotonic()
        self.on_close = on_close

    @property
    def state(self) -> str:
        """The connection's state: ``new``, ``connecting``, ``connected``, ``failed`` or ``closed``."""
        return self._pc.connectionState

    def close(self) -> None:
        """Close the connection (idempotent; returns at once)."""
        self._server._close(self)


class RtcServer:
    """Answers the browsers' WebRTC offers; at most ``max_peers`` connections at once.

    ``ice_servers``: STUN/TURN servers for the server's side (as :func:`ice_servers_from_env`
    gives them).  ``time_limit``: seconds after which a connection is closed (a public server's
    fairness; ``None``: no limit).  The asyncio loop and its thread start with the first offer and stop
    with :meth:`close`.
    """

    def __init__(self, ice_servers: list[dict] | None = None, *, max_peers: int = 4, time_limit=None) -> None:
        self.ice_servers = list(ice_servers or [])
        self.max_peers = int(max_peers)
        self.time_limit = time_limit
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._peers: set[Peer] = set()

    @property
    def peers(self) -> int:
        """Connections open now."""
        with self._lock:
            return len(self._peers)

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="live-webrtc", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def answer(
        self, offer: dict, process: FrameFn, timeout: float = 20.0, on_close=None
    ) -> tuple[dict, Peer]:
        """The answer (``{"sdp", "type"}``) to a browser's offer, and the connection; its video comes
        back with every frame ``process(rgb, t_seconds)`` had time for.  ``on_close()`` is called (in
        another thread) once the connection has closed, however it ends.  Raises :class:`RtcUnavailable`
        with a sentence when the offer cannot be answered (no WebRTC library, too many connections, a
        malformed offer)."""
        try:
            import aiortc  # noqa: F401
        except ImportError:
            raise RtcUnavailable("the server has no WebRTC library (aiortc is not installed)") from None
        if (
            not isinstance(offer, dict)
            or offer.get("type") != "offer"
            or not isinstance(offer.get("sdp"), str)
        ):
            raise RtcUnavailable("the browser's WebRTC offer is not one (no SDP of type 'offer')")
        with self._lock:
            if len(self._peers) >= self.max_peers:
                raise RtcUnavailable(f"the server already serves {self.max_peers} live connections")
        loop = self._ensure_loop()
        fut = asyncio.run_coroutine_threadsafe(self._answer(offer, process, on_close), loop)
        try:
            return fut.result(timeout)
        except TimeoutError:
            fut.cancel()
            raise RtcUnavailable("the server could not answer the WebRTC offer in time") from None
        except ValueError as exc:  # aiortc's word on an SDP it cannot use
            raise RtcUnavailable(f"the browser's WebRTC offer cannot be used ({exc})") from None

    async def _answer(self, offer: dict, process: FrameFn, on_close) -> tuple[dict, Peer]:
        from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription

        config = RTCConfiguration(
            iceServers=[
                RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
                for s in self.ice_servers
            ]
        )
        pc = RTCPeerConnection(configuration=config)
        stats = PeerStats()
        peer = Peer(self, pc, stats, on_close)
        with self._lock:
            self._peers.add(peer)
        track_class = _edited_track_class()

        @pc.on("track")
        def on_track(track) -> None:
            if track.kind == "video":
                pc.addTrack(track_class(track, process, stats))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self._close_async(peer)

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer["sdp"], type="offer"))
            if not any(t.kind == "video" for t in pc.getTransceivers()):
                raise ValueError("it sends no video")
            answer = await pc.createAnswer()
            await asyncio.wait_for(pc.setLocalDescription(answer), GATHER_TIMEOUT)
        except BaseException:
            await self._close_async(peer)
            raise
        if self.time_limit:
            asyncio.get_running_loop().call_later(self.time_limit, self._close, peer)
        desc = pc.localDescription
        return {"sdp": desc.sdp, "type": desc.type}, peer

    async def _close_async(self, peer: Peer) -> None:
        with self._lock:
            if peer not in self._peers:
                return
            self._peers.discard(peer)
        st = peer.stats
        log.info(
            "live connection closed after %.0f s: %d camera frames, %d edited (%.1f ms each), %d sent, %d dropped; "
            "frames reached the edit up to %.0f ms late (%.0f ms at the end)",
            time.monotonic() - peer.started,
            st.received,
            st.edited,
            1000 * st.edit_seconds / max(st.edited, 1),
            st.sent,
            st.dropped,
            1000 * st.late_max,
            1000 * st.late_last,
        )
        for sender in peer._pc.getSenders():
            if sender.track is not None:
                sender.track.stop()
        await peer._pc.close()
        if peer.on_close is not None:
            # after the edit thread's last frame (it may still be running one)
            await asyncio.get_running_loop().run_in_executor(None, peer.on_close)

    def _close(self, peer: Peer) -> None:
        with self._lock:
            loop = self._loop
            known = peer in self._peers
        if loop is None or not known:
            return
        if threading.current_thread() is self._thread:
            asyncio.ensure_future(self._close_async(peer))
        else:
            asyncio.run_coroutine_threadsafe(self._close_async(peer), loop)

    def close(self) -> None:
        """Close every connection and stop the loop (the server can answer again afterwards)."""
        with self._lock:
            loop, thread, peers = self._loop, self._thread, list(self._peers)
            self._loop = self._thread = None
        if loop is None:
            return
        for peer in peers:
            try:
                asyncio.run_coroutine_threadsafe(self._close_async(peer), loop).result(5)
            except Exception:
                log.exception("closing a live connection failed")
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(5)
