"""Re-extract the vendored MediaPipe BlazeFace face detectors into ``mr_core/assets``.

The two detector models (Apache-2.0, published by Google as part of MediaPipe) ship
inside the PyPI wheel ``mediapipe==0.10.21``:

* ``mediapipe/modules/face_detection/face_detection_short_range.tflite``
  -> ``mr_core/assets/face_detector_short_range.tflite`` (faces within about 2 m)
* ``mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite``
  -> ``mr_core/assets/face_detector_full_range_sparse.tflite`` (smaller, farther faces)

This script downloads the Linux x86_64 / CPython 3.11 wheel with pip (no dependencies),
extracts both files and the wheel's Apache-2.0 licence text, checks their sizes and
SHA-256 digests against the values below (the same values as in
``mr_core/assets/face_detector.sha256``) and copies them in.

Usage::

    python scripts/vendor_face_detector.py           # download, verify, install
    python scripts/vendor_face_detector.py --check   # only verify the vendored copies
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL_SPEC = "mediapipe==0.10.21"
PIP_PLATFORM = ["--platform", "manylinux_2_28_x86_64", "--python-version", "3.11"]
LICENSE_MEMBER = "mediapipe-0.10.21.dist-info/LICENSE"
# target file name -> (wheel member, size in bytes, sha256)
MODELS = {
    "face_detector_short_range.tflite": (
        "mediapipe/modules/face_detection/face_detection_short_range.tflite",
        229_714,
        "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8",
    ),
    "face_detector_full_range_sparse.tflite": (
        "mediapipe/modules/face_detection/face_detection_full_range_sparse.tflite",
        676_746,
        "2c3728e6da56f21e21a320433396fb06d40d9088f2247c05e5635a688d45dfe1",
    ),
}

ASSETS = Path(__file__).resolve().parents[1] / "mr_core" / "assets"
SUMS = ASSETS / "face_detector.sha256"


def verify(name: str, data: bytes) -> None:
    _member, size, expected = MODELS[name]
    digest = hashlib.sha256(data).hexdigest()
    if len(data) != size or digest != expected:
        raise SystemExit(f"{name} has {len(data)} bytes and sha256 {digest}; expected {size} bytes and {expected}")


def apache_text(full: str) -> str:
    """The Apache-2.0 text of the wheel's LICENSE, without the third-party notices appended to it."""
    end = full.find("limitations under the License.")
    if end < 0:
        raise SystemExit("the wheel's LICENSE does not look like the Apache License 2.0")
    return full[: end + len("limitations under the License.")] + "\n"


def extract() -> tuple[dict[str, bytes], str]:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", *PIP_PLATFORM,
             "--dest", tmp, WHEEL_SPEC],
            check=True,
        )
        wheels = sorted(Path(tmp).glob("mediapipe-*.whl"))
        if not wheels:
            raise SystemExit(f"pip did not download a wheel for {WHEEL_SPEC}")
        with zipfile.ZipFile(wheels[0]) as zf:
            files = {name: zf.read(member) for name, (member, _s, _d) in MODELS.items()}
            licence = zf.read(LICENSE_MEMBER).decode("utf-8")
    return files, apache_text(licence)


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only verify the vendored files")
    args = parser.parse_args()
    if args.check:
        for name in MODELS:
            verify(name, (ASSETS / name).read_bytes())
            print(f"{ASSETS / name} OK ({MODELS[name][2]})")
        return 0
    files, licence = extract()
    for name, data in files.items():
        verify(name, data)
    ASSETS.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        write_atomic(ASSETS / name, data)
        print(f"wrote {ASSETS / name} ({len(data)} bytes, sha256 {MODELS[name][2]})")
    write_atomic(ASSETS / "face_detector.LICENSE", licence.encode("utf-8"))
    sums = "".join(f"{digest}  {name}\n" for name, (_m, _s, digest) in MODELS.items())
    write_atomic(SUMS, sums.encode("ascii"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
