"""The package's shape (issue 12), read with ``ast`` from the source: no import cycle between envdoctor's modules
(imports at module level, inside functions and under ``TYPE_CHECKING`` all count), and no function longer than
MAX_LINES outside the argparse tables. Both helpers are tested on planted packages, so they can fail."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "envdoctor"
MAX_LINES = 60
PRESENTATION_HOOKS: set[tuple[str, str]] = {
    ("envdoctor.report", "envdoctor.render"),  # str(report): the plain-text view
    ("envdoctor.report", "envdoctor.render.json"),  # Report.to_dict(): the JSON schema's form
    ("envdoctor.report", "envdoctor.render.html"),  # a notebook cell's view of a Report
    ("envdoctor.fix.pin", "envdoctor.render.pin"),  # PinResult.text(): the pin file
    ("envdoctor.fix.pin", "envdoctor.render.html"),  # a notebook cell's view of a PinResult
}
"""(module, renderer module) pairs a public model may import inside a method, and only there, to show itself
(a notebook's ``_repr_html_``, ``text()``): the one kind of cycle allowed, each named here."""
ARGPARSE_TABLES = {
    # functions that are one argparse table each: a row per option, nothing else
    "envdoctor/cli.py": {"_add_check_parser", "_add_pin_parser"},
}


def modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every module of the package at ``root``."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = [root.name, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imported(tree: ast.AST, package: str, top: str) -> Iterator[tuple[str, bool]]:
    """(dotted name, whether the import is inside a function) for every import of the package ``top``."""
    inside = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for inner in ast.walk(node)
        if inner is not node
    }
    for node in ast.walk(tree):
        lazy = id(node) in inside
        if isinstance(node, ast.Import):
            yield from ((a.name, lazy) for a in node.names if a.name.split(".")[0] == top)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parent, base] if base else parent)
            if base.split(".")[0] == top:
                yield from ((f"{base}.{a.name}", lazy) for a in node.names)


def import_graph(root: Path, hooks: set[tuple[str, str]] = PRESENTATION_HOOKS) -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere in its source (``from p import name`` counts as
    importing ``p.name`` when that is a module, else ``p``), less the ``hooks`` imported inside a function."""
    mods = modules(root)
    graph: dict[str, set[str]] = {}
    for name, path in mods.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets = set()
        for imported, lazy in _imported(ast.parse(path.read_text(encoding="utf-8")), package, root.name):
            dotted = imported
            while dotted and dotted not in mods:
                dotted = dotted.rpartition(".")[0]
            if dotted and dotted != name and not (lazy and (name, dotted) in hooks):
                targets.add(dotted)
        graph[name] = targets
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def long_functions(root: Path, limit: int, allowed: dict[str, set[str]]) -> list[str]:
    """``file:line name (N lines)`` for every function over ``limit`` lines not in ``allowed``."""
    out = []
    for path in sorted(root.rglob("*.py")):
        rel = f"{root.name}/{path.relative_to(root).as_posix()}"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
                length = node.end_lineno - node.lineno + 1
                if length > limit and node.name not in allowed.get(rel, set()):
                    out.append(f"{rel}:{node.lineno} {node.name} ({length} lines)")
    return out


def plant(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "pkg"
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def test_the_package_has_no_import_cycle() -> None:
    assert cycles(import_graph(ROOT)) == []


def test_no_function_is_longer_than_the_limit_outside_argparse_tables() -> None:
    assert long_functions(ROOT, MAX_LINES, ARGPARSE_TABLES) == []


def test_a_cycle_through_a_function_level_or_type_checking_import_is_found(tmp_path: Path) -> None:
    root = plant(
        tmp_path,
        {
            "__init__.py": "",
            "a.py": "def f():\n    from pkg import b\n",
            "b.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.sub.c import X\n",
            "sub/__init__.py": "",
            "sub/c.py": "from ..a import f\nX = 1\n",
            "d.py": "import pkg.a\n",
        },
    )
    assert import_graph(root)["pkg.sub.c"] == {"pkg.a"}
    assert cycles(import_graph(root)) == [["pkg.a", "pkg.b", "pkg.sub.c"]]


def test_a_named_presentation_hook_is_allowed_only_inside_a_function(tmp_path: Path) -> None:
    model = "class Model:\n    def _repr_html_(self):\n        from pkg.view import html\n        return html(self)\n"
    files = {"__init__.py": "", "model.py": model, "view.py": "from pkg.model import Model\n"}
    hooks = {("pkg.model", "pkg.view")}
    assert cycles(import_graph(plant(tmp_path / "lazy", files), hooks)) == []
    assert cycles(import_graph(plant(tmp_path / "lazy", files), set())) == [["pkg.model", "pkg.view"]]
    eager = {**files, "model.py": "from pkg.view import html\n"}
    assert cycles(import_graph(plant(tmp_path / "eager", eager), hooks)) == [["pkg.model", "pkg.view"]]


def test_a_package_without_cycles_passes(tmp_path: Path) -> None:
    root = plant(tmp_path, {"__init__.py": "", "a.py": "from pkg import b\n", "b.py": "import os\n"})
    assert cycles(import_graph(root)) == []


def test_a_long_function_is_found_unless_allowed(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_LINES))
    root = plant(tmp_path, {"__init__.py": "", "m.py": f"def short():\n    pass\n\n\ndef table():\n{body}"})
    assert long_functions(root, MAX_LINES, {}) == [f"pkg/m.py:5 table ({MAX_LINES + 1} lines)"]
    assert long_functions(root, MAX_LINES, {"pkg/m.py": {"table"}}) == []
