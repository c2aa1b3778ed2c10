"""``python -m mr_core evaluate``: measure a model on paired source/target photos.

Example (the London test subjects, the shipped smile model, which saw them in training; the model
card's test figures come from models trained with ``--exclude-file models/split_test.txt``)::

    python -m mr_core evaluate --expression smile \\
        --source-dir ../shared/data/london/neutral --target-dir ../shared/data/london/smiling \\
        --pairs-file models/split_test.txt -o runs/eval-smile

prints a table (one line per pair and the mean) and writes ``report.json`` and
``contact_sheet.png`` (input | output | target) to the output folder.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from ..data import read_name_list
from ..errors import DataError
from .common import check_model_size, make_output_dir

_COLUMNS = (
    ("psnr", "PSNR", "{:6.2f}"),
    ("ssim", "SSIM", "{:5.3f}"),
    ("score_input", "in", "{:5.3f}"),
    ("score_output", "out", "{:5.3f}"),
    ("score_target", "real", "{:5.3f}"),
    ("fraction", "frac", "{:5.2f}"),
    ("profile_ratio", "profile", "{:5.2f}"),
    ("eye_ssim", "eyeSSIM", "{:5.3f}"),
    ("sharpness", "sharp", "{:5.3f}"),
)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="measure a model on paired source/target photos (PSNR, SSIM, expression strength, ...)",
        description="Align paired source/target photos (paired by identical file name stem), predict the "
        "target expression from each source and report PSNR/SSIM against the real target, the "
        "expression strength (MediaPipe FaceLandmarker blendshapes) of input, output and target, "
        "the fraction of the real change achieved, eye-region similarity to the input and "
        "sharpness relative to the input. Writes OUTDIR/report.json and OUTDIR/contact_sheet.png.",
        epilog="Pairs that fail (unreadable photo, no face, missing partner) are reported on stderr and the "
        "rest evaluated; the exit status is then 1 (0 when every pair was evaluated).",
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", metavar="FILE", help="model file (.safetensors)")
    which.add_argument("--expression", metavar="NAME", help="a shipped model by name, e.g. smile or neutral")
    which.add_argument(
        "--editor",
        action="store_true",
        help="measure the face editor: on each source face, single-key requests and every preset (asked "
        "against measured scores, drift of the keys not asked) and a copy of the next subject's target "
        "photo (profile distance to it); writes report.json and editor_sheet.png (input, then each preset)",
    )
    p.add_argument("--source-dir", required=True, metavar="DIR", help="folder of source photos (model input)")
    p.add_argument("--target-dir", required=True, metavar="DIR", help="folder of real target photos")
    subset = p.add_mutually_exclusive_group()
    subset.add_argument(
        "--pairs-file",
        metavar="FILE",
        help="text file of subject names (file name stems), one a line, # comments",
    )
    subset.add_argument("--subjects", nargs="+", metavar="NAME", help="subject names (file name stems)")
    p.add_argument(
        "--crops",
        action="store_true",
        help="the photos already are aligned crops: skip face alignment (resized to the model "
        "size when only the scale differs)",
    )
    p.add_argument("--backend", default="numpy", help="compute backend (default: numpy)")
    p.add_argument(
        "--columns",
        type=int,
        default=3,
        metavar="N",
        help="input|output|target triplets per row of the contact sheet (default: 3)",
    )
    p.add_argument(
        "-o",
        "--output-dir",
        required=True,
        metavar="OUTDIR",
        help="folder for report.json and contact_sheet.png (created)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _fmt(value, spec: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        width = len(spec.format(0.0))
        return "-".rjust(width)
    return spec.format(value)


def format_table(results, summary: dict) -> str:
    """The per-pair table with the mean line (plain text)."""
    name_w = max([len("pair"), len("mean")] + [len(r.name) for r in results])
    cols = [(key, spec, max(len(head), len(spec.format(0.0))), head) for key, head, spec in _COLUMNS]

    def line(name: str, get) -> str:
        return "  ".join([name.ljust(name_w)] + [_fmt(get(key), spec).rjust(w) for key, spec, w, _ in cols])

    lines = ["  ".join(["pair".ljust(name_w)] + [head.rjust(w) for _, _, w, head in cols])]
    for r in results:
        if r.ok:
            lines.append(line(r.name, lambda key, r=r: getattr(r, key)))
        else:
            lines.append(f"{r.name.ljust(name_w)}  failed: {r.error}")
    lines.append("-" * len(lines[0]))
    lines.append(line("mean", summary.get))
    return "\n".join(lines)


def run(args) -> int:
    from tqdm import tqdm

    from ..core.modelfile import resolve_model
    from ..evaluation import evaluate as ev
    from ..evaluation import report as summary_report
    from ..methods import load_model

    if args.columns < 1:
        raise DataError(f"--columns must be 1 or more, got {args.columns}")
    if args.editor:
        return run_editor(args)
    path = resolve_model(expression=args.expression, path=args.model)
    model = load_model(path, backend=args.backend)
    if not args.crops:  # given crops are used at the model's size, whatever it is
        check_model_size(model, path)
    if args.pairs_file is not None:
        subjects = read_name_list(args.pairs_file)
    else:
        subjects = args.subjects
    pairs = ev.find_pairs(args.source_dir, args.target_dir, subjects)
    out_dir = make_output_dir(Path(args.output_dir))  # before the long run: a bad folder is found now

    results = []
    progress = tqdm(
        total=len(pairs), desc="evaluate", unit="pair", disable=args.quiet, file=sys.stderr, leave=False
    )
    try:
        for res in ev.iter_evaluate(model, pairs, crops=args.crops):
            results.append(res)
            progress.update(1)
    finally:
        progress.close()
    for r in results:
        if not r.ok:
            print(f"{r.name}: {r.error}", file=sys.stderr)
        for note in r.notes:
            print(f"{r.name}: {note}", file=sys.stderr)

    settings = {
        "source_dir": str(args.source_dir),
        "target_dir": str(args.target_dir),
        "pairs_file": str(args.pairs_file) if args.pairs_file else None,
        "subjects": [p.name for p in pairs],
        "crops": bool(args.crops),
        "backend": args.backend,
    }
    report = summary_report.build_report(results, model_info=summary_report.model_description(model, path), settings=settings)
    summary = report["summary"]
    print(format_table(results, summary))
    expr = ev.score_expression(model)
    if expr is not None:
        agg = summary.get("fraction_aggregate")
        print(
            f"expression score: {expr}; fraction of the real change (from the means): "
            f"{'-' if agg is None else f'{agg:.2f}'}"
        )
    given = f"from {args.pairs_file}" if args.pairs_file else ("given" if args.subjects else "found")
    print(f"subjects ({len(pairs)}, {given}): {', '.join(p.name for p in pairs)}")
    if summary.get("profile_ratio") is not None:
        print(
            f"blendshape profile: output-to-real distance / input-to-real distance = "
            f"{summary['profile_ratio']:.2f} (mean), {summary['profile_ratio_median']:.2f} (median)"
        )
    for key, c in summary.get("changes", {}).items():
        frac = "-" if c["fraction"] is None else f"{c['fraction']:.2f}"
        print(
            f"  {key:<13} input {c['input']:.3f}  output {c['output']:.3f}  real {c['target']:.3f}  "
            f"fraction of the real change {frac}"
        )
    report_path = summary_report.write_report(out_dir / "report.json", report)
    print(f"wrote {report_path}")
    if any(r.ok for r in results):
        sheet = summary_report.write_contact_sheet(out_dir / "contact_sheet.png", results, columns=args.columns)
        print(f"wrote {sheet}")
    n_failed = summary["failed"]
    if n_failed:
        print(f"{n_failed} of {len(results)} pairs failed", file=sys.stderr)
    return 0 if n_failed == 0 else 1


def run_editor(args) -> int:
    """``evaluate --editor``: the face editor's closed-loop figures (see :mod:`mr_core.evaluation.editor`)."""
    import json

    from ..core.modelfile import resolve_model
    from ..evaluation import evaluate as ev
    from ..evaluation.editor import editor_contact_sheet, evaluate_editor
    from ..imageio import read_image, write_image
    from ..methods import load_model

    subjects = read_name_list(args.pairs_file) if args.pairs_file is not None else args.subjects
    pairs = ev.find_pairs(args.source_dir, args.target_dir, subjects)
    out_dir = make_output_dir(Path(args.output_dir))
    sources = [(p.name, read_image(p.source)) for p in pairs]
    references = [read_image(pairs[(i + 1) % len(pairs)].target) for i in range(len(pairs))]
    report = evaluate_editor(sources, references, mouth_model=load_model(resolve_model(expression="smile")))
    for line in report.failures:
        print(line, file=sys.stderr)
    summary = report.summary()
    req = summary["requests"]
    print(f"faces: {summary['faces']} ({', '.join(report.faces)})")
    print(
        f"single-key requests: asked vs measured {req['error']:.3f} (mean abs), drift of the others {req['drift']:.3f}"
    )
    for key, err in req["error_by_key"].items():
        print(f"  {key:<13} {err:.3f}")
    print("presets (error over every key asked, drift of the others):")
    for name, r in summary["presets"].items():
        drift = "-" if r["drift"] is None else f"{r['drift']:.3f}"
        print(f"  {name:<10} {r['error']:.3f}  {drift}")
    ratio = summary["reference"]["profile_ratio"]
    if ratio is not None:
        print(f"reference copy: output-to-reference / input-to-reference profile distance {ratio:.2f} (52 keys), "
              f"{summary['reference']['profile_ratio_measured_keys']:.2f} (measured keys)")  # fmt: skip
    print(f"shown but hardly measured by the landmarker: {', '.join(summary['not_measured'])}")
    full = {
        "summary": summary,
        "requests": report.requests,
        "presets": report.presets,
        "references": report.references,
    }
    path = out_dir / "report.json"
    path.write_text(json.dumps(full, indent=1), encoding="utf-8")
    print(f"wrote {path}")
    sheet = write_image(out_dir / "editor_sheet.png", editor_contact_sheet(report), replace=True)
    print(f"wrote {sheet}")
    return 1 if report.failures else 0
