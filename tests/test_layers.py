"""The layers import one way (DESIGN.md section 1), checked on the source."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "lambdasim"


def imported_modules(folder_or_file):
    paths = (
        [folder_or_file] if folder_or_file.is_file() else folder_or_file.rglob("*.py")
    )
    found = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
    return found


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        (
            "model",
            ("lambdasim.scenario", "lambdasim.report", "lambdasim.cli", "pandas"),
        ),
        ("report", ("lambdasim.model", "lambdasim.scenario", "lambdasim.cli")),
        ("workload", ("lambdasim.model", "lambdasim.scenario", "lambdasim.report")),
    ],
)
def test_layer_does_not_import_forbidden_modules(layer, forbidden):
    imports = imported_modules(PACKAGE / layer)
    bad = sorted(m for m in imports if m.startswith(forbidden))
    assert bad == []


def test_only_cli_prints():
    for path in PACKAGE.rglob("*.py"):
        if path.name == "cli.py":
            continue
        calls = [
            node
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print"
        ]
        assert calls == [], path


def test_import_has_no_side_effects():
    # A fresh interpreter: importing must not configure logging or touch files.
    code = (
        "import logging, lambdasim, lambdasim.cli; "
        "root = logging.getLogger(); "
        "assert root.handlers == [], root.handlers; "
        "handlers = logging.getLogger('lambdasim').handlers; "
        "assert all(isinstance(h, logging.NullHandler) for h in handlers), handlers"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO_ROOT)
