"""Pairing two lists of files by name (mr_core.data.pair_files: the Train tab's uploads use it)."""

from __future__ import annotations

import pytest

from mr_core.data import pair_files
from mr_core.errors import DataError


def _files(folder, names, content=None):
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in names:
        p = folder / n
        p.write_bytes(content if content is not None else n.encode())
        paths.append(p)
    return paths


def test_pairs_by_name_in_any_case_and_says_why_the_others_are_left_out(tmp_path):
    before = _files(tmp_path / "a", ["Anna.jpg", "ben.jpg", "cleo.jpg"])
    before += _files(tmp_path / "a2", ["anna.png"], content=b"Anna.jpg")  # the same photo again
    before += _files(tmp_path / "a3", ["BEN.jpg"])  # another photo of that name
    after = _files(tmp_path / "b", ["anna.png", "ben.jpg", "dan.jpg"])
    pairs, left = pair_files(before, after)
    assert [(p.name, p.source.name, p.target.name) for p in pairs] == [
        ("Anna", "Anna.jpg", "anna.png"),
        ("ben", "ben.jpg", "ben.jpg"),
    ]
    reasons = {f"{f.path.parent.name}/{f.path.name}": f.reason for f in left}
    assert reasons == {
        "a2/anna.png": "the same photo as Anna.jpg, given twice in the 'before' photos",
        "a3/BEN.jpg": "another 'before' photo is also called 'BEN' (ben.jpg); only that one is used",
        "a/cleo.jpg": "no 'after' photo of the same file name",
        "b/dan.jpg": "no 'before' photo of the same file name",
    }


def test_no_pair_at_all_is_one_sentence(tmp_path):
    with pytest.raises(
        DataError, match=r"none of the 1 'before' photos has an 'after' photo .*e\.g\. x\.jpg"
    ):
        pair_files(_files(tmp_path / "a", ["x.jpg"]), _files(tmp_path / "b", ["y.jpg"]))
