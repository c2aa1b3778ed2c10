"""The Live tab: the webcam edited as it streams, over WebRTC, or over Gradio's HTTP stream as a fallback.

Pressing **Start** opens the camera in the browser and offers the server a WebRTC connection
(:mod:`demo.live_webrtc`); the edited video comes back on the same connection at the rate the
server's CPU allows (frames it has no time for are dropped, never queued).  Where WebRTC cannot
be used or does not connect (no WebRTC in the browser, no TURN server on a Space, a network that
blocks UDP), the tab says why and shows Gradio's own webcam stream (an HTTP request per frame,
slower), which edits the frames the same way.

Each browser session owns a :class:`LiveSession` (in ``gr.State``): its :class:`LiveSettings` (the
expression, intensity and backend chosen on the page, and the face editor's preset and sliders
(:mod:`demo.live_face`), replaced as a whole when one of them changes, so a frame never sees half
of a change), its :class:`~mr_core.synthesis.live.LiveEditor`
(the face followed and smoothed over time) and its WebRTC connection.
"""

from __future__ import annotations

import html
import json
import logging
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import gradio as gr
import numpy as np

from mr_core.errors import InvalidParameterError, MRError
from mr_core.synthesis.editing import make_editor
from mr_core.synthesis.live import LiveEditor

from .catalog import check_backend, session_catalog
from .engine import MAX_PIXELS, as_rgb
from .live_face import FaceControls, bind_face_controls, face_controls
from .live_webrtc import RtcServer, RtcUnavailable, ice_servers_from_env, webrtc_unavailable_reason

__all__ = ["LIVE_TIME_LIMIT", "LiveSession", "LiveSettings", "mount_live_tab"]

log = logging.getLogger("demo")

#: Live sessions served at once (a free Space has 2 vCPUs), and seconds a session may run.
LIVE_CONCURRENCY = 4
LIVE_TIME_LIMIT = 600
#: ``MR_LIVE_TRANSPORT=http`` skips WebRTC (the HTTP stream is used at once).
TRANSPORT_ENV = "MR_LIVE_TRANSPORT"
#: Seconds the browser waits for the WebRTC connection before falling back.
CONNECT_TIMEOUT = 10

CLIENT_JS = Path(__file__).with_name("live_client.js")

TEMPLATE = """\
<div class="mr-live" data-live-config="${value}" data-state="off">
  <figure><video id="live-rtc-camera" muted playsinline autoplay></video><figcaption>Webcam</figcaption></figure>
  <figure><video id="live-rtc-out" muted playsinline autoplay></video><figcaption>With the expression</figcaption></figure>
</div>
"""
CSS_TEMPLATE = """
.mr-live { display: flex; gap: 1em; flex-wrap: wrap; }
.mr-live figure { flex: 1 1 300px; margin: 0; }
.mr-live video { width: 100%; aspect-ratio: 4 / 3; background: #222; border-radius: 6px; }
.mr-live figcaption { font-size: 0.9em; opacity: 0.8; }
"""

READY = (
    "Press **Start**: the webcam goes to the server over WebRTC and comes back with the expression, "
    "at the rate the server's CPU allows (frames it has no time for are dropped, so the delay stays short). "
    f"A session stops after {LIVE_TIME_LIMIT // 60} minutes; press Start again to go on."
)
CONNECTING = "Connecting over WebRTC…"
CONNECTED = (
    "**Live over WebRTC.** The expression, intensity and backend above, and the face editor's presets and "
    "sliders below, apply as you change them. "
    "Press Stop to end."
)
FALLBACK = (
    "**WebRTC is not used here:** {reason}. The webcam goes over the HTTP stream instead (slower, a few "
    "frames per second): press the webcam's record button below."
)
STOPPED = "Stopped. Press **Start** to go on."


