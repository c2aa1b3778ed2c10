"""Model files: round trip, metadata, validation of corrupt/truncated/mismatched files, atomic writes."""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from safetensors.numpy import save

from mr_core import MaskedRegression, load_model, read_metadata, resolve_model, shipped_models
from mr_core.errors import ModelFileError, NotFittedError


@pytest.fixture
def fitted():
    rng = np.random.default_rng(0)
    X, Y = rng.random((10, 8, 6, 3)), rng.random((10, 8, 6, 3))
    m = MaskedRegression(
        receptive_field=5, lam=0.25, dtype="float32", source="neutral", target="smiling",
        template="tmpl-v1", training_set="10 random pairs", scaling="minmax",
    ).fit(X, Y)  # fmt: skip
    return m, X


def test_round_trip_keeps_predictions_and_metadata(tmp_path, fitted):
    m, X = fitted
    path = tmp_path / "sub" / "model.safetensors"
    m.save(path)
    loaded = MaskedRegression.load(path)
    np.testing.assert_array_equal(loaded.predict(X), m.predict(X))
    for attr in (
        "receptive_field",
        "lam",
        "dtype",
        "source",
        "target",
        "template",
        "training_set",
        "scaling",
    ):
        assert getattr(loaded, attr) == getattr(m, attr), attr
    assert loaded.image_size_ == (8, 6) and loaded.channels_ == 3 and loaded.n_pairs_ == 10
    meta = read_metadata(path)
    assert meta["format"] == "mr-expression" and meta["format_version"] == "1"
    assert meta["image_height"] == "8" and meta["template"] == "tmpl-v1"
    assert [p.name for p in path.parent.iterdir()] == ["model.safetensors"]  # no temp file left


def test_overwrite_is_atomic_and_unfitted_refused(tmp_path, fitted):
    m, _ = fitted
    path = tmp_path / "model.safetensors"
    m.save(path)
    m.save(path)
    assert len(list(tmp_path.iterdir())) == 1
    with pytest.raises(NotFittedError):
        MaskedRegression().save(tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()


def _rewrite(path, tensors=None, **meta_changes):
    from safetensors.numpy import load

    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    meta = json.loads(data[8 : 8 + n])["__metadata__"]
    meta.update(meta_changes)
    meta = {k: v for k, v in meta.items() if v is not None}
    path.write_bytes(save(tensors or load(data), metadata=meta))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: p.write_bytes(p.read_bytes()[:-100]), "corrupt or truncated"),
        (lambda p: p.write_bytes(p.read_bytes()[:40]), "truncated"),
        (lambda p: p.write_bytes(b""), "not a model file"),
        (lambda p: p.write_bytes(b"PK\x03\x04 a zip file, not a model"), "not a model file"),
        (lambda p: _rewrite(p, format="something-else"), "not an MR model file"),
        (lambda p: _rewrite(p, format_version="99"), "format version 99 is not supported"),
        (lambda p: _rewrite(p, receptive_field="4"), "receptive_field must be odd"),
        (lambda p: _rewrite(p, receptive_field="3"), "do not match the metadata"),
        (lambda p: _rewrite(p, image_height="9"), "do not match the metadata"),
        (lambda p: _rewrite(p, lam="0"), "lam must be a number > 0"),
        (lambda p: _rewrite(p, dtype="float64"), "metadata says float64"),
        (lambda p: _rewrite(p, scaling="zscore"), "scaling must be one of"),
        (lambda p: _rewrite(p, channels="2"), "channels must be 1 or 3"),
        (lambda p: _rewrite(p, template=None), "lacks template"),
        (
            lambda p: _rewrite(
                p,
                {
                    "weights": np.full((25, 8, 6, 3), np.nan, np.float32),
                    "bias": np.zeros((8, 6, 3), np.float32),
                },
            ),
            "NaN",
        ),
    ],
)
def test_damaged_files_are_refused_with_one_sentence(tmp_path, fitted, damage, message):
    m, _ = fitted
    path = tmp_path / "model.safetensors"
    m.save(path)
    damage(path)
    with pytest.raises(ModelFileError, match=message) as info:
        load_model(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def _rewrite_raw(path, **meta_changes):
    """Change metadata values in the JSON header itself (any JSON value, not only strings)."""
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    header["__metadata__"].update(meta_changes)
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("receptive_field", None),
        ("lam", [0.4]),
        ("format_version", 1),
        ("image_height", 8),
        ("template", 5),
        ("scaling", {"unit": True}),
        ("dtype", None),
        ("format", None),
        ("method", False),
        ("extra", 1.5),
    ],
)
def test_metadata_values_that_are_not_strings_are_refused(tmp_path, fitted, key, value):
    m, _ = fitted
    path = tmp_path / "model.safetensors"
    m.save(path)
    _rewrite_raw(path, **{key: value})
    for read in (read_metadata, load_model):
        with pytest.raises(ModelFileError, match=f"metadata {key} must be a string") as info:
            read(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_format_version_1_for_plain_files_and_reader_takes_1_to_4(tmp_path, fitted):
    m, X = fitted
    path = tmp_path / "model.safetensors"
    m.save(path)
    assert read_metadata(path)["format_version"] == "1"
    _rewrite(path, format_version="2")
    np.testing.assert_array_equal(load_model(path).predict(X), m.predict(X))
    _rewrite(path, format_version="3")
    np.testing.assert_array_equal(load_model(path).predict(X), m.predict(X))
    _rewrite(path, format_version="4")
    np.testing.assert_array_equal(load_model(path).predict(X), m.predict(X))
    _rewrite(path, format_version="5")
    with pytest.raises(ModelFileError, match="format version 5 is not supported .this version reads 1 to 4"):
        load_model(path)
    _rewrite(path, format_version="0")
    with pytest.raises(ModelFileError, match="format version 0 is not supported"):
        load_model(path)


def test_writing_to_a_folder_or_under_a_file_is_one_sentence(tmp_path, fitted):
    m, _ = fitted
    with pytest.raises(ModelFileError, match="is a folder; give a model file name") as info:
        m.save(tmp_path)
    assert str(info.value).startswith(f"{tmp_path}: ")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for target in (blocker / "m.safetensors", blocker / "sub" / "m.safetensors"):
        with pytest.raises(ModelFileError) as info:
            m.save(target)
        assert str(info.value) == f"{target}: cannot write the model file ({blocker} is a file, not a folder)"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ModelFileError, match="model file not found"):
        load_model(tmp_path / "nope.safetensors")
    with pytest.raises(ModelFileError, match="is a folder"):
        load_model(tmp_path)


