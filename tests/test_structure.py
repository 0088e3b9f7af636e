"""The code-shape rules of scripts/check_structure.py: the tree obeys them, and each rule catches its breach."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _load():
    spec = importlib.util.spec_from_file_location("check_structure", ROOT / "scripts" / "check_structure.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


structure = _load()


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    for pkg in ("core", "workbench"):
        (tmp_path / pkg).mkdir(exist_ok=True)
        (tmp_path / pkg / "__init__.py").touch()
    return tmp_path


def test_project_tree_is_clean():
    assert structure.check(ROOT) == []


def test_catches_an_import_cycle_through_a_lazy_import(tmp_path):
    root = _tree(tmp_path, {
        "core/a.py": "from core.b import f\n",
        "core/b.py": "def f():\n    from core import a\n    return a\n",
    })
    assert any("import cycle" in p and "core.a" in p and "core.b" in p for p in structure.check(root))


def test_catches_sql_outside_the_store_but_not_inside(tmp_path):
    root = _tree(tmp_path, {
        "core/store/__init__.py": "",
        "core/store/q.py": "Q = 'SELECT * FROM cells WHERE id = ?'\n",
        "core/pages.py": "def rows(s):\n    return s.query(f'SELECT id FROM cells WHERE x = {1}')\n",
        "workbench/ui.py": "import sqlite3\n",
    })
    problems = structure.check(root)
    assert any("core/pages.py:2: SQL outside" in p for p in problems)
    assert any("workbench/ui.py:1: imports sqlite3" in p for p in problems)
    assert not any("core/store/q.py" in p for p in problems)


def test_catches_long_modules_private_imports_streamlit_and_stray_exceptions(tmp_path):
    root = _tree(tmp_path, {
        "core/long.py": "x = 1\n" * (structure.MAX_LINES + 1),
        "core/a.py": "def _hidden():\n    pass\n",
        "core/b.py": "from core.a import _hidden\nimport core.a as m\nm._hidden()\n",
        "core/ui.py": "import streamlit as st\n",
        "core/oops.py": "class Oops(Exception):\n    pass\n",
    })
    problems = structure.check(root)
    assert any(p.startswith("core/long.py: ") for p in problems)
    assert any("imports private name _hidden from core.a" in p for p in problems)
    assert any("uses private name _hidden of core.a" in p for p in problems)
    assert any("core/ imports Streamlit" in p for p in problems)
    assert any("exception Oops defined outside" in p for p in problems)


@pytest.mark.parametrize("text", ["'''SELECT is a word in a docstring'''\n", "X = 'selected items'\n"])
def test_docstrings_and_prose_are_not_sql(tmp_path, text):
    root = _tree(tmp_path, {"core/doc.py": text})
    assert structure.check(root) == []