@dataclass(frozen=True)
class LiveSettings:
    """What a live session's frames are edited with; replaced as a whole when the page changes.

    ``catalog``: where the model comes from (the shipped models, plus the session's own trained
    ones).  The face editor's controls: ``preset`` (e.g. ``surprised``) and ``edits``, its sliders'
    target values by blendshape name (``(("jawOpen", 0.5), ...)``); with either, the frames go through
    a :class:`~mr_core.methods.face_editor.FaceEditor` on top of the expression's model.
    """

    catalog: object = None
    expression: str | None = None
    intensity: float = 1.0
    backend: str = "numpy"
    preset: str | None = None
    edits: tuple[tuple[str, float], ...] = ()


class LiveSession:
    """One browser session's live mode: settings, the editor that follows its face, its connection."""

    def __init__(self, pipeline=None) -> None:
        self.settings = LiveSettings()
        self.editor = LiveEditor(pipeline)
        self._face_editor: tuple[tuple, object] | None = None  # (what it was made for, the editor)
        self.peer = None
        self.transport = "off"  # "webrtc", "http" or "off"

    def process(self, rgb: np.ndarray, t: float) -> np.ndarray:
        """The frame ``rgb`` taken at ``t`` seconds with the session's current settings applied."""
        # the Photo tab's limit: one for every way a photo arrives
        if rgb.shape[0] * rgb.shape[1] > MAX_PIXELS:
            raise InvalidParameterError(
                f"the frame is too large ({rgb.shape[1]}x{rgb.shape[0]} pixels, limit {MAX_PIXELS})"
            )
        s = self.settings
        model = self._model(s)
        if model is None:
            return rgb
        editor = self.face_editor(s)
        return self.editor.edit(rgb, editor if editor is not None else model, s.intensity, t)

    @staticmethod
    def _model(s: LiveSettings):
        if s.catalog is None or s.expression not in s.catalog.entries:
            return None
        return s.catalog.model(s.expression, s.backend)

    def face_editor(self, settings: LiveSettings | None = None):
        """The face editor for the settings' preset and sliders on top of their expression's model (``None``
        when they ask nothing); made once per change, not refined by measuring its own result again (which
        would cost a second landmarker run a frame).  Raises :class:`~mr_core.errors.MRError` when it cannot
        be made (e.g. a model it does not combine with)."""
        s = self.settings if settings is None else settings
        if not (s.preset or s.edits):
            return None
        model = self._model(s)
        key = (id(model), s.preset, s.edits)
        held = self._face_editor
        if held is None or held[0] != key:
            editor = make_editor(model, preset=s.preset, targets=dict(s.edits) or None, refine=0)
            held = self._face_editor = (key, editor)
        return held[1]

    def stop(self) -> None:
        """Close the WebRTC connection, if any, and forget the face followed so far."""
        peer, self.peer = self.peer, None
        if peer is not None:
            peer.close()
        self.editor.reset()
        self.transport = "off"


def _close_session(session) -> None:
    if isinstance(session, LiveSession):
        session.stop()


def _settings(catalog, expression, intensity, backend, user) -> LiveSettings:
    cat, name = session_catalog(catalog, user, expression)
    try:
        a = float(intensity)
    except (TypeError, ValueError):
        a = 1.0
    try:
        backend = check_backend(backend or "numpy")
    except MRError:
        backend = "numpy"
    return LiveSettings(catalog=cat, expression=name, intensity=a, backend=backend)


def _page_settings(sess: LiveSession, catalog, expression, intensity, backend, user) -> LiveSettings:
    """The settings of the page's shared controls, the session's face-editor controls kept (dropped, with a
    warning, for an expression's model the face editor does not combine with)."""
    old = sess.settings
    new = replace(
        _settings(catalog, expression, intensity, backend, user), preset=old.preset, edits=old.edits
    )
    try:
        sess.face_editor(new)
    except MRError as exc:
        gr.Warning(f"The face editor's controls are not applied live: {exc}.")
        new = replace(new, preset=None, edits=())
    return new


def _config(reason: str | None) -> str:
    """The browser's part of the configuration (HTML-escaped JSON for a data attribute)."""
    cfg = {
        "webrtc": reason is None,
        "reason": reason or "",
        "iceServers": ice_servers_from_env(),
        "connectTimeout": CONNECT_TIMEOUT,
    }
    return html.escape(json.dumps(cfg), quote=True)