def test_resolve_model_names_the_shipped_choices(tmp_path, fitted):
    with pytest.raises(ModelFileError, match="unknown expression 'grimace'; shipped models: "):
        resolve_model(expression="grimace")
    m, _ = fitted
    m.save(tmp_path / "wink.safetensors")
    assert shipped_models(tmp_path) == {"wink": tmp_path / "wink.safetensors"}
    assert resolve_model(path=tmp_path / "wink.safetensors") == tmp_path / "wink.safetensors"


def test_a_huge_metadata_value_is_cut_in_the_message(tmp_path, fitted):
    m, _ = fitted
    path = tmp_path / "model.safetensors"
    m.save(path)
    for key in ("lam", "dtype", "method"):
        m.save(path)
        _rewrite(path, **{key: "9" * 100_000 + "x"})
        with pytest.raises(ModelFileError, match=key) as info:
            load_model(path)
        assert len(str(info.value)) < 500


def _append_declared_tensor(path, nbytes):
    """Declare an extra tensor of ``nbytes`` in the header without writing its data (a crafted size)."""
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    end = max(v["data_offsets"][1] for k, v in header.items() if k != "__metadata__")
    header["huge"] = {"dtype": "U8", "shape": [nbytes], "data_offsets": [end, end + nbytes]}
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n :])


def test_file_size_is_checked_against_the_header_before_reading(tmp_path, fitted, monkeypatch):
    """A header declaring 3 GiB is refused from the header alone; the tensors are never read."""
    from pathlib import Path

    m, _ = fitted
    path = tmp_path / "model.safetensors"
    m.save(path)
    _append_declared_tensor(path, 3 << 30)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail(f"read whole {self}"))
    with pytest.raises(ModelFileError, match="its header declares") as info:
        load_model(path)
    assert str(path) in str(info.value)


def test_a_huge_file_is_not_read_whole_when_its_header_is_wrong(tmp_path, fitted, monkeypatch):
    from pathlib import Path

    m, _ = fitted
    path = tmp_path / "model.safetensors"
    m.save(path)
    with path.open("r+b") as fh:  # a sparse 3 GiB file: the model followed by zeros
        fh.truncate(3 << 30)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail(f"read whole {self}"))
    with pytest.raises(ModelFileError, match="corrupt or truncated"):
        load_model(path)
    from mr_core.methods import read_metadata

    with pytest.raises(ModelFileError, match="corrupt or truncated"):
        read_metadata(path)
