"""The face editor through the app's API (``/edit_face``, gradio_client) on the shipped models."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]


@pytest.fixture(scope="module")
def client():
    pytest.importorskip("gradio")
    from gradio_client import Client
    from servers import serve

    from mr_core.core.modelfile import MODELS_DIR

    with serve(MODELS_DIR) as url:
        yield Client(url, verbose=False)


def _score(path, key):
    from mr_core.face import align_photo
    from mr_core.face.landmarks import shared_landmarker

    found = shared_landmarker(blendshapes=True).analyze(align_photo(str(path), size=(256, 256)))
    return float(np.mean([v for k, v in found.blendshapes.items() if k.startswith(key)]))


def test_edit_face_with_a_preset_targets_and_a_reference(client, london):
    from gradio_client import handle_file

    photo = handle_file(str(london / "neutral" / "037.jpg"))
    out, status = client.predict(photo, "", "jawOpen=0.5", None, "all", 1.0, api_name="/edit_face")
    assert "1 face edited" in status and "jawOpen=0.5" in status
    assert abs(_score(out, "jawOpen") - 0.5) < 0.2
    assert Image.open(out).size == Image.open(london / "neutral" / "037.jpg").size

    out, status = client.predict(photo, "surprised", "", None, "all", 1.0, api_name="/edit_face")
    assert (
        "preset surprised" in status
        and _score(out, "browInnerUp") > _score(london / "neutral" / "037.jpg", "browInnerUp") + 0.1
    )

    ref = handle_file(str(london / "smiling" / "062.jpg"))
    out, status = client.predict(photo, "", "", ref, "mouth", 1.0, api_name="/edit_face")
    assert "reference" in status and _score(out, "mouthSmile") > 0.4


def test_edit_face_refuses_bad_requests_in_one_sentence(client, london):
    from gradio_client import handle_file

    photo = handle_file(str(london / "neutral" / "037.jpg"))
    for args, message in (
        (("joy", "", None, "all", 1.0), "Unknown preset 'joy'; valid: happy, sad, surprised"),
        (("", "jawOpen=7", None, "all", 1.0), "the value must be in 0..1"),
        (("", "", None, "all", 1.0), "Say what to change"),
    ):
        with pytest.raises(Exception, match=message):
            client.predict(photo, *args, api_name="/edit_face")