def _transport_reason() -> str | None:
    if os.environ.get(TRANSPORT_ENV, "").strip().lower() == "http":
        return f"the server was started with {TRANSPORT_ENV}=http"
    return webrtc_unavailable_reason()


@dataclass
class _Layout:
    """The Live tab's components."""

    mode: gr.Markdown
    start: gr.Button
    stop: gr.Button
    view: gr.HTML
    fallback: gr.Column
    live_in: gr.Image
    live_out: gr.Image
    offer: gr.Textbox
    answer: gr.Textbox
    outcome: gr.Textbox
    session: gr.State
    face: FaceControls


def _layout(reason: str | None) -> _Layout:
    with gr.Tab("Live", id="live-tab"):
        mode = gr.Markdown(READY if reason is None else FALLBACK.format(reason=reason), elem_id="live-mode")
        with gr.Row():
            start = gr.Button("Start", variant="primary", elem_id="live-start", scale=0)
            stop = gr.Button("Stop", elem_id="live-stop", scale=0)
        view = gr.HTML(
            _config(reason),
            html_template=TEMPLATE,
            css_template=CSS_TEMPLATE,
            js_on_load=CLIENT_JS.read_text(encoding="utf-8"),
            elem_id="live-rtc",
            visible=True if reason is None else "hidden",
        )
        with gr.Column(visible=reason is not None, elem_id="live-fallback") as fallback:
            with gr.Row():
                live_in = gr.Image(
                    sources=["webcam"], streaming=True, type="numpy", label="Webcam", elem_id="live-in"
                )
                live_out = gr.Image(label="With the expression", elem_id="live-out", interactive=False)
        face = face_controls()
        hidden = [gr.Textbox(visible=False) for _ in range(3)]
        session = gr.State(None, delete_callback=_close_session)
    return _Layout(mode, start, stop, view, fallback, live_in, live_out, *hidden, session, face)


class _Handlers:
    """The Live tab's event handlers, for the page's ``catalog`` and the server's ``pipeline`` and ``rtc``."""

    def __init__(self, catalog, pipeline, rtc: RtcServer, reason: str | None) -> None:
        self.catalog, self.pipeline, self.rtc, self.reason = catalog, pipeline, rtc, reason

    def ensure(self, sess) -> LiveSession:
        return sess if isinstance(sess, LiveSession) else LiveSession(self.pipeline)

    @staticmethod
    def use_http(why: str):
        return FALLBACK.format(reason=why.rstrip(". ")), gr.update(visible=True), gr.update(visible="hidden")

    def offer(self, offer_json, expression_name, a, backend_name, user=None, sess=None):
        sess = self.ensure(sess)
        sess.stop()
        sess.settings = _page_settings(sess, self.catalog, expression_name, a, backend_name, user)
        try:
            desc = json.loads(offer_json or "{}")
        except json.JSONDecodeError:
            desc = {"error": "the browser's WebRTC offer could not be read"}
        why = desc.get("error") if isinstance(desc, dict) else "the browser's WebRTC offer could not be read"
        if why is None and self.reason is not None:
            why = self.reason
        if why is None:
            try:
                reply, sess.peer = self.rtc.answer(desc, sess.process, on_close=sess.editor.reset)
            except RtcUnavailable as exc:
                why = str(exc)
            else:
                sess.transport = "webrtc"
                return json.dumps(reply), sess, CONNECTING, gr.update(visible=False), gr.update(visible=True)
        sess.transport = "http"
        return "", sess, *self.use_http(why)

    def connected(self, result, sess=None):
        if result == "connected" and isinstance(sess, LiveSession) and sess.peer is not None:
            return CONNECTED, gr.update(visible=False), gr.update(visible=True)
        if result == "off":  # the server chose the HTTP stream already
            return gr.update(), gr.update(), gr.update()
        if isinstance(sess, LiveSession):
            sess.stop()
            sess.transport = "http"
        why = (result or "failed: no answer").removeprefix("failed: ")
        return self.use_http(
            f"WebRTC could not connect ({why}; a network that blocks it needs a TURN server)"
        )

    @staticmethod
    def stop(sess=None):
        if isinstance(sess, LiveSession):
            sess.stop()
        return STOPPED

    def settings(self, expression_name, a, backend_name, user=None, sess=None):
        if isinstance(sess, LiveSession):
            try:
                sess.settings = _page_settings(sess, self.catalog, expression_name, a, backend_name, user)
            except MRError as exc:  # e.g. a model file that cannot be read: keep the settings
                log.warning("live settings: %s", exc)
        return sess

    def http(self, frame, expression_name, a, backend_name, user=None, sess=None):
        """One frame of the HTTP stream (the fallback), edited with the session's editor."""
        if frame is None:
            return None, sess
        sess = self.ensure(sess)
        try:
            rgb, _ = as_rgb(frame)
            sess.settings = _page_settings(sess, self.catalog, expression_name, a, backend_name, user)
            return sess.process(rgb, time.monotonic()), sess
        except MRError as exc:
            log.warning("live frame: %s", exc)
            return None, sess  # (a frame over the size limit is not sent back either)
        except Exception:
            log.exception("live frame failed")
        return frame, sess


