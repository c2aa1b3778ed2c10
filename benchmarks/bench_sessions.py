"""Memory and disk of the web demo after a bounded load from fresh sessions (loopback only).

Usage::

    python benchmarks/bench_sessions.py                      # 30 trainings, 10 photos, 5 clips
    python benchmarks/bench_sessions.py --trainings 40 --photos 20 --videos 10

Starts the app (``python app.py``'s demo, shipped models) in a child process with Gradio's upload
folder in a fresh temporary folder, then sends, each from a new client (a new session, no heartbeat:
as an API client or a closed tab leaves it): ``--trainings`` Train-tab trainings of 2 London pairs,
``--photos`` photo edits with a model file uploaded with the request, and ``--videos`` clips of 2 s.
Prints the server's resident memory (VmRSS of its process) and the bytes and files in its temporary
folder before, after each kind of load, and after the sessions' models are over their time to live
(``--ttl`` seconds, the server's is an hour).  Needs ``../shared/data`` (the London set).
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # mr_core, demo and testclips from the source tree

from gradio_client import Client, handle_file  # noqa: E402

LONDON = ROOT.parent / "shared" / "data" / "london"

SERVER = """
import os, sys
sys.path.insert(0, {root!r})
from demo import build_demo, launch_options
from gradio.utils import get_upload_folder
from pathlib import Path
try:
    from demo.sessions import SessionStore
except ImportError:  # a version of the app from before the bounds (to compare)
    app = build_demo(examples=False)
else:
    store = SessionStore(Path(get_upload_folder()) / "mr-sessions", ttl={ttl!r})
    app = build_demo(sessions=store, examples=False)
    app.housekeeping.every = 5.0
app.launch(**launch_options(), server_name="127.0.0.1", server_port={port}, quiet=True)
"""


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def disk(folder: Path) -> tuple[float, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 1e6, len(files)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trainings", type=int, default=30)
    ap.add_argument("--photos", type=int, default=10)
    ap.add_argument("--videos", type=int, default=5)
    ap.add_argument("--ttl", type=float, default=60.0)
    args = ap.parse_args()
    if not LONDON.is_dir():
        sys.exit(f"{LONDON}: the London set is not here")
    names = sorted(p.name for p in (LONDON / "neutral").glob("*.jpg"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="bench-sessions-") as tmp:
        temp = Path(tmp) / "gradio"
        temp.mkdir()
        env = dict(os.environ, GRADIO_TEMP_DIR=str(temp), GRADIO_ANALYTICS_ENABLED="False")
        code = SERVER.format(root=str(ROOT), ttl=args.ttl, port=port)
        server = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=ROOT)
        url = f"http://127.0.0.1:{port}/"
        try:
            for _ in range(240):
                try:
                    Client(url, verbose=False)
                    break
                except Exception:
                    time.sleep(0.5)
            rows = []

            def report(label: str) -> None:
                mb, n = disk(temp)
                rows.append((label, rss_mb(server.pid), mb, n))
                print(
                    f"{label:<40} memory {rows[-1][1]:7.0f} MB   temp folder {mb:7.1f} MB in {n:4d} files",
                    flush=True,
                )

            report("started")
            model_file = None
            t0 = time.perf_counter()
            for i in range(args.trainings):
                pick = [names[(2 * i + k) % len(names)] for k in range(2)]
                src = [handle_file(str(LONDON / "neutral" / n)) for n in pick]
                tgt = [handle_file(str(LONDON / "smiling" / n)) for n in pick]
                model_file, _ = Client(url, verbose=False).predict(src, tgt, f"load{i}", api_name="/train")
            report(f"after {args.trainings} trainings ({time.perf_counter() - t0:.0f} s)")
            photo = str(LONDON / "neutral" / names[-1])
            for _ in range(args.photos):
                Client(url, verbose=False).predict(
                    handle_file(photo), "smile", 1.0, "numpy", handle_file(model_file), api_name="/synthesize"
                )
            report(f"after {args.photos} photos with a model file")
            from testclips import make_clip

            clip = make_clip(Path(tmp) / "clip.mp4", n=50, audio=False)
            for _ in range(args.videos):
                Client(url, verbose=False).predict(
                    handle_file(str(clip)), "smile", 1.0, api_name="/synthesize_video"
                )
            report(f"after {args.videos} clips of 2 s")
            time.sleep(args.ttl + 10)
            report(f"{args.ttl + 10:.0f} s later (models' time to live {args.ttl:g} s)")
        finally:
            server.send_signal(signal.SIGINT)  # as Ctrl+C: the server stops cleanly
            server.wait(timeout=60)
        mb, n = disk(temp)
        print(f"{'server stopped':<40} temp folder {mb:7.1f} MB in {n:4d} files")
        for p in sorted(temp.rglob("*"))[:10]:
            print("   left:", p.relative_to(temp), p.stat().st_size if p.is_file() else "(folder)")


if __name__ == "__main__":
    main()
