"""``python -m mr_core synthesize``: change the expression of the faces in photos and videos.

Example::

    python -m mr_core synthesize --expression smile --intensity 0.8 -o out/ photos/ me.jpg clip.mov

Every input (a file, or a folder whose images and videos are all taken) is written to
``OUTDIR/<same file name>`` (PNG when the input's type cannot be written; a video becomes
``OUTDIR/<stem>.mp4``, H.264, with a progress bar of its frames).  No existing file is ever replaced:
when that name is taken, the result is written as ``<name> (1).png`` and so on.  An input that
fails (unreadable, truncated, not an image, no face, too large) gets one line on stderr naming
it and the reason; the others are still written, and the exit status is 1.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tqdm import tqdm

from ..atomic import write_error_reason
from ..errors import InvalidParameterError, MRError
from ..imageio import IMAGE_SUFFIXES, WRITABLE_SUFFIXES, read_image, write_image
from ..methods.face_editor import PARTS, PRESETS
from ..synthesis import MAX_INTENSITY, VIDEO_SUFFIXES, check_model_template
from .common import check_model_size, make_output_dir, ranged

_intensity = ranged(float, 0.0, MAX_INTENSITY)
_min_face = ranged(float, 1.0)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "synthesize",
        help="change the expression of every face in photos and videos (detect, align, predict, paste back)",
        description="Detect and align every face in each photo, apply an expression model to the aligned "
        "crop at intensity A and put the result back into the photo (mesh + MR, the shipped models: each "
        "face's landmarks move by A times their predicted motion, the photo itself is warped with them, and "
        "new content such as teeth fades in up to A = 1; plain MR: output = x + A * (MR(x) - x); shape + "
        "texture: A times the learned motion plus A times the change of colour). "
        "Each output keeps its input's file name in OUTDIR; no existing file is ever overwritten (a taken "
        "name becomes '<name> (1).png', and so on). Videos ("
        + " ".join(VIDEO_SUFFIXES)
        + ") are edited frame by frame, faces followed and smoothed over time, and written as "
        "OUTDIR/<name>.mp4 (H.264; same size, frame rate and frame count; rotation and audio kept).",
        epilog="Inputs that fail (unreadable, truncated, not an image, no face, too large) are reported on "
        "stderr, one line each, and the rest are written; the exit status is then 1 (0 when every input "
        "was written).",
    )
    which = p.add_mutually_exclusive_group()
    which.add_argument("--expression", metavar="NAME", help="a shipped model, e.g. smile")
    which.add_argument("--model", metavar="FILE", help="a model file (.safetensors)")
    editor = p.add_argument_group(
        "face editor",
        "Any expression from one expression rig (ARKit-style blendshapes, from ICT-FaceKit): targets are "
        "the MediaPipe blendshape scores the output should measure, whatever the face shows now. Combine "
        "with --expression/--model to edit on top of a learned expression.",
    )
    editor.add_argument("--preset", metavar="NAME", help=f"a basic emotion: {', '.join(PRESETS)}")
    editor.add_argument(
        "--set",
        dest="targets",
        metavar="KEY=VALUE,...",
        help="blendshape targets in 0..1, e.g. jawOpen=0.5,browInnerUp=0.8; a name without Left/Right "
        "(mouthSmile, eyeBlink, browDown, ...) sets both sides",
    )
    editor.add_argument("--reference", metavar="PHOTO", help="copy the expression of this photo's face")
    editor.add_argument(
        "--parts", choices=PARTS, default="all", help="what of the reference to copy (default: all)"
    )
    editor.add_argument(
        "--refine",
        type=int,
        choices=(0, 1, 2, 3),
        default=1,
        help="closed-loop corrections per face in photos: measure the edited face and correct the "
        "weights (default 1; 0 is faster, about 15 ms less per face, and less exact; videos use 0)",
    )
    p.add_argument(
        "--intensity",
        type=_intensity,
        default=1.0,
        metavar="A",
        help=f"strength of the change in [0, {MAX_INTENSITY}]; 0 leaves the photo as it is (default 1)",
    )
    p.add_argument("--backend", default="numpy", help="compute backend (default: numpy)")
    p.add_argument("--largest-only", action="store_true", help="edit only the largest face of each photo")
    p.add_argument(
        "--min-face",
        type=_min_face,
        default=None,
        metavar="PX",
        help="skip faces whose eyes are closer than PX pixels (default 20)",
    )
    p.add_argument(
        "-o", "--output-dir", required=True, metavar="OUTDIR", help="folder for the results (created)"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "-r",
        "--recursive",
        action="store_true",
        help="also take the photos and videos in the folders' subfolders (each written to the same "
        "subfolder of OUTDIR)",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="photo or video files, or folders of them")
    p.set_defaults(func=run)


def _takes(p: Path) -> bool:
    return (
        p.is_file()
        and not p.name.startswith(".")
        and (p.suffix.lower() in IMAGE_SUFFIXES or p.suffix.lower() in VIDEO_SUFFIXES)
    )


def collect_inputs(inputs, recursive: bool = False, where: dict | None = None) -> list[Path]:
    """Files as given, folders expanded to their image and video files (sorted; their subfolders'
    too when ``recursive``, hidden ones left out), no repeats.  ``where``, when given, gets each
    file's subfolder (relative to the folder given) for those found in subfolders."""
    seen: set[str] = set()
    files: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            if recursive:
                found = sorted(
                    p
                    for p in path.rglob("*")
                    if _takes(p) and not any(part.startswith(".") for part in p.relative_to(path).parts)
                )
            else:
                found = sorted(p for p in path.iterdir() if _takes(p))
            if not found:
                deeper = not recursive and any(_takes(p) for p in path.rglob("*"))
                print(
                    f"warning: {path}: the folder holds no .jpg, .jpeg, .png, .webp, .bmp or video; nothing "
                    "taken from it" + ("; its subfolders do: add --recursive" if deeper else ""),
                    file=sys.stderr,
                )
            if where is not None:
                for p in found:
                    if p.parent != path:
                        where[os.path.normcase(os.path.abspath(p))] = p.parent.relative_to(path)
        else:
            found = [path]
        for f in found:
            key = os.path.normcase(os.path.abspath(f))
            if key not in seen:
                seen.add(key)
                files.append(f)
    return files