#: What the page's own events share: quick, in the page's order, never in the progress bar.
_PRIVATE = {"api_visibility": "private", "show_progress": "hidden"}


def _bind_webrtc(ui: _Layout, h: _Handlers, controls: list) -> None:
    """Start: open the camera, offer, answer, accept, connected (or the HTTP stream); Stop."""
    browser = {"queue": False, **_PRIVATE}
    ui.start.click(
        None,
        js="async () => await window.mrLive.offer()",
        outputs=[ui.offer],
        api_name="live_open_camera",
        **browser,
    ).then(
        h.offer,
        inputs=[ui.offer, *controls],
        outputs=[ui.answer, ui.session, ui.mode, ui.fallback, ui.view],
        api_name="live_offer",
        concurrency_limit=LIVE_CONCURRENCY,
        concurrency_id="live-offer",
        **_PRIVATE,
    ).then(
        None,
        inputs=[ui.answer],
        outputs=[ui.outcome],
        js="async (answer) => await window.mrLive.accept(answer)",
        api_name="live_accept",
        **browser,
    ).then(
        h.connected,
        inputs=[ui.outcome, ui.session],
        outputs=[ui.mode, ui.fallback, ui.view],
        api_name="live_connected",
        **_PRIVATE,
    )
    ui.stop.click(
        None, js="async () => await window.mrLive.stop()", api_name="live_close_camera", **browser
    ).then(h.stop, inputs=[ui.session], outputs=[ui.mode], api_name="live_stop", **_PRIVATE)


def mount_live_tab(catalog, expression, intensity, backend, *, pipeline, rtc: RtcServer | None = None):
    """Add the Live tab (call inside ``gr.Tabs``) on the page's shared controls; returns
    ``connect(user_models)``, which binds its events once the session's own models (the Train tab's
    state) exist."""
    reason = _transport_reason()
    rtc = (
        rtc
        if rtc is not None
        else RtcServer(ice_servers_from_env(), max_peers=LIVE_CONCURRENCY, time_limit=LIVE_TIME_LIMIT)
    )
    ui = _layout(reason)
    h = _Handlers(catalog, pipeline, rtc, reason)

    def connect(user_models) -> None:
        controls = [expression, intensity, backend, user_models, ui.session]
        _bind_webrtc(ui, h, controls)
        for control in (expression, intensity, backend):
            control.change(
                h.settings,
                inputs=controls,
                outputs=[ui.session],
                api_name=f"live_settings_{control.elem_id}",
                concurrency_limit=None,
                **_PRIVATE,
            )
        bind_face_controls(ui.face, ui.session, h.ensure)
        ui.live_in.stream(
            h.http,
            inputs=[ui.live_in, *controls],
            outputs=[ui.live_out, ui.session],
            api_name="live",
            api_visibility="undocumented",
            stream_every=0.1,
            time_limit=LIVE_TIME_LIMIT,
            concurrency_limit=LIVE_CONCURRENCY,
            concurrency_id="live",
            show_progress="hidden",
        )

    return connect
