"""The package's layering: import-linter's contracts (pyproject.toml) and no import circles at all."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import grimp  # installed with import-linter (requirements-dev.txt)
from conftest import REPO


def test_import_contracts_are_kept():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert exe, "lint-imports not found: pip install -r requirements-dev.txt"
    proc = subprocess.run(
        [exe, "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_no_import_circles():
    """No module of mr_core reaches itself through imports (function-level ones included)."""
    sys.path.insert(0, str(REPO))
    try:
        graph = grimp.build_graph("mr_core", cache_dir=None)
    finally:
        sys.path.remove(str(REPO))
    circles = []
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            chain = graph.find_shortest_chain(importer=imported, imported=module)
            if chain:
                circles.append(" -> ".join([module, *chain]))
    assert not circles, "import circles:\n" + "\n".join(circles)


# --------------------------------------------------------------------------- the size rule (issue 18)
MAX_FUNCTION_LINES = 100
MAX_MODULE_LINES = 500


def _oversized(folder: Path) -> list[str]:
    """Modules of ``folder`` over MAX_MODULE_LINES lines and functions over MAX_FUNCTION_LINES."""
    import ast

    found = []
    for path in sorted(folder.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(REPO)
        if len(text.splitlines()) > MAX_MODULE_LINES:
            found.append(f"{name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    found.append(f"{name}:{node.lineno} {node.name}: {lines} lines")
    return found


def test_demo_functions_and_modules_are_small():
    """No function over 100 lines and no module over 500 lines in demo/ (the page is a shell)."""
    found = _oversized(REPO / "demo")
    assert not found, "over the size rule:\n" + "\n".join(found)


def test_library_functions_and_modules_are_small():
    """No function over 100 lines and no module over 500 lines in mr_core/."""
    found = _oversized(REPO / "mr_core")
    assert not found, "over the size rule:\n" + "\n".join(found)
