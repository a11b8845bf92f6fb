"""The import contract (pyproject.toml, checked by ``make lint``) is not vacuous: in a copy of
the tree, one bad import of each kind is reported by import-linter, naming the import."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
SKIP = shutil.ignore_patterns(".venv", "var", ".git", "static", "node_modules", "__pycache__", ".*_cache", "*.md")


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    dst = tmp_path_factory.mktemp("tree") / "repo"
    shutil.copytree(ROOT, dst, ignore=SKIP, symlinks=True)
    return dst


@pytest.mark.parametrize("module, bad, reported", [
    ("db/engine.py", "import dispatch.states", "db.engine -> dispatch.states"),                # a lower layer up
    ("gis/codes.py", "import pages.wall", "gis.codes -> pages.wall"),                          # pages/ is seen
    ("db/migrations/env.py", "import ui.kit", "db.migrations.env -> ui.kit"),                  # migrations are seen
    ("dispatch/states.py", "import accounts.auth", None),                                      # allowed: lower
    ("stats/charts.py", "import streamlit", "stats.charts -> streamlit"),                      # streamlit outside ui
    ("wall/frame.py", "import tests.factories", "wall.frame -> tests.factories"),              # tests from outside
    ("planning/validate.py", "import wall.frame", "planning.validate -> wall.frame"),          # same level: no
    ("planning/edits.py", "import streamlit", "planning.edits -> streamlit"),                  # no streamlit
])
def test_a_bad_import_is_reported(tree, module, bad, reported):
    path = tree / module
    original = path.read_text(encoding="utf-8")
    path.write_text(f"{original}\n{bad}  # added by the test\n", encoding="utf-8")
    try:
        out = subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=tree, capture_output=True, text=True,
                             timeout=120).stdout
    finally:
        path.write_text(original, encoding="utf-8")
    assert "Contracts:" in out, out[-2000:]
    mentioned = [line for line in out.splitlines() if module.removesuffix(".py").replace("/", ".") in line]
    if reported is None:
        assert not any(bad.split()[-1] in line for line in mentioned), out[-2000:]
    else:
        assert any(reported in line for line in mentioned), out[-2000:]
