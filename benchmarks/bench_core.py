"""Speed and memory of the MR core and of the `train` command; prints figures and writes a markdown table.

    python benchmarks/bench_core.py                       # the standard set (a few minutes)
    python benchmarks/bench_core.py --reference DIR       # also time the original code (a checkout of
                                                          # github.com/arbishakram/masked_regression_code)
    python benchmarks/bench_core.py --large 5000          # streaming: peak memory of training 5000 pairs
    python benchmarks/bench_core.py --backend cupy        # GPU figures (n = 1000, 10000; 128 and 256 px)

Figures are medians over repeats (this machine is noisy).  Results go to stdout and to
benchmarks/RESULTS.md (or --out).  Synthetic smooth images are used: the cost of MR does not
depend on the pixel values.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mr_core import MaskedRegression  # noqa: E402
from mr_core.core.backend import get_backend  # noqa: E402
from mr_core.errors import BackendError  # noqa: E402

# The original code on this machine, 200 RGB pairs of 128x128, rf 3 (from the project's issue tracker;
# --reference re-measures them).
REFERENCE_TRAIN = {"seconds": 38.0, "peak_mb": 6600.0, "source": "recorded"}


def synthetic(n: int, size: int, seed: int = 0, dtype=np.float32) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    base = 0.5 + 0.25 * np.sin(7 * xx)[..., None] * np.cos(5 * yy)[..., None]
    X = np.clip(base + 0.2 * rng.random((n, size, size, 3)), 0, 1).astype(dtype)
    Y = np.clip(0.8 * X + 0.1 * np.roll(X, 2, axis=1) + 0.05, 0, 1).astype(dtype)
    return X, Y


def median_time(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_fit_vs_n(backend: str, sizes, ns, repeats: int) -> list[dict]:
    rows = []
    be = get_backend(backend)
    for size in sizes:
        X, Y = synthetic(max(ns), size)
        for n in ns:

            def fit(n=n, X=X, Y=Y):
                MaskedRegression(3, 0.4, backend=backend, dtype="float32").fit(X[:n], Y[:n])._solved()
                be.synchronize()

            fit()  # warm-up (and CuPy kernel compilation)
            t = median_time(fit, repeats)
            rows.append(
                {"backend": backend, "size": size, "n": n, "fit_ms": t * 1e3, "per_pair_us": t / n * 1e6}
            )
            print(
                f"  fit {backend:5s} {size}x{size} n={n:6d}: {t * 1e3:9.1f} ms ({t / n * 1e6:7.1f} us/pair)"
            )
    return rows


def bench_fit_memory(n: int = 200, size: int = 128) -> float:
    X, Y = synthetic(n, size)
    tracemalloc.start()
    MaskedRegression(3, 0.4, dtype="float32").fit(X, Y)._solved()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def bench_predict(backend: str, size: int, repeats: int) -> float:
    be = get_backend(backend)
    X, Y = synthetic(50, size)
    m = MaskedRegression(3, 0.4, backend=backend, dtype="float32").fit(X, Y)
    m._solved()
    x = X[0]
    m.predict(x)
    be.synchronize()
    return median_time(lambda: m.predict(x), repeats)


def write_folder(root: Path, n: int, size: int, layout: str = "seed") -> Path:
    """n synthetic PNG pairs in the original layout (trainA/x_N.png, trainB/y_N.png)."""
    a, b = root / "trainA", root / "trainB"
    a.mkdir(parents=True, exist_ok=True)
    b.mkdir(parents=True, exist_ok=True)
    for start in range(0, n, 100):
        X, Y = synthetic(min(100, n - start), size, seed=start)
        for i, (x, y) in enumerate(zip(X, Y, strict=True), start=start + 1):
            Image.fromarray((x * 255).astype(np.uint8)).save(a / f"neutral_{i}.png", compress_level=1)
            Image.fromarray((y * 255).astype(np.uint8)).save(b / f"smile_{i}.png", compress_level=1)
    return root


def timed_command(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak resident memory (MB) of a command, via GNU time."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as out:
        proc = subprocess.run(
            ["/usr/bin/time", "-f", "%e %M", "-o", out.name, *cmd],
            cwd=cwd,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stderr[-2000:]}")
        wall, kb = out.read().split()[-2:]
    return float(wall), float(kb) / 1024


def bench_train_command(folder: Path, n: int, repeats: int, extra=()) -> tuple[float, float]:
    weights = folder / "weights"
    cmd = [
        sys.executable, "-m", "mr_core", "--mode", "train", "--train_dataset_dir", str(folder),
        "--image_size", "128", "--total_images", str(n), "--input_ch", "3", "--receptive_field", "3",
        "--lamda", "0.4", "--weights_dir", str(weights), "--force", *extra,
    ]  # fmt: skip
    runs = [timed_command(cmd, REPO) for _ in range(repeats)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def bench_reference(reference: Path, folder: Path, n: int) -> tuple[float, float]:
    """Run the original code's training on the same folder (in a scratch copy of its checkout)."""
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch) / "ref"
        shutil.copytree(reference, work, ignore=shutil.ignore_patterns(".git", "images", "dataset"))
        cmd = [
            sys.executable, "main.py", "--mode", "train", "--train_dataset_dir", f"{folder}/",
            "--image_size", "128", "--total_images", str(n), "--input_ch", "3", "--receptive_field", "3",
            "--lamda", "0.4", "--weights_dir", f"{work}/weights/", "--test_results_dir", f"{work}/t/",
            "--inthewild_results_dir", f"{work}/w/",
        ]  # fmt: skip
        return timed_command(cmd, work)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument(
        "--reference", type=Path, help="checkout of the original code, to time it on the same folder"
    )
    ap.add_argument(
        "--large", type=int, default=0, help="also train N synthetic pairs through the CLI (memory)"
    )
    ap.add_argument("--backend", default="numpy", help="numpy (default) or cupy")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "RESULTS.md")
    args = ap.parse_args()

    lines = [
        "# Benchmarks: MR core and the `train` command",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"NumPy {np.__version__}. Medians of {args.repeats} runs unless said. "
        "Produced by `python benchmarks/bench_core.py`.",
        "",
    ]
    print("== fit time vs n (128x128 RGB, rf 3, float32, NumPy) ==")
    rows = bench_fit_vs_n("numpy", [128], [50, 100, 200, 400, 800], args.repeats)
    mem = bench_fit_memory()
    print(f"  fit peak traced memory, n=200: {mem:.0f} MB")
    lines += ["## `MaskedRegression.fit` (NumPy, float32, 128x128 RGB, rf 3)", ""]
    lines += ["| n pairs | fit (ms) | per pair (us) |", "|---:|---:|---:|"]
    lines += [f"| {r['n']} | {r['fit_ms']:.1f} | {r['per_pair_us']:.0f} |" for r in rows]
    lines += ["", f"Peak memory allocated by `fit` on 200 pairs (tracemalloc): {mem:.0f} MB.", ""]

    print("== predict latency, one face ==")
    p128 = bench_predict("numpy", 128, max(args.repeats, 200))
    p512 = bench_predict("numpy", 512, max(args.repeats, 20))
    big = synthetic(20, 512)
    t512 = median_time(lambda: MaskedRegression(3, 0.4).fit(*big)._solved(), 3)
    del big
    print(
        f"  predict 128x128 RGB: {p128 * 1e3:.3f} ms; 512x512 RGB: {p512 * 1e3:.2f} ms; fit 20 pairs 512x512: {t512:.2f} s"
    )
    lines += ["## Prediction (NumPy, float32, rf 3)", "", "| image | predict one face |", "|---|---:|"]
    lines += [f"| 128x128 RGB | {p128 * 1e3:.3f} ms |", f"| 512x512 RGB | {p512 * 1e3:.2f} ms |", ""]
    lines += [f"512x512 RGB is supported: fitting 20 pairs takes {t512:.2f} s.", ""]

    with tempfile.TemporaryDirectory() as tmp:
        folder = write_folder(Path(tmp) / "data200", 200, 128)
        print(
            "== `train` command, 200 RGB pairs of 128x128 PNG (whole process: start-up, reading, fit, save) =="
        )
        wall, peak = bench_train_command(folder, 200, max(3, args.repeats // 2))
        print(f"  python -m mr_core train: {wall:.2f} s, peak RSS {peak:.0f} MB")
        ref = dict(REFERENCE_TRAIN)
        if args.reference:
            print("  running the original code on the same folder (about 40 s)...")
            ref["seconds"], ref["peak_mb"] = bench_reference(args.reference, folder, 200)
            ref["source"] = "measured now"
            print(f"  original code: {ref['seconds']:.1f} s, peak RSS {ref['peak_mb']:.0f} MB")
        speed, lean = ref["seconds"] / wall, ref["peak_mb"] / peak
        print(f"  => {speed:.0f}x faster, {lean:.0f}x leaner than the original code ({ref['source']})")
        lines += [
            "## The whole `train` command vs the original code (200 RGB pairs, 128x128, rf 3, lam 0.4)",
            "",
            "| | wall time | peak memory (RSS) |",
            "|---|---:|---:|",
            f"| original code ({ref['source']}) | {ref['seconds']:.1f} s | {ref['peak_mb']:.0f} MB |",
            f"| `python -m mr_core train` | {wall:.2f} s | {peak:.0f} MB |",
            f"| ratio | **{speed:.0f}x faster** | **{lean:.0f}x leaner** |",
            "",
        ]
        if args.large:
            big = write_folder(Path(tmp) / "big", args.large, 128)
            wall_big, peak_big = bench_train_command(big, args.large, 1)
            print(
                f"  train {args.large} pairs (streamed in chunks of 64): {wall_big:.1f} s, peak RSS {peak_big:.0f} MB"
            )
            lines += [
                f"Streaming: training {args.large} pairs through the command takes {wall_big:.1f} s with a peak "
                f"RSS of {peak_big:.0f} MB (chunks of 64 pairs; memory does not grow with n).",
                "",
            ]

    lines += ["## GPU (CuPy)", ""]
    try:
        get_backend("cupy")
    except BackendError as exc:
        print(f"== GPU skipped: {exc}")
        lines += [f"Not measured on this machine: {exc}", ""]
    else:
        print("== GPU (CuPy) ==")
        gpu_rows = bench_fit_vs_n("cupy", [128, 256], [1000, 10000], max(3, args.repeats // 2))
        lines += ["| image | n pairs | fit (ms) | predict one face (ms) |", "|---|---:|---:|---:|"]
        for size in (128, 256):
            pred = bench_predict("cupy", size, 200) * 1e3
            for r in [r for r in gpu_rows if r["size"] == size]:
                lines.append(f"| {size}x{size} RGB | {r['n']} | {r['fit_ms']:.1f} | {pred:.3f} |")
        lines.append("")
    args.out.write_text("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