def output_path(input_path: Path, out_dir: Path) -> Path:
    """``OUTDIR/<input name>``; a type that cannot be written becomes ``<stem>.png``, a video ``<stem>.mp4``."""
    if is_video(input_path):
        return out_dir / f"{input_path.stem}.mp4"
    suffix = input_path.suffix if input_path.suffix.lower() in WRITABLE_SUFFIXES else ".png"
    return out_dir / f"{input_path.stem}{suffix}"


def _name_max(folder: Path) -> int:
    """The longest file name (bytes) the folder's file system takes (255 on the usual ones)."""
    try:
        return int(os.pathconf(folder if folder.is_dir() else ".", "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError):
        return 255


def _fitting(stem: str, tail: str, limit: int) -> str:
    """``stem + tail``, the stem shortened (whole characters) so that the name fits in ``limit`` bytes."""
    while stem and len(f"{stem}{tail}".encode("utf-8", "surrogateescape")) > limit:
        stem = stem[:-1]
    return f"{stem}{tail}"


def free_name(target: Path, claimed) -> Path:
    """``<stem> (N)<suffix>`` next to ``target``, with the smallest N naming neither an existing file nor
    an output of this run (``claimed``: normalised paths); the stem is shortened when the name would
    be longer than the file system takes."""
    n = 1
    limit = _name_max(target.parent)
    while True:
        candidate = target.with_name(_fitting(target.stem, f" ({n}){target.suffix}", limit))
        if not os.path.lexists(candidate) and os.path.normcase(os.path.abspath(candidate)) not in claimed:
            return candidate
        n += 1


def _faces(n: int) -> str:
    return f"{n} face" + ("" if n == 1 else "s")


def is_video(path: Path) -> bool:
    """A video by its file ending, or an animated GIF (edited as a clip, as the Video tab does)."""
    suffix = path.suffix.lower()
    if suffix == ".gif":
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(path) as im:
                return int(getattr(im, "n_frames", 1) or 1) > 1
        except (OSError, UnidentifiedImageError, ValueError):
            return False  # reading it as a photo will say what is wrong
    return suffix in VIDEO_SUFFIXES


def _same_file(a: Path, b: Path) -> bool:
    if os.path.normcase(os.path.abspath(a)) == os.path.normcase(os.path.abspath(b)):
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def run(args) -> int:
    from ..face import MIN_EYE_DISTANCE, FacePipeline

    min_eye = args.min_face if args.min_face is not None else MIN_EYE_DISTANCE
    with FacePipeline(min_eye_distance=min_eye) as pipeline:
        model = _model(args, pipeline)
        out_dir, files, subfolders = _inputs(args)
        return _synthesize_all(args, model, pipeline, out_dir, files, subfolders)


def _model(args, pipeline):
    """The model, or the face editor, that ``args`` ask for (notes on what the editor cannot do on stderr)."""
    from ..core.modelfile import resolve_model
    from ..methods import load_model
    from ..synthesis import editor_notes, make_editor, reference_scores

    edits = args.preset is not None or args.targets is not None or args.reference is not None
    if args.expression is None and args.model is None and not edits:
        raise InvalidParameterError(
            "say what to change: --expression NAME, --model FILE, or the face editor's --preset, --set or "
            "--reference"
        )
    model = None
    if args.expression is not None or args.model is not None:
        model_path = resolve_model(args.expression, args.model)
        model = load_model(model_path, backend=args.backend)
        check_model_size(model, model_path)  # (first: it names the model file)
        check_model_template(model, pipeline.template.name)
    reference = None
    if args.reference is not None:
        reference = reference_scores(read_image(args.reference), pipeline, name=args.reference)
    editor = make_editor(
        model,
        preset=args.preset,
        targets=args.targets,
        reference=reference,
        parts=args.parts,
        refine=args.refine,
    )
    for note in editor_notes(editor):
        print(f"note: {note}", file=sys.stderr)
    return editor if editor is not None else model


def _inputs(args) -> tuple[Path, list[Path], dict[str, Path]]:
    """(the output folder, made; the input files; the subfolder of each input found in a folder)."""
    out_dir = Path(args.output_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidParameterError(f"{out_dir}: the output folder is a file, not a folder")
    subfolders: dict[str, Path] = {}
    files = collect_inputs(args.inputs, args.recursive, subfolders)
    if not files:
        raise InvalidParameterError(
            "no input images or videos (the folders given hold no .jpg, .jpeg, .png, .webp, .bmp, "
            + ", ".join(VIDEO_SUFFIXES)
            + ")"
        )
    make_output_dir(out_dir)
    return out_dir, files, subfolders


def _synthesize_all(args, model, pipeline, out_dir: Path, files, subfolders) -> int:
    """Edit every input into ``out_dir``; one line per failure; the exit status."""
    failed = written = faces_changed = 0
    claimed: dict[str, Path] = {}
    input_keys = {os.path.normcase(os.path.abspath(f)) for f in files}
    with tqdm(
        total=len(files),
        desc="synthesize",
        unit="photo",
        file=sys.stderr,
        leave=False,
        disable=True if args.quiet or len(files) < 2 else None,
    ) as bar:

        def report(line: str) -> None:
            bar.write(line, file=sys.stderr)

        for path in files:
            sub = subfolders.get(os.path.normcase(os.path.abspath(path)))
            target = output_path(path, out_dir / sub if sub is not None else out_dir)
            base = target
            key = os.path.normcase(os.path.abspath(target))
            try:
                if key in input_keys or _same_file(target, path):
                    raise InvalidParameterError(
                        f"{path}: the output {target} would overwrite an input; choose another output folder"
                    )
                if sub is not None:
                    target.parent.mkdir(parents=True, exist_ok=True)
                if key in claimed or os.path.lexists(target):
                    target = free_name(base, claimed)

                def another_name(taken: Path, base=base) -> Path:
                    """The next free name when ``taken`` was created by someone else meanwhile."""
                    return free_name(base, claimed)

                if is_video(path):
                    line, target = _video(path, target, model, args, pipeline, bar, another_name)
                    report(line)
                else:
                    changed, target = _photo(path, target, model, args, pipeline, report, another_name)
                    faces_changed += changed
                claimed[os.path.normcase(os.path.abspath(target))] = path
                written += 1
                if target != base:
                    report(f"note: {base} already exists; the result of {path} is written to {target}")
            except MRError as exc:
                failed += 1
                report(str(exc))
            except MemoryError:
                failed += 1
                report(f"{path}: not enough memory to process this image")
            except OSError as exc:
                failed += 1
                report(f"{path}: cannot write {target} ({write_error_reason(target, exc)})")
            bar.update(1)
    summary = f"wrote {written} of {len(files)} input(s) to {out_dir}"
    if faces_changed:
        summary += f" ({_faces(faces_changed)} changed in the photos)"
    print(summary + (f"; {failed} failed" if failed else ""))
    return 1 if failed else 0


def _photo(path: Path, target: Path, model, args, pipeline, report, another_name) -> tuple[int, Path]:
    """Edit one photo into ``target`` (or the next free name): (faces changed, the path written)."""
    from ..synthesis import synthesize

    image = read_image(path)
    result = synthesize(
        image, model, args.intensity, largest_only=args.largest_only, pipeline=pipeline, name=str(path)
    )
    for note in result.skipped:
        report(f"warning: {note}")
    found = len(result.faces) + len(result.skipped)
    if found > 1:
        report(f"{path}: {_faces(len(result.faces))} changed of {found} found")
    target = write_image(
        target,
        result.image,
        result.alpha,
        icc_profile=image.icc_profile,
        replace=False,
        another_name=another_name,
    )
    return len(result.faces), target


def _video(path: Path, target: Path, model, args, pipeline, outer, another_name):
    """Edit one clip into ``target`` (or the next free name) with a progress bar of its frames;
    (the line to report, the path written)."""
    from ..synthesis import VideoOptions, synthesize_video

    with tqdm(
        total=0,
        desc=path.name,
        unit="frame",
        file=sys.stderr,
        leave=False,
        disable=True if args.quiet else None,
        position=1 if not outer.disable else 0,
    ) as bar:

        def progress(done: int, total: int) -> None:
            if bar.total != total:
                bar.total = total
            bar.update(done - bar.n)

        result = synthesize_video(
            path,
            target,
            model,
            args.intensity,
            pipeline=pipeline,
            options=VideoOptions(largest_only=args.largest_only),
            progress=progress,
            replace=False,
            another_name=another_name,
        )
    line = f"{path}: {result.summary()}"
    for note in result.notes:
        line += f"\nwarning: {note}"
    if result.frames_with_face == 0:
        line += f"\nwarning: {path}: no face found in any frame; the clip was written unchanged"
    return line, result.path
