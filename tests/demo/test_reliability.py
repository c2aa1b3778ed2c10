"""A public server stays within bounds (through the API, gradio_client): the users' models per session,
in total and in time, one size limit for every way a photo arrives, no temporary files left behind."""

from __future__ import annotations

import contextlib
import html
import os
import re
import socket
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

gr = pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from gradio_client import Client, handle_file  # noqa: E402

from demo import build_demo, launch_options  # noqa: E402
from demo.engine import MAX_PIXELS  # noqa: E402
from demo.examples import grace_hopper_path  # noqa: E402
from demo.housekeeping import TempSweeper  # noqa: E402
from demo.sessions import SessionStore  # noqa: E402
from mr_core.core.modelfile import MODELS_DIR  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))
from servers import files, london_pairs  # noqa: E402

from testclips import make_clip  # noqa: E402

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:'future.no_silent_downcasting' is deprecated"),
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
]

AppError = gradio_client.exceptions.AppError


class Clock:
    """A clock the test moves on."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@contextlib.contextmanager
def serve(temp: Path, store: SessionStore | None = None, before_launch=None):
    """The demo with Gradio's upload folder at ``temp`` (so the test sees every file it writes);
    ``before_launch(app)`` is called between building and launching it."""
    old = os.environ.get("GRADIO_TEMP_DIR")
    os.environ["GRADIO_TEMP_DIR"] = str(temp)
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        app = build_demo(MODELS_DIR, examples=False, sessions=store)
        if before_launch is not None:
            before_launch(app)
        app.launch(
            **launch_options(),
            server_name="127.0.0.1",
            server_port=port,
            prevent_thread_lock=True,
            quiet=True,
        )
        try:
            yield f"http://127.0.0.1:{port}/"
        finally:
            app.close()
    finally:
        if old is None:
            os.environ.pop("GRADIO_TEMP_DIR", None)
        else:
            os.environ["GRADIO_TEMP_DIR"] = old


def model_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.safetensors") if p.is_file())


def test_models_are_bounded_per_session_in_total_and_in_time(tmp_path, london):
    clock = Clock()
    temp = tmp_path / "gradio"
    store = SessionStore(temp / "mr-sessions", per_session=2, total=3, ttl=600, clock=clock)
    held_out = str(sorted((london / "neutral").glob("*.jpg"))[-1])
    with serve(temp, store) as url:
        a = Client(url, verbose=False)
        for i, name in enumerate(("ra", "rb", "rc")):
            clock.now += 1
            _, status = a.predict(*map(files, london_pairs(london, 2 * i, 2)), name, api_name="/train")
        assert "'ra (yours)' was removed to make room (this server keeps 2 models per session)" in status, (
            status
        )
        with pytest.raises(
            AppError, match=r"^Your model 'ra \(yours\)' is no longer on this server \(a session"
        ):
            a.predict(handle_file(held_out), "ra (yours)", 1.0, api_name="/synthesize")
        # one file per model on the server: the session's, served as it is (no second copy in Gradio's cache)
        assert [p.name for p in model_files(temp)] == ["rb.safetensors", "rc.safetensors"]
        assert store.models_held() == 2
        clock.now += 1
        a.predict(
            handle_file(held_out), "rb (yours)", 1.0, api_name="/synthesize"
        )  # rb used last: rc goes first

        # Two fresh sessions: the server keeps 3 models in all, the least recently used go.
        for i, name in enumerate(("rd", "re")):
            clock.now += 1
            Client(url, verbose=False).predict(
                *map(files, london_pairs(london, 10 + 2 * i, 2)), name, api_name="/train"
            )
        assert store.models_held() == 3 and len(model_files(temp)) == 3
        with pytest.raises(
            AppError,
            match=r"^Your model 'rc \(yours\)' is no longer on this server \(the server keeps at most 3",
        ):
            a.predict(handle_file(held_out), "rc (yours)", 1.0, api_name="/synthesize")
        _, _, ok = a.predict(handle_file(held_out), "rb (yours)", 1.0, api_name="/synthesize")
        assert "changed to rb" in ok

        # After their time to live every model goes, with its file and its session's folder.
        clock.now += 601
        with pytest.raises(
            AppError,
            match=r"^Your model 'rb \(yours\)' is no longer on this server \(models are deleted 10 minutes",
        ):
            a.predict(handle_file(held_out), "rb (yours)", 1.0, api_name="/synthesize")
        assert store.models_held() == 0 and model_files(temp) == []
        assert not [p for p in store.root.iterdir()] if store.root.exists() else True
    assert not store.root.exists()  # and the store's folder at the end


def test_the_train_tab_says_what_happens_to_a_users_models(tmp_path):
    with serve(tmp_path / "gradio") as url:
        page = __import__("urllib.request").request.urlopen(url + "config", timeout=30).read().decode()
    assert "deleted when you close the page" not in page
    assert "keeps at most 3 of your models" in page and "60 minutes after you trained or uploaded it" in page
    # "How it works" names what ships (item 20)
    assert "the shipped models and the Train tab use mesh + MR" in page and "(the default)" not in page


def test_one_pixel_limit_for_every_way_a_photo_arrives(tmp_path, london):
    """A photo over the Photo tab's 50 megapixels is refused by the Train tab too (before it is
    decoded), and the other pairs are still used."""
    src, tgt = london_pairs(london, 0, 3)
    big = tmp_path / "before" / Path(src[0]).name
    big.parent.mkdir()
    Image.new("RGB", (8000, MAX_PIXELS // 8000 + 1), (128, 128, 128)).save(big, quality=50)
    assert big.stat().st_size < 15 * 2**20
    with serve(tmp_path / "gradio") as url:
        _, status = Client(url, verbose=False).predict(
            files([big, *src[1:]]), files(tgt), "bigger", api_name="/train"
        )
    assert status.startswith("Trained 'bigger' on 2 pairs"), status
    assert f"{big.name}: image is too large (8000x6251 = 50008000 pixels, limit {MAX_PIXELS})" in status, (
        status
    )


def test_failed_requests_leave_no_folder_and_the_server_sweeps_old_files(tmp_path, london):
    temp = tmp_path / "gradio"
    stale = temp / "0123abcd"  # what an interrupted upload or a killed server leaves
    fresh = temp / "fresh" / "upload.jpg"

    def leftovers(app) -> None:
        # The sweep's age, for the test: 5 s (the server's is an hour; file times cannot be set back).
        app.housekeeping.sweeper.max_age = app.housekeeping.sweeper.min_age = 5.0
        stale.mkdir(parents=True)
        for name in ("partial.jpg", ".clip.mp4.4242.abcdefgh.mr-tmp"):
            (stale / name).write_bytes(b"x" * 1000)
        (temp / "empty-folder").mkdir()
        time.sleep(6)
        fresh.parent.mkdir()
        fresh.write_bytes(b"y")

    store = SessionStore(temp / "mr-sessions")
    with serve(temp, store, leftovers) as url:
        assert not stale.exists() and not (temp / "empty-folder").exists()  # swept on start
        assert fresh.exists()  # (too young)
        c = Client(url, verbose=False)
        junk = tmp_path / "junk.mp4"
        junk.write_text("not a video")
        with pytest.raises(AppError, match="not a readable video"):
            c.predict(handle_file(str(junk)), "smile", 1.0, api_name="/synthesize_video")
        src, _ = london_pairs(london, 0, 1)
        with pytest.raises(AppError):
            c.predict(files(src), files([junk]), "nothing", api_name="/train")
        assert not (temp / "mr-videos").exists() or not list((temp / "mr-videos").iterdir())
        assert not store.root.exists()  # no session folder for a failed training
        clip = make_clip(tmp_path / "clip.mp4", n=4, audio=False)
        out = c.predict(handle_file(str(clip)), "smile", 1.0, api_name="/synthesize_video")
        out = Path(out[0])
        # the result is written once, where Gradio serves it from (no copy)
        results = [p for p in temp.rglob("*.mp4") if p.name.startswith("clip-smile")]
        assert len(results) == 1, results


def test_the_sweep_keeps_the_folder_within_its_byte_budget(tmp_path):
    now = time.time()
    for i in range(10):
        p = tmp_path / f"f{i}.bin"
        p.write_bytes(b"z" * 1000)
        os.utime(p, (now - 600 + i, now - 600 + i))
    report = TempSweeper(tmp_path, max_bytes=4500, min_age=60).sweep(now=now + 3600 - 700)
    left = sorted(p.name for p in tmp_path.iterdir())
    # none is over the age; the budget removes the oldest first
    assert report.bytes_left == 4000 and left == ["f6.bin", "f7.bin", "f8.bin", "f9.bin"], (report, left)


def test_the_sweep_keeps_the_files_the_page_offers_as_examples(tmp_path, monkeypatch):
    """Gradio copies the examples' files once, when the page is built; however old they get, the sweep of
    the upload folder leaves them (or the examples would stop working an hour after the start)."""
    from demo.ui import build_demo, example_files

    root = tmp_path / "uploads"  # this page's own upload folder: the sweep below empties it
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(root))
    demo = build_demo(MODELS_DIR)
    offered = sorted(example_files(demo))
    assert offered and all(Path(p).is_file() and root in Path(p).parents for p in offered), offered
    stray = root / "stray" / "left.bin"
    stray.parent.mkdir()
    stray.write_bytes(b"z")
    later = time.time() + 7200  # two hours on: older than the age limit, and a budget of 0 bytes
    report = TempSweeper(root, keep=lambda: example_files(demo), max_bytes=0, min_age=0).sweep(now=later)
    assert all(Path(p).is_file() for p in offered), report
    assert not stray.exists() and report.files_removed >= 1  # what the page does not offer goes
    TempSweeper(root, max_bytes=0, min_age=0).sweep(now=later)
    assert not any(Path(p).exists() for p in offered)  # a sweep that is not told keeps nothing


def _tampered(tmp_path: Path, name: str, scale: float = 1.0, **meta) -> Path:
    """The shipped smile model with its weights scaled and metadata values replaced."""
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    src = MODELS_DIR / "smile.safetensors"
    with safe_open(str(src), "numpy") as f:
        metadata = dict(f.metadata())
    tensors = load_file(str(src))
    tensors["weights"] = (tensors["weights"] * scale).astype(tensors["weights"].dtype)
    metadata.update(meta)
    path = tmp_path / name
    save_file(tensors, str(path), metadata=metadata)
    return path


def test_model_files_that_cannot_work_or_carry_markup_are_refused_and_names_are_cut(tmp_path):
    import numpy as np

    from mr_core import MaskedRegression

    photo = handle_file(str(grace_hopper_path()))
    huge = _tampered(tmp_path, "huge.safetensors", scale=1e30)  # finite, and nonsense
    markup = _tampered(tmp_path, "markup.safetensors", target="<img src=x onerror=alert(1)>[a](http://e.x)")
    x = np.random.default_rng(0).random((4, 1, 1, 3), dtype=np.float32)
    tiny = MaskedRegression(receptive_field=1, lam=0.1).fit(x, np.clip(x + 0.1, 0, 1))
    tiny.source, tiny.target = "neutral", "smiling"
    tiny.save(tmp_path / "tiny.safetensors")
    cases = {
        huge: r"^huge\.safetensors: not a usable expression model \(the model's weights are implausibly large",
        tmp_path
        / "tiny.safetensors": r"^Tiny\.safetensors: not a usable expression model \(the model works on 1x1 crops",
        markup: r"^markup\.safetensors: metadata target '<img src=x onerror=alert\(1\)>\[a\]\(http://e\.x\)' is not an "
        r"expression name",
    }
    with serve(tmp_path / "gradio") as url:
        c = Client(url, verbose=False)
        for path, words in cases.items():
            with pytest.raises(AppError) as err:
                c.predict(photo, "smile", 1.0, "numpy", handle_file(str(path)), api_name="/synthesize")
            message = str(err.value)
            assert re.match(words, html.unescape(message), flags=re.I), message
            assert "<img" not in message  # (escaped for the page)
        with pytest.raises(AppError) as err:
            c.predict(photo, "x" * 100_000, 1.0, api_name="/synthesize")
        assert str(err.value).startswith("Unknown expression 'xxxx") and len(str(err.value)) < 400


def test_malformed_api_calls_get_a_sentence_and_no_traceback(tmp_path, capfd):
    import httpx

    with serve(tmp_path / "gradio") as url:
        capfd.readouterr()
        api = url + "gradio_api"
        r = httpx.post(f"{api}/call/synthesize", json={"data": []}, timeout=30)
        assert r.status_code == 422
        assert r.json()["detail"].startswith(
            "The call to /synthesize gives 0 values, but it takes 6: Photo, "
        )
        r = httpx.post(f"{api}/call/train", json={"data": "x"}, timeout=30)
        assert r.status_code == 422 and "needs 'data': a list of 4 values" in r.json()["detail"]
        r = httpx.post(
            f"{api}/queue/join", json={"data": [], "fn_index": 999, "session_hash": "s1"}, timeout=30
        )
        assert r.status_code == 422 and r.json()["detail"].startswith(
            "There is no function number 999 in this app"
        )
        r = httpx.post(f"{api}/queue/join", content=b"{not json", timeout=30)
        assert r.status_code == 422 and r.json()["detail"] == "The request body is not JSON."
        # a well-formed call still runs
        _, _, status = Client(url, verbose=False).predict(
            handle_file(str(grace_hopper_path())), "smile", 1.0, api_name="/synthesize"
        )
        assert "changed to" in status
        log = capfd.readouterr()
    assert "Traceback" not in log.err + log.out, (log.err + log.out)[-3000:]


def test_a_photo_given_twice_in_a_training_set_is_said_so(tmp_path, london):
    src, tgt = london_pairs(london, 0, 3)
    again = tmp_path / "copy" / Path(src[0]).name  # the same photo, uploaded a second time
    again.parent.mkdir()
    again.write_bytes(Path(src[0]).read_bytes())
    other = tmp_path / "other" / Path(src[1]).with_suffix(".png").name  # another photo called alike
    other.parent.mkdir()
    Image.open(src[2]).save(other)
    with serve(tmp_path / "gradio") as url:
        _, status = Client(url, verbose=False).predict(
            files([*src, again, other]), files(tgt), "twice", api_name="/train"
        )
    assert status.startswith("Trained 'twice' on 3 pairs"), status
    assert (
        f"{again.name}: the same photo as {Path(src[0]).name}, given twice in the 'before' photos" in status
    )
    assert f"{other.name}: another 'before' photo is also called '{other.stem}'" in status
    assert "no 'after' photo" not in status
