"""The API page's examples run as written (issue 20, item 17): every documented endpoint's example call,
sent by the Python client to a server whose public address is the one the examples name."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest

pytest.importorskip("gradio")

from gradio_client import Client, handle_file  # noqa: E402
from servers import free_port  # noqa: E402

from demo import build_demo, launch_options  # noqa: E402
from mr_core.core.modelfile import MODELS_DIR  # noqa: E402
from mr_core.synthesis import probe_video  # noqa: E402

pytestmark = pytest.mark.slow


def _as_call(value, folder: Path):
    """An example value as the page's Python snippet writes it: files through handle_file(url).  The
    server refuses to fetch from its own loopback address (Gradio's rule against requests to private
    hosts), so the file at the example's URL is fetched here, from that URL, and sent as a file."""
    if isinstance(value, dict) and value.get("meta", {}).get("_type") == "gradio.FileData":
        url = value["path"]
        assert url.startswith(os.environ["MR_PUBLIC_URL"]), url  # this server's own file, not elsewhere
        reply = httpx.get(url, timeout=30)
        assert reply.status_code == 200, (url, reply.status_code)
        path = folder / str(len(list(folder.iterdir()))) / url.rsplit("/", 1)[-1]
        path.parent.mkdir()
        path.write_bytes(reply.content)
        return handle_file(str(path))
    if isinstance(value, list):
        return [_as_call(v, folder) for v in value]
    return value


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    port = free_port()
    mp = pytest.MonkeyPatch()
    mp.setenv("MR_PUBLIC_URL", f"http://127.0.0.1:{port}")
    app = build_demo(MODELS_DIR)
    app.launch(
        **launch_options(), server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True
    )
    try:
        yield f"http://127.0.0.1:{port}/", app
    finally:
        app.close()
        mp.undo()


def test_every_example_on_the_api_page_runs_as_written(served, tmp_path):
    url, app = served
    client = Client(url, verbose=False)
    info = client.view_api(print_info=False, return_format="dict")
    endpoints = info["named_endpoints"]
    assert {"/synthesize", "/synthesize_video", "/train", "/edit_face"} <= set(endpoints)
    text = json.dumps(endpoints)
    for placeholder in ("sample_file.pdf", "world.mp4", "bus.png", "Hello!!", "value_"):
        assert placeholder not in text, placeholder
    results = {}
    for name, ep in endpoints.items():
        args = [_as_call(p["example_input"], tmp_path) for p in ep["parameters"]]
        results[name] = client.predict(*args, api_name=name)
    image, crops, status = results["/synthesize"]
    assert Path(image).is_file() and "1 face found and changed" in status, status
    video, status = results["/synthesize_video"]
    assert probe_video(video).frames == 45 and "edited by" in status, status
    model, status = results["/train"]
    assert Path(model).suffix == ".safetensors" and status.startswith("Trained 'smile' on 2 pairs"), status
    edited, status = results["/edit_face"]
    assert Path(edited).is_file() and "1 face edited" in status, status
