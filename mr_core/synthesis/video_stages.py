"""A clip's stream through threads: the reader (demux, decode, to RGB), a stage that works beside the
caller, the writer (to YUV, encode, mux), each with a bounded queue so memory stays flat."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable

import numpy as np

from .clock import StageClock
from .timeline import FrameTimeline
from .video_colour import to_rgb, to_video_frame
from .video_faces import Frame
from .video_probe import VideoInfo, frame_rotation

#: Audio codecs the MP4 muxer takes as they are (others are re-encoded as AAC).
MP4_AUDIO = {"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"}


class Reader:
    """Demux and decode in a thread of its own, frames converted to upright RGB (a bounded queue:
    memory stays flat), so that decoding runs beside detection and editing; iterate over it for
    ``("audio", packets or decoded frames)`` and ``("frame", Frame, rotation)`` in the clip's order.
    Its errors come back to the iterating thread."""

    def __init__(self, container, vs, audio_in, decode_audio: bool, timeline: FrameTimeline) -> None:
        self.container, self.vs, self.audio_in, self.decode_audio = container, vs, audio_in, decode_audio
        self.timeline = timeline
        self.video_packets = 0  # packets with data: a container that lists more was cut short
        self.queue: queue.Queue = queue.Queue(maxsize=4)
        self.clock = StageClock()  # decode, convert
        self.frames_read = 0
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="video-reader", daemon=True)
        self.thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self.queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            streams = [self.vs] + ([self.audio_in] if self.audio_in is not None else [])
            packets = iter(self.container.demux(streams))
            rotation = None
            while not self._stop.is_set():
                t0 = time.perf_counter()
                packet = next(packets, None)
                if packet is None:
                    break
                if packet.stream is self.audio_in:
                    if packet.dts is None:
                        continue
                    item = ("audio", list(packet.decode()) if self.decode_audio else [packet])
                    self.clock.add("decode", time.perf_counter() - t0)
                    if not self._put(item):
                        return
                    continue
                self.video_packets += packet.size > 0
                decoded = packet.decode()
                t1 = time.perf_counter()
                self.clock.add("decode", t1 - t0)
                for frame in decoded:
                    if rotation is None:
                        rotation = frame_rotation(frame)
                    pts, t = self.timeline.stamp(frame.pts, frame.width, frame.height)
                    stored, fast = to_rgb(frame)
                    rgb = np.ascontiguousarray(np.rot90(stored, rotation // 90)) if rotation else stored
                    item = ("frame", Frame(rgb, pts, self.timeline.time_base, t, fast), rotation)
                    self.frames_read += 1
                    t2 = time.perf_counter()
                    self.clock.add("convert", t2 - t1)
                    if not self._put(item):
                        return
                    t1 = time.perf_counter()
            self._put(("end",))
        except BaseException as exc:  # handed to the iterating thread
            self._put(("error", exc))

    def __iter__(self):
        while True:
            item = self.queue.get()
            if item[0] == "end":
                return
            if item[0] == "error":
                raise item[1]
            yield item

    def stop(self) -> None:
        """Stop reading (at the end, or when the caller gave up) and wait for the thread."""
        self._stop.set()
        while self.thread.is_alive():
            try:
                self.queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self.thread.join()


class Stage:
    """A thread that does ``work(item)`` for the items put to it, in order (a bounded queue: memory
    stays flat), beside the caller; its errors come back to the caller by :meth:`put` and :meth:`finish`."""

    def __init__(self, name: str, work: Callable) -> None:
        self.work = work
        self.queue: queue.Queue = queue.Queue(maxsize=4)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                return
            if self.error is not None:
                continue  # keep draining so the producer never blocks
            try:
                self.work(item)
            except BaseException as exc:  # handed to the caller by put() / finish()
                self.error = exc

    def _check(self) -> None:
        if self.error is not None:
            raise self.error

    def put(self, item) -> None:
        self._check()
        self.queue.put(item)

    def finish(self) -> None:
        """Wait for everything put so far to be done."""
        self.stop()
        self._check()

    def stop(self) -> None:
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()


class Writer(Stage):
    """Convert, encode and mux in a thread of its own: ``("frame", rgb, pts, time_base, fast)`` and
    ``("packets", packets)`` (audio)."""

    def __init__(self, out, ostream, rotation: int) -> None:
        self.out, self.ostream, self.rotation = out, ostream, rotation
        self.fast_ok = ostream.pix_fmt == "yuv420p"
        self.clock = StageClock()  # encode, convert
        super().__init__("video-writer", self._write)

    def _write(self, item) -> None:
        t = time.perf_counter()
        if item[0] == "frame":
            _, rgb, pts, time_base, fast = item
            if self.rotation:
                rgb = np.ascontiguousarray(np.rot90(rgb, -(self.rotation // 90)))
            frame = to_video_frame(rgb, fast and self.fast_ok)
            frame.pts, frame.time_base = pts, time_base
            t1 = time.perf_counter()
            self.clock.add("convert", t1 - t)
            t = t1
            for p in self.ostream.encode(frame):
                self.out.mux(p)
        elif item[0] == "flush":
            for p in self.ostream.encode(None):
                self.out.mux(p)
        else:
            for p in item[1]:
                self.out.mux(p)
        self.clock.add("encode", time.perf_counter() - t)

    def finish(self) -> None:
        """Flush the encoder and wait for everything to be written."""
        self.put(("flush",))
        super().finish()


def open_video_stream(out, vs, info: VideoInfo, rotation: int, crf: int, preset: str):
    """The H.264 output stream: stored size and timestamps of the input, its rotation as metadata."""
    stored_w, stored_h = int(vs.width), int(vs.height)
    even = stored_w % 2 == 0 and stored_h % 2 == 0
    ostream = out.add_stream("libx264", rate=info.fps)
    ostream.width = stored_w
    ostream.height = stored_h
    ostream.pix_fmt = "yuv420p" if even else "yuv444p"  # 4:2:0 needs even sides
    ostream.time_base = vs.time_base
    # The encoder counts in the input's own time base too (not 1/frame rate), so every frame keeps
    # its own timestamp: variable-frame-rate clips (phones) keep their timing, none is merged.
    ostream.codec_context.time_base = vs.time_base
    ostream.options = {"crf": str(crf), "preset": preset}
    if rotation:
        ostream.set_display_rotation(rotation)
    return ostream
