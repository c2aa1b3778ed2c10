"""Measuring the face editor: is what is asked what the landmarker measures, and does a copy copy?

For each face (the source photos of held-out subjects):

* **single-key requests** (:data:`REQUESTS`: each key at 0.25 and 0.5): the closed-loop error, the mean
  absolute difference between the asked and the measured score of the asked keys, and the *drift*, the
  mean absolute change of the keys not asked for;
* **presets**: the same error over every key the preset asks (its action units, the others at rest);
* **reference copy**: the face given the expression of another subject's target photo (the next subject's,
  so never the same person); the distance of the output's 52-blendshape profile from the reference's,
  over the input's.

Errors and drift are over the keys the landmarker measures on the rig's shapes
(:meth:`~mr_core.face.rig.ExpressionRig.measurable`); the others (frown, sneer, cheek raise, wide eyes,
...) are shown by the rig but hardly seen by the landmarker, and are listed apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import FaceError, MRError
from ..face import align_photo
from ..face.landmarks import shared_landmarker
from ..face.rig import BLENDSHAPES, load_rig
from ..methods.face_editor import PRESETS, FaceEditor

#: The crop size faces are measured and edited at (the shipped models').
CROP_SIZE = (256, 256)

__all__ = ["REQUESTS", "EditorReport", "editor_contact_sheet", "evaluate_editor"]

#: The single-key requests: (key, value); a name without Left/Right asks both sides.
REQUESTS = tuple(
    (key, value)
    for key in (
        "jawOpen", "mouthSmile", "eyeBlink", "browInnerUp", "browOuterUp", "mouthPucker", "mouthFunnel",
        "mouthUpperUp", "mouthStretch", "eyeSquint", "browDown",
    )
    for value in (0.25, 0.5)
)  # fmt: skip


@dataclass
class EditorReport:
    """Per face and in all: see the module.  ``sheet``: (face name, input crop, preset crops)."""

    faces: list[str] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)
    presets: list[dict] = field(default_factory=list)
    references: list[dict] = field(default_factory=list)
    sheet: list[tuple[str, np.ndarray, list[np.ndarray]]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def summary(self) -> dict:
        def mean(rows, key):
            vals = [r[key] for r in rows if r.get(key) is not None]
            return float(np.mean(vals)) if vals else None

        per_preset = {
            name: {"error": mean(rows, "error"), "drift": mean(rows, "drift")}
            for name in PRESETS
            if (rows := [r for r in self.presets if r["preset"] == name])
        }
        per_key = {}
        for r in self.requests:
            per_key.setdefault(r["key"], []).append(r["error"])
        rig = load_rig()
        return {
            "faces": len(self.faces),
            "requests": {
                "error": mean(self.requests, "error"),
                "drift": mean(self.requests, "drift"),
                "error_by_key": {k: float(np.mean(v)) for k, v in per_key.items()},
            },
            "presets": per_preset,
            "reference": {
                "profile_ratio": mean(self.references, "ratio"),
                "profile_ratio_measured_keys": mean(self.references, "ratio_measured"),
            },
            "not_measured": [k for k in BLENDSHAPES if rig.supported(k) and not rig.measurable(k)],
            "failed": len(self.failures),
        }


def _scores(crop: np.ndarray) -> dict[str, float] | None:
    found = shared_landmarker(blendshapes=True).analyze(crop)
    return None if found is None else found.blendshapes


@dataclass
class _Face:
    name: str
    crop: np.ndarray
    analysis: object


def _prepare(image, name: str) -> _Face:
    crop = align_photo(image, CROP_SIZE, name=name)
    found = shared_landmarker(blendshapes=True).analyze(crop)
    if found is None:
        raise FaceError(f"{name}: no clear face to measure")
    return _Face(name, crop, found)


def _edited(editor, face: _Face) -> np.ndarray:
    out, _, _ = editor.edit(face.crop[None].astype(np.float32) / 255.0, 1.0, poses=[face.analysis])
    return np.rint(np.clip(out[0], 0.0, 1.0) * 255.0).astype(np.uint8)


def _dist(scores: dict, ref: dict, keys) -> float:
    return float(np.linalg.norm([scores[k] - ref[k] for k in keys]))


def _measure(
    editor, prep, before: dict, measured: list[str], row: dict, failures: list[str]
) -> np.ndarray | None:
    """Edit the prepared face, measure it and fill ``row`` (error, drift, measured); the edited crop."""
    crop = _edited(editor, prep)
    after = _scores(crop)
    if after is None:
        failures.append(f"{prep.name}: no face measured after {row}")
        return None
    asked = {k: v for k, v in editor.asked().items() if k in measured}
    row["error"] = float(np.mean([abs(after[k] - v) for k, v in asked.items()])) if asked else None
    rest = [k for k in measured if k not in asked]
    row["drift"] = float(np.mean([abs(after[k] - before[k]) for k in rest])) if rest else None
    row["measured"] = {k: round(float(after[k]), 3) for k in asked}
    return crop


def evaluate_editor(
    sources, references=None, *, mouth_model=None, refine: int = 1, requests=REQUESTS
) -> EditorReport:
    """Measure the editor on ``sources`` ((name, image) pairs) and, when given, copy ``references`` (one
    image per source, e.g. another subject's smiling photo) onto them."""
    rig = load_rig()
    measured = [k for k in BLENDSHAPES if rig.supported(k) and rig.measurable(k)]
    report = EditorReport()
    for i, (name, image) in enumerate(sources):
        try:
            prep = _prepare(image, name)
        except MRError as exc:  # a face that cannot be prepared is reported, the rest go on
            report.failures.append(str(exc))
            continue
        before = prep.analysis.blendshapes
        report.faces.append(name)
        for key, value in requests:
            row = {"face": name, "key": key, "value": value}
            editor = FaceEditor(targets={key: value}, mouth_model=mouth_model, refine=refine)
            if _measure(editor, prep, before, measured, row, report.failures) is not None:
                report.requests.append(row)
        crops = []
        for preset in PRESETS:
            row = {"face": name, "preset": preset}
            editor = FaceEditor(preset=preset, mouth_model=mouth_model, refine=refine)
            crop = _measure(editor, prep, before, measured, row, report.failures)
            if crop is not None:
                report.presets.append(row)
                crops.append(crop)
        report.sheet.append((name, prep.crop, crops))
        if references is not None:
            try:
                ref = _prepare(references[i], f"{name} (reference)").analysis.blendshapes
            except MRError as exc:
                report.failures.append(str(exc))
                continue
            out = _scores(_edited(FaceEditor(reference=ref, mouth_model=mouth_model, refine=refine), prep))
            if out is None:
                continue
            keys = [k for k in BLENDSHAPES if k in ref]

            d_in = _dist(before, ref, keys)
            report.references.append({
                "face": name,
                "ratio": _dist(out, ref, keys) / d_in if d_in > 1e-6 else None,
                "ratio_measured": _dist(out, ref, measured) / max(_dist(before, ref, measured), 1e-6),
            })  # fmt: skip
    return report


def editor_contact_sheet(report: EditorReport) -> np.ndarray:
    """Rows of faces: the input, then every preset (in :data:`PRESETS` order), at the crops' resolution."""
    rows = []
    for _, crop, crops in report.sheet:
        tiles = [crop] + list(crops) + [np.zeros_like(crop)] * (len(PRESETS) - len(crops))
        rows.append(np.hstack(tiles))
    return np.vstack(rows) if rows else np.zeros((1, 1, 3), np.uint8)
