"""``synthesize`` with file names as long as the file system takes, their output names taken."""

from __future__ import annotations

import shutil

from conftest import run_cli

from demo.examples import grace_hopper_path


def test_a_long_name_whose_output_is_taken_is_shortened_and_the_batch_goes_on(tmp_path):
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    out.mkdir()
    long_name = "é" * 10 + "b" * 230 + ".jpg"  # 254 bytes in UTF-8: "<stem> (1).jpg" would not fit
    shutil.copy(grace_hopper_path(), inputs / long_name)
    shutil.copy(grace_hopper_path(), inputs / "zz-after.jpg")
    (out / long_name).write_bytes(b"someone else's file")
    proc = run_cli("synthesize", "--expression", "smile", "--quiet", "-o", out, inputs)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    assert "wrote 2 of 2 input(s)" in proc.stdout
    assert (out / long_name).read_bytes() == b"someone else's file"
    (written,) = [p for p in out.iterdir() if p.name.endswith(" (1).jpg")]
    assert len(written.name.encode()) <= 255 and written.name.startswith("é" * 10 + "b" * 200)
    assert (out / "zz-after.jpg").is_file()
