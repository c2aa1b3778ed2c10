"""The Train tab through the API (gradio_client): teach an expression from London pairs, use it, refuse bad input."""

from __future__ import annotations

import pickle
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from gradio_client import Client, handle_file  # noqa: E402

from demo.train_tab import MAX_PAIRS  # noqa: E402
from mr_core.core.modelfile import MODELS_DIR  # noqa: E402
from mr_core.methods import load_model  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from servers import files, london_pairs, serve  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

AppError = gradio_client.exceptions.AppError


@pytest.fixture(scope="module")
def url():
    with serve(MODELS_DIR) as u:
        yield u


@pytest.fixture(scope="module")
def client(url) -> Client:
    return Client(url, verbose=False)


@pytest.fixture
def held_out(london) -> Path:
    return london / "neutral" / sorted(p.name for p in (london / "neutral").glob("*.jpg"))[-1]


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(np.float64)


def test_train_from_8_pairs_and_apply_to_another_face(client, london, held_out):
    before = sorted(p.name for p in MODELS_DIR.iterdir())
    src, tgt = london_pairs(london, 0, 8)
    model_file, status = client.predict(files(src), files(tgt), "grin", api_name="/train")
    assert status.startswith("Trained 'grin' on 8 pairs in "), status
    assert Path(model_file).name == "grin.safetensors"
    model = load_model(model_file)
    assert (model.source, model.target, model.n_pairs_) == ("neutral", "grin", 8)
    assert sorted(p.name for p in MODELS_DIR.iterdir()) == before  # nothing written to models/

    # The model file in place of a shipped expression (the positional arguments stay as they were).
    ours, _, ours_status = client.predict(
        handle_file(str(held_out)), "smile", 1.0, "numpy", handle_file(model_file), api_name="/synthesize"
    )
    assert "changed to grin by 'grin (yours)'" in ours_status, ours_status
    shipped, _, _ = client.predict(handle_file(str(held_out)), "smile", 1.0, api_name="/synthesize")
    photo = pixels(held_out)
    ours_change = (pixels(ours) - photo).mean(axis=2)
    shipped_change = (pixels(shipped) - photo).mean(axis=2)
    assert np.abs(ours_change).mean() > 0.5  # it changes the face ...
    r = np.corrcoef(ours_change.ravel(), shipped_change.ravel())[0, 1]
    assert r > 0.3, r  # ... much as the shipped smile does


def test_two_users_training_at_once_each_get_their_own(url, london, held_out):
    users = [Client(url, verbose=False) for _ in range(2)]
    jobs = [
        (name, c.submit(*map(files, london_pairs(london, start, 8)), name, api_name="/train"))
        for c, name, start in ((users[0], "alpha", 10), (users[1], "beta", 20))
    ]
    for name, job in jobs:
        model_file, status = job.result(timeout=300)
        assert status.startswith(f"Trained '{name}' on 8 pairs"), status
        assert load_model(model_file).target == name
    # each user's expression is in their own session only
    for c, mine, theirs in ((users[0], "alpha", "beta"), (users[1], "beta", "alpha")):
        _, _, status = c.predict(handle_file(str(held_out)), f"{mine} (yours)", 1.0, api_name="/synthesize")
        assert f"changed to {mine} by '{mine} (yours)'" in status
        with pytest.raises(
            AppError, match=rf"^Unknown expression '{theirs} \(yours\)'; available: .*{mine} \(yours\)\.$"
        ):
            c.predict(handle_file(str(held_out)), f"{theirs} (yours)", 1.0, api_name="/synthesize")


def one_sentence(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message and "Traceback" not in message, message
    assert message.rstrip().endswith("."), message
    return message


def test_bad_training_input_gets_one_sentence(client, london, held_out, tmp_path):
    src, tgt = london_pairs(london, 0, 3)
    text = tmp_path / "notes.txt"
    text.write_text("not a photo\n")
    cases = {
        "a text file": ([text], [text], r"no usable training pairs \(notes\.txt: not an image"),
    }
    renamed = tmp_path / "renamed"
    renamed.mkdir()
    for i, p in enumerate(tgt):
        (renamed / f"other{i}.jpg").write_bytes(Path(p).read_bytes())
    cases["an unpaired set"] = (
        src,
        sorted(renamed.iterdir()),
        r"none of the 3 'before' photos has an 'after'",
    )
    flat = tmp_path / "flat"
    flat.mkdir()
    for i in range(3):
        Image.new("RGB", (320, 240), (90 + 40 * i, 120, 60)).save(flat / f"{i}.png")
    cases["photos without faces"] = (
        sorted(flat.iterdir()),
        sorted(flat.iterdir()),
        r"no usable training pairs \(0\.png: no face found",
    )
    cases["the same photos twice"] = (
        src,
        src,
        r"^The target images are the same as the source images \(the same photos given twice\?\): the "
        "model would change nothing",
    )
    many = tmp_path / "many"
    many.mkdir()
    for i in range(MAX_PAIRS + 1):
        Image.new("RGB", (8, 8), (i, i, i)).save(many / f"{i:03d}.png")
    cases["a too-large set"] = (
        sorted(many.iterdir()),
        sorted(many.iterdir()),
        rf"too many photos: {MAX_PAIRS + 1}",
    )
    for what, (a, b, pattern) in cases.items():
        with pytest.raises(AppError) as exc:
            client.predict(files(a), files(b), "oops", api_name="/train")
        assert re.search(pattern, one_sentence(exc), re.IGNORECASE), (what, str(exc.value))
    with pytest.raises(AppError, match="^Give the new expression a name") as exc:
        client.predict(files(src), files(tgt), "  ", api_name="/train")
    one_sentence(exc)
    # the server keeps serving
    _, status = client.predict(files(src), files(tgt), "fine", api_name="/train")
    assert status.startswith("Trained 'fine' on 3 pairs")


def test_bad_model_files_get_one_sentence(client, held_out, tmp_path):
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes((MODELS_DIR / "smile.safetensors").read_bytes()[:5000])
    pickled = tmp_path / "pickled.safetensors"
    pickled.write_bytes(pickle.dumps({"weights": np.zeros((4, 4))}))
    for path in (corrupt, pickled):
        with pytest.raises(AppError, match=rf"^{path.name}: not a usable expression model") as exc:
            client.predict(
                handle_file(str(held_out)),
                "smile",
                1.0,
                "numpy",
                handle_file(str(path)),
                api_name="/synthesize",
            )
        one_sentence(exc)
    _, _, status = client.predict(handle_file(str(held_out)), "smile", 1.0, api_name="/synthesize")
    assert "changed to smiling by 'smile'" in status


def test_a_trained_expression_works_in_the_video_tab_of_the_same_session(url, london, tmp_path):
    from testclips import make_clip, read_frames

    user, other = Client(url, verbose=False), Client(url, verbose=False)
    src, tgt = london_pairs(london, 30, 8)
    _, status = user.predict(files(src), files(tgt), "wink", api_name="/train")
    assert status.startswith("Trained 'wink' on 8 pairs"), status
    clip = make_clip(tmp_path / "clip.mp4", n=12, audio=False)
    result = user.predict(handle_file(str(clip)), "wink (yours)", 1.0, api_name="/synthesize_video")
    frames, _ = read_frames(Path(result[0]))
    assert len(frames) == 12
    with pytest.raises(AppError, match="Unknown expression 'wink \\(yours\\)'"):
        other.predict(handle_file(str(clip)), "wink (yours)", 1.0, api_name="/synthesize_video")
