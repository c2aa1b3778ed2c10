"""Command line: ``python -m mr_core train|test|test_inthewild|synthesize|evaluate ...``.

The original code's usage keeps working: ``--mode train`` (or ``test``, ``test_inthewild``) may
stand in for the command, with its flags ``--train_dataset_dir``, ``--test_dataset_dir``,
``--inthewild_dataset_dir``, ``--image_size``, ``--total_images``, ``--input_ch``,
``--receptive_field``, ``--lamda``, ``--weights_dir``, ``--test_results_dir`` and
``--inthewild_results_dir``.  Every command only calls library functions; a user error is one
line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import MRError
from . import evaluate, synthesize, test, train
from .common import _err, _Parser

#: The commands, in --help order; each module has add_parser(subparsers).
COMMANDS = (train, test, synthesize, evaluate)


def build_parser() -> _Parser:
    parser = _Parser(
        prog="python -m mr_core",
        description="Facial expression synthesis by masked linear regression (MR).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def _mode_to_command(argv: list[str]) -> list[str]:
    """Rewrite the original ``--mode X ...`` usage as ``X ...``."""
    for i, arg in enumerate(argv):
        if arg == "--mode" and i + 1 < len(argv):
            return [argv[i + 1], *argv[:i], *argv[i + 2 :]]
        if arg.startswith("--mode="):
            return [arg.split("=", 1)[1], *argv[:i], *argv[i + 1 :]]
    return argv


def main(argv: Sequence[str] | None = None) -> int:
    argv = _mode_to_command(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except MRError as exc:
        _err(f"error: {exc}")
        return 2
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
