"""An evaluation's summary (:func:`summarize`), its JSON report and its contact sheet of crops."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..atomic import atomic_write_bytes
from ..errors import DataError, InvalidParameterError
from ..methods import Method, method_of
from .evaluate import (
    METRICS,
    MIN_KEY_CHANGE,
    MIN_REAL_CHANGE,
    PROFILE_KEYS,
    PairResult,
    as_rgb,
    change_fraction,
    json_number,
    score_expression,
)


def summarize(results: Sequence[PairResult]) -> dict:
    """Mean of each metric over the pairs where it is defined, counts and the aggregate fraction."""
    good = [r for r in results if r.ok]
    summary: dict = {"pairs": len(results), "evaluated": len(good), "failed": len(results) - len(good)}
    for key in METRICS:
        values = [float(getattr(r, key)) for r in good if getattr(r, key) is not None]
        values = [v for v in values if math.isfinite(v)]
        summary[key] = float(np.mean(values)) if values else None
        summary[f"{key}_n"] = len(values)
    scored = [r for r in good if None not in (r.score_input, r.score_output, r.score_target)]
    agg = None
    if scored:
        s_in = float(np.mean([r.score_input for r in scored]))
        s_out = float(np.mean([r.score_output for r in scored]))
        s_tgt = float(np.mean([r.score_target for r in scored]))
        if abs(s_tgt - s_in) >= MIN_REAL_CHANGE:
            agg = (s_out - s_in) / (s_tgt - s_in)
    summary["fraction_aggregate"] = agg
    ratios = [r.profile_ratio for r in good if r.profile_ratio is not None]
    summary["profile_ratio_median"] = float(np.median(ratios)) if ratios else None
    changes = {}
    for key in PROFILE_KEYS:
        rows = [r.changes[key] for r in good if key in r.changes]
        if not rows:
            continue
        means = {k: float(np.mean([row[k] for row in rows])) for k in ("input", "output", "target")}
        means["fraction"] = change_fraction(means["input"], means["output"], means["target"], MIN_KEY_CHANGE)
        changes[key] = means
    summary["changes"] = changes
    return summary


def build_report(
    results: Sequence[PairResult], *, model_info: dict | None = None, settings: dict | None = None
) -> dict:
    """The JSON-ready report: settings, model description, per-pair metrics and the summary."""
    return {
        "model": dict(model_info or {}),
        "settings": dict(settings or {}),
        "metrics": {
            "psnr": "PSNR (dB) of the output against the real target crop",
            "ssim": "SSIM of the output against the real target crop",
            "score_input": "expression score of the input crop (FaceLandmarker blendshapes)",
            "score_output": "expression score of the output crop",
            "score_target": "expression score of the real target crop",
            "fraction": "(score_output - score_input) / (score_target - score_input); "
            f"null when the real change is below {MIN_REAL_CHANGE}",
            "profile_ratio": "distance of the output's 52 blendshape scores to the real target's / "
            "that of the input's (0 = the real expression, 1 = no closer than the input)",
            "changes": "per key blendshape: input, output and real target scores and the fraction of "
            f"the real change (null when the real change is below {MIN_KEY_CHANGE})",
            "eye_ssim": "SSIM of the output against the input over the eyes and eyebrows",
            "sharpness": "variance of the Laplacian of the output / that of the input (gray)",
        },
        "pairs": [r.as_dict() for r in results],
        "summary": summarize(results),
    }


def model_description(model, path: str | os.PathLike | None = None) -> dict:
    """A few facts about a model for the report: method, expressions, settings, template and size.

    Models of a method add their method's own settings (``Method.facts``: e.g. ``shape_lam`` and
    ``open_only`` for mesh + MR).
    """
    info = {
        "path": str(path) if path is not None else None,
        "method": method_of(model).name,
        "source": getattr(model, "source", None),
        "target": getattr(model, "target", None),
        "receptive_field": getattr(model, "receptive_field", None),
        "lam": getattr(model, "lam", None),
        "scaling": getattr(model, "scaling", None),
        "template": getattr(model, "template", None),
        "image_size": list(model.image_size_),
        "channels": int(model.channels_),
        "score_expression": score_expression(model),
    }
    if isinstance(model, Method):
        info.update(model.facts())
    return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in info.items()}


def write_report(path: str | os.PathLike, report: dict) -> Path:
    """Write the report as JSON (atomic: temp file in the same folder, then ``os.replace``)."""
    path = Path(path)
    text = json.dumps(report, indent=2, allow_nan=False, default=json_number)
    try:
        atomic_write_bytes(path, (text + "\n").encode("utf-8"))
    except OSError as exc:
        raise DataError(f"{path}: cannot write the report ({exc.strerror})") from None
    return path


def contact_sheet(results: Sequence[PairResult], *, columns: int = 3, scale: int | None = None) -> np.ndarray:
    """An RGB uint8 image of ``input | output | target`` triplets, ``columns`` triplets a row,
    each labelled with its name and the output's expression score."""
    from PIL import Image, ImageDraw

    items = [r for r in results if r.crops is not None]
    if not items:
        raise InvalidParameterError("there are no evaluated pairs to put on a contact sheet")
    if columns < 1:
        raise InvalidParameterError(f"columns must be 1 or more, got {columns}")
    h, w = items[0].crops[0].shape[:2]
    if scale is None:
        scale = max(1, math.ceil(128 / max(h, w)))
    th, tw = h * scale, w * scale
    gap, label = 6, 16
    cols = min(columns, len(items))
    rows = math.ceil(len(items) / cols)
    cell_w = 3 * tw + 2 * 2
    sheet = Image.new(
        "RGB", (cols * cell_w + (cols + 1) * gap, label + rows * (th + label + gap) + gap), (255, 255, 255)
    )
    draw = ImageDraw.Draw(sheet)
    for c in range(cols):
        x0 = gap + c * (cell_w + gap)
        for k, text in enumerate(("input", "output", "target")):
            draw.text((x0 + k * (tw + 2) + 2, 2), text, fill=(0, 0, 0))
    for i, r in enumerate(items):
        row, col = divmod(i, cols)
        x0 = gap + col * (cell_w + gap)
        y0 = label + row * (th + label + gap)
        for k, crop in enumerate(r.crops):
            tile = Image.fromarray(as_rgb(np.asarray(crop, dtype=np.uint8)))
            if scale != 1:
                tile = tile.resize((tw, th), Image.NEAREST)
            sheet.paste(tile, (x0 + k * (tw + 2), y0))
        caption = r.name
        for key, value in (("in", r.score_input), ("out", r.score_output), ("real", r.score_target)):
            if value is not None:
                caption += f"  {key} {value:.2f}"
        draw.text((x0 + 2, y0 + th + 2), caption, fill=(0, 0, 0))
    return np.asarray(sheet)


def write_contact_sheet(path: str | os.PathLike, results: Sequence[PairResult], **kwargs) -> Path:
    """Write :func:`contact_sheet` as a PNG (atomic)."""
    import io

    from PIL import Image

    path = Path(path)
    buf = io.BytesIO()
    Image.fromarray(contact_sheet(results, **kwargs)).save(buf, format="PNG")
    try:
        atomic_write_bytes(path, buf.getvalue())
    except OSError as exc:
        raise DataError(f"{path}: cannot write the contact sheet ({exc.strerror})") from None
    return path

