"""The contract every registered method keeps: declared once on its class, it goes through
fit -> save -> load -> edit -> the command line's ``synthesize`` and ``test`` with no code that knows
its name."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import run_cli
from PIL import Image

from mr_core.errors import ModelFileError
from mr_core.face import DEFAULT_TEMPLATE, FaceDetector, align_photo
from mr_core.face.landmarks import Landmarker
from mr_core.methods import Method, edit_crops, get_method, load_model, method_names, method_of, read_metadata
from mr_core.training import new_model

N_PAIRS = 6


@pytest.fixture(scope="module")
def detector():
    with FaceDetector() as det:
        yield det


def _pairs(london, cls, detector):
    names = sorted(p.name for p in (london / "neutral").glob("*.jpg"))[:N_PAIRS]
    X = np.stack([align_photo(london / "neutral" / n, size=cls.crop_size, detector=detector) for n in names])
    Y = np.stack([align_photo(london / "smiling" / n, size=cls.crop_size, detector=detector) for n in names])
    return names, X, Y


@pytest.mark.parametrize("name", method_names())
def test_every_method_declares_itself(name):
    cls = get_method(name)
    assert issubclass(cls, Method) and cls.name == name
    assert cls.label and cls.description
    assert len(cls.crop_size) == 2 and set(cls.channels) <= {1, 3}
    defaults = cls.param_defaults()
    model = cls(**defaults)
    assert model.get_params() == defaults  # __init__ stores its arguments, nothing else
    assert repr(model) == f"{cls.__name__}()"  # only what differs from the defaults is shown
    with pytest.raises(Exception, match="has no parameter 'no_such_parameter'"):
        model.set_params(no_such_parameter=1)


@pytest.mark.slow
@pytest.mark.parametrize("name", method_names())
def test_every_method_fits_saves_loads_edits_and_runs_in_the_cli(name, london, detector, tmp_path):
    cls = get_method(name)
    if not cls.trained_from_pairs:
        pytest.skip(f"{name} is configured, not trained from pairs")
    names, X, Y = _pairs(london, cls, detector)
    S = T = None
    if cls.trains_on_landmarks or cls.needs_landmarks:
        with Landmarker() as marker:
            S = np.stack([marker.analyze(x).landmarks for x in X])
            T = np.stack([marker.analyze(y).landmarks for y in Y])
    model = new_model(
        name, source="neutral", target="smiling", template=DEFAULT_TEMPLATE, training_set="test"
    )
    assert model.fit(X / 255.0, Y / 255.0, S, T) is model
    assert method_of(model) is cls and model.is_fitted()
    assert tuple(model.image_size_) == tuple(cls.crop_size)

    path = tmp_path / f"{name}.safetensors"
    model.save(path)
    assert read_metadata(path)["method"] == name
    loaded = load_model(path)
    assert type(loaded) is cls and type(cls.load(path)) is cls
    for other in set(method_names()) - {name}:
        with pytest.raises(ModelFileError, match=f"a {name} model, not a {other} one"):
            get_method(other).load(path)
    given = {k: v for k, v in model.get_params().items() if v is not None}  # None: chosen in fit
    assert {k: loaded.get_params()[k] for k in given} == given

    marks = list(S) if cls.needs_landmarks else None
    fitted, reloaded = (edit_crops(m, X, 1.0, landmarks=marks) for m in (model, loaded))
    np.testing.assert_array_equal(fitted.crops, reloaded.crops)  # the file holds the whole model
    assert np.abs(fitted.crops.astype(int) - X).mean() > 0.5  # the faces changed
    unchanged = edit_crops(loaded, X, 0.0, landmarks=marks).crops
    assert np.abs(unchanged.astype(int) - X).max() <= 1  # intensity 0 leaves them as they are

    photo = tmp_path / "photo.jpg"
    shutil.copyfile(london / "neutral" / names[0], photo)
    proc = run_cli("synthesize", "--model", path, "--quiet", "-o", tmp_path / "out", photo)
    assert proc.returncode == 0, proc.stderr
    out = np.asarray(Image.open(tmp_path / "out" / "photo.jpg"), dtype=int)
    assert np.abs(out - np.asarray(Image.open(photo), dtype=int)).mean() > 0.05

    for folder, crops in (("a", X), ("b", Y)):
        (tmp_path / folder).mkdir()
        for n, crop in zip(names, crops, strict=True):
            Image.fromarray(crop).save(tmp_path / folder / n.replace(".jpg", ".png"))
    proc = run_cli(
        "test", "--model", path, "--source-dir", tmp_path / "a", "--target-dir", tmp_path / "b",
        "--test_results_dir", tmp_path / "results",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "results").rglob("*.png"))) >= len(names)


def test_the_shipped_method_is_found_where_the_methods_are():
    """The shipped models' class is exported beside the others, at the top and in mr_core.methods."""
    import mr_core
    from mr_core import methods
    from mr_core.core.modelfile import resolve_model

    assert mr_core.MeshRegressionModel is methods.MeshRegressionModel is mr_core.get_method("mesh-mr")
    assert type(mr_core.load_model(resolve_model(expression="smile"))) is mr_core.MeshRegressionModel
