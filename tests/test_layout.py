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
