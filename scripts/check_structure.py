"""Check the code's shape: no import circle, no SQL outside the store, no long module, no private import.

Run as ``python scripts/check_structure.py`` from anywhere; exits 1 and lists
every breach, 0 when the tree is clean. The test suite runs it
(``tests/test_structure.py``).

Rules, over the project's own Python files (``core/``, ``workbench/``,
``streamlit_app.py``, ``scripts/``; tests are exempt from the last two):

1. the import graph among project modules has no cycle (imports inside
   functions count: a lazy import is still a dependency);
2. no SQL statement, ``sqlite3``/``sqlite_utils`` import or ``.execute*()``
   call outside ``core/store/``;
3. no module longer than :data:`MAX_LINES` lines;
4. no ``from module import _private`` and no ``module._private`` across modules;
5. ``core/`` never imports Streamlit, and every exception class lives in
   ``core/errors.py``.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "workbench")
EXTRA_FILES = ("streamlit_app.py",)
MAX_LINES = 450
STORE = "core.store"
ERRORS_MODULE = "core.errors"
SELF = "scripts.check_structure"  # its own patterns are not SQL
SQL = re.compile(
    r"^\s*(SELECT|INSERT|UPDATE|DELETE|REPLACE|CREATE|DROP|ALTER|PRAGMA|BEGIN|COMMIT|ROLLBACK|WITH|VACUUM)\b"
    r"|\b(SELECT\b[\s\S]*\bFROM|INSERT\s+(OR\s+\w+\s+)?INTO|DELETE\s+FROM|UPDATE\s+\w+\s+SET)\b"
)
SQL_MODULES = ("sqlite3", "sqlite_utils")
EXECUTE_CALLS = ("execute", "executemany", "executescript")


def module_name(path: Path, root: Path = ROOT) -> str:
    """``core/sweeps/plan.py`` -> ``core.sweeps.plan``; a package's ``__init__`` is the package."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_files(root: Path = ROOT) -> dict[str, Path]:
    """Module name -> file, for every checked Python file under ``root``."""
    files: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            files[module_name(path, root)] = path
    for name in EXTRA_FILES:
        if (root / name).is_file():
            files[module_name(root / name, root)] = root / name
    for path in sorted((root / "scripts").glob("*.py")):
        files["scripts." + path.stem] = path
    return files


def _resolve(node: ast.ImportFrom, current: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = current.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(tree: ast.AST, current: str, is_package: bool, modules: set[str]) -> Iterator[tuple[str, ast.AST, list[str]]]:
    """Yield ``(project module imported, node, names imported from it)`` for every import in a file."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in modules:
                    yield alias.name, node, []
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(node, current, is_package)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                if sub in modules:
                    yield sub, node, []  # a submodule imported from its package
                elif target in modules:
                    yield target, node, [alias.name]


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (or a self-import), by Tarjan's algorithm."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                cycles.append(sorted(comp))

    sys.setrecursionlimit(max(10000, sys.getrecursionlimit()))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def _strings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value
        elif isinstance(node, ast.JoinedStr):
            text = "".join(v.value if isinstance(v, ast.Constant) else "x" for v in node.values)
            yield node.lineno, text


def _is_docstring_owner(node: ast.AST) -> bool:
    return isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))


def _docstring_lines(tree: ast.AST) -> set[int]:
    lines = set()
    for node in ast.walk(tree):
        if _is_docstring_owner(node) and node.body and isinstance(node.body[0], ast.Expr):
            value = node.body[0].value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                lines.add(value.lineno)
    return lines


def check(root: Path = ROOT) -> list[str]:
    """Every breach of the rules above, one line each (empty when clean)."""
    files = project_files(root)
    modules = set(files)
    problems: list[str] = []
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in files.items():
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(root)
        tree = ast.parse(text, filename=str(path))
        in_store = name == STORE or name.startswith(STORE + ".")
        is_script = name.startswith("scripts.")
        n_lines = text.count("\n")
        if n_lines > MAX_LINES:
            problems.append(f"{rel}: {n_lines} lines, over {MAX_LINES}; split it by concept")
        aliases: dict[str, str] = {}
        for target, node, names in imports_of(tree, name, path.name == "__init__.py", modules):
            if target != name:
                graph[name].add(target)
            for imported in names:
                if imported.startswith("_") and not imported.startswith("__"):
                    problems.append(f"{rel}:{node.lineno}: imports private name {imported} from {target}")
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == target:
                        aliases[alias.asname or alias.name] = target
            else:
                for alias in node.names:
                    if f"{_resolve(node, name, path.name == '__init__.py')}.{alias.name}" == target:
                        aliases[alias.asname or alias.name] = target
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                dotted = _dotted(node.value)
                if dotted in aliases and aliases[dotted] != name:
                    problems.append(f"{rel}:{node.lineno}: uses private name {node.attr} of {aliases[dotted]}")
        if name.startswith("core") and not is_script:
            for node in ast.walk(tree):
                mods = _imported_modules(node)
                if any(m == "streamlit" or m.startswith("streamlit.") for m in mods):
                    problems.append(f"{rel}:{node.lineno}: core/ imports Streamlit; move UI code to workbench/")
        if name != ERRORS_MODULE:
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef) and any(_dotted(b) in ("Exception", "ValueError", "RuntimeError")
                                                          for b in node.bases):
                    problems.append(f"{rel}:{node.lineno}: exception {node.name} defined outside core/errors.py")
        if in_store or name == SELF:
            continue
        docstrings = _docstring_lines(tree)
        for lineno, value in _strings(tree):
            if lineno not in docstrings and SQL.search(value):
                problems.append(f"{rel}:{lineno}: SQL outside core/store/: {value.strip().splitlines()[0][:60]!r}")
        for node in ast.walk(tree):
            for mod in _imported_modules(node):
                if mod.split(".")[0] in SQL_MODULES:
                    problems.append(f"{rel}:{node.lineno}: imports {mod} outside core/store/")
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in EXECUTE_CALLS):
                problems.append(f"{rel}:{node.lineno}: .{node.func.attr}() outside core/store/")
    for cycle in find_cycles(graph):
        problems.append("import cycle among: " + ", ".join(cycle))
    return list(dict.fromkeys(problems))


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _imported_modules(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom) and not node.level:
        return [node.module or ""]
    return []


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="project root (default: this checkout)")
    args = parser.parse_args(argv)
    problems = check(args.root)
    for line in problems:
        sys.stdout.write(line + "\n")
    sys.stdout.write(f"{len(problems)} structure problem(s)\n" if problems else "structure OK\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
