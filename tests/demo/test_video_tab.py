"""The Video tab through its API (``/synthesize_video``), served with the shipped models."""

from __future__ import annotations

import contextlib
import socket
from pathlib import Path

import numpy as np
import pytest

from testclips import frame_times, make_clip, make_vfr_clip, read_frames

gr = pytest.importorskip("gradio")
pytest.importorskip("gradio_client")

from gradio_client import Client, handle_file  # noqa: E402

from demo import build_demo, launch_options  # noqa: E402
from demo.video_tab import edit_clip  # noqa: E402
from mr_core.core.modelfile import MODELS_DIR  # noqa: E402

# Gradio's own event bookkeeping (pandas) warns on every request; not this project's concern.
pytestmark = [
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


@contextlib.contextmanager
def serve():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = build_demo(MODELS_DIR, examples=False)
    app.launch(
        **launch_options(), server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True
    )
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.close()


@pytest.fixture(scope="module")
def client():
    with serve() as url:
        yield Client(url, verbose=False)


def test_api_signature(client):
    info = client.view_api(print_info=False, return_format="dict")
    params = info["named_endpoints"]["/synthesize_video"]["parameters"]
    assert [p["parameter_name"] for p in params] == [
        "video", "expression", "intensity", "preset", "targets", "use_model"
    ]  # fmt: skip
    assert [p["parameter_has_default"] for p in params][3:] == [True, True, True]


def test_synthesize_video_returns_the_edited_clip(client, tmp_path):
    src = make_clip(tmp_path / "clip.mp4", n=20)
    result = client.predict(handle_file(str(src)), "smile", 1.0, api_name="/synthesize_video")
    path = Path(result[0])
    frames, facts = read_frames(path)
    assert len(frames) == 20 and (facts["width"], facts["height"], facts["codec"]) == (320, 240, "h264")
    assert facts["audio_packets"] == read_frames(src)[1]["audio_packets"]


def test_the_face_editor_edits_a_clip_alone_or_on_top_of_the_expression(client, tmp_path):
    """The Video tab's face editor controls: a preset alone changes the frames and the status says what
    edited them; with the expression on, both are named; an unknown preset is one sentence."""
    src = make_clip(tmp_path / "clip.mp4", n=10, audio=False)
    before = read_frames(src)[0]
    alone = client.predict(
        handle_file(str(src)), "smile", 1.0, "surprised", "", False, api_name="/synthesize_video"
    )
    assert "edited by the face editor (preset surprised) at intensity 1" in alone[1], alone[1]
    frames = read_frames(Path(alone[0]))[0]
    assert len(frames) == 10
    changed = np.mean(
        [np.abs(a.astype(int) - b.astype(int)).mean() for a, b in zip(frames, before, strict=True)]
    )
    both = client.predict(
        handle_file(str(src)), "smile", 1.0, "none", "jawOpen=0.5", True, api_name="/synthesize_video"
    )
    assert "edited by 'smile' and the face editor (targets jawOpen=0.5)" in both[1], both[1]
    plain = client.predict(handle_file(str(src)), "smile", 1.0, api_name="/synthesize_video")
    assert "edited by 'smile' at intensity 1" in plain[1], plain[1]
    assert changed > 0.5, changed  # the editor moved the face (H.264 alone changes less than this)
    with pytest.raises(Exception, match=r"Preset must be one of none, happy, .*, got 'grin'\."):
        client.predict(handle_file(str(src)), "smile", 1.0, "grin", "", False, api_name="/synthesize_video")


def test_bad_and_oversized_clips_are_sentences(client, tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_text("not a video")
    with pytest.raises(Exception, match="not a readable video") as err:
        client.predict(handle_file(str(junk)), "smile", 1.0, api_name="/synthesize_video")
    assert "Traceback" not in str(err.value)
    long = make_clip(tmp_path / "long.mp4", n=42, size=(160, 120), fps=2, audio=False)
    with pytest.raises(Exception, match="over the limit of 20 s"):
        client.predict(handle_file(str(long)), "smile", 1.0, api_name="/synthesize_video")


def test_a_phone_clip_keeps_its_frame_times_and_errors_name_only_the_upload(client, tmp_path):
    src = tmp_path / "phone.mp4"
    times = make_vfr_clip(src, [10 if i % 2 else 56 for i in range(16)])
    result = client.predict(handle_file(str(src)), "smile", 1.0, api_name="/synthesize_video")
    out = frame_times(Path(result[0]))
    assert len(out) == 16 and max(abs(a - b) for a, b in zip(out, times, strict=True)) < 1e-3, out
    # Errors name the file as uploaded: no server folder, process id or cache hash.
    whole = make_clip(tmp_path / "web.mp4", n=12, audio=False).read_bytes()
    (tmp_path / "cut.mp4").write_bytes(whole[: len(whole) // 2])
    (tmp_path / "junk.mp4").write_text("not a video")
    for name in ("cut.mp4", "junk.mp4"):
        with pytest.raises(Exception) as err:
            client.predict(handle_file(str(tmp_path / name)), "smile", 1.0, api_name="/synthesize_video")
        message = str(err.value)
        assert message.startswith(f"{name}: ") and "/" not in message and "tmp" not in message, message


def test_edit_clip_reports_frames_without_a_face(tmp_path):
    from demo.catalog import ModelCatalog
    from mr_core.face import FacePipeline

    src = make_clip(tmp_path / "empty.mp4", n=8, face_frames=set(), audio=False)
    with FacePipeline() as pipe:
        path, status = edit_clip(ModelCatalog(MODELS_DIR), str(src), "smile", 1.0, pipeline=pipe)
    assert Path(path).is_file() and len(read_frames(Path(path))[0]) == 8
    assert (
        status == "8 frames, 0 with a face (0 faces followed), audio none, edited by 'smile' at intensity 1. "
        "No face was found in any "
        "frame; the clip is unchanged."
    )


@pytest.mark.parametrize(
    ("error", "sentence"),
    [
        (MemoryError(), "The server ran out of memory for this clip; please try a shorter or smaller clip."),
        (
            RuntimeError("a bug"),
            "Something went wrong while processing this clip (the error was logged on the server); "
            "please try another clip.",
        ),
    ],
    ids=["out of memory", "unexpected error"],
)
def test_server_failures_speak_of_the_clip_not_a_photo(client, tmp_path, monkeypatch, error, sentence):
    import re

    import demo.video_tab

    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(demo.video_tab, "synthesize_video", fail)
    src = make_clip(tmp_path / "clip.mp4", n=4, audio=False)
    with pytest.raises(Exception, match=f"^{re.escape(sentence)}$"):
        client.predict(handle_file(str(src)), "smile", 1.0, api_name="/synthesize_video")
