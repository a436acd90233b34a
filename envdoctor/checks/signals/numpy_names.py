"""Names removed from numpy's main namespace in 2.0, used by installed packages: found in their sources.

``np.float_`` in a module-level dtype table fails at import under numpy 2 with ``AttributeError: `np.float_`
was removed in the NumPy 2.0 release``, while pip check stays clean when the package declares no numpy<2
cap. The removed names are harvested from the numpy 2.0.0 wheel (matrix/facts/numpy-2.0-removed.json).

A text pass finds ``np.NAME`` / ``numpy.NAME`` for the removed names in the .py files of every
distribution that requires numpy; ast confirms each hit (an attribute of a name bound by
``import numpy [as x]``) and tells whether it runs at import (module level, class bodies included) or
only when a function is called. Results are cached per distribution.
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from envdoctor.checks.signals.base import Files, Match, requires
from envdoctor.inventory import Dist, Inventory
from envdoctor.knowledge.matrix import Rule
from envdoctor.source.installed import SOURCE_LIMIT
from envdoctor.source.syntax import Unparsable, parse, version_test

if TYPE_CHECKING:
    from envdoctor.cache import Shape

FACT = "numpy-2.0-removed.json"


@dataclass(frozen=True)
class Use:
    rel: str
    line: int
    name: str
    at_import: bool


@cache
def removed_names() -> dict[str, str]:
    """Removed name -> what numpy 2 says to use instead (from the harvested fact)."""
    from envdoctor.resources import data_dir

    data = json.loads((data_dir("matrix") / "facts" / FACT).read_text(encoding="utf-8"))
    names = {str(k): str(v) for k, v in data["expired"].items()}
    names.update({str(n): "" for n in data.get("moved_or_removed", []) if n not in names})
    return names


_ATTR = re.compile(rb"\b(?:np|numpy)\.([A-Za-z_]\w*)")
_ATTR_FROM_N = re.compile(rb"n(?:p|umpy)\.([A-Za-z_]\w*)")
"""_ATTR without its leading ``\b``: a pattern that starts with a literal is searched for that letter, one that
starts with ``\b`` is tried at every position (six times slower over pandas)."""


def _attr_matches(data: bytes) -> Iterator[re.Match[bytes]]:
    """What ``_ATTR.finditer(data)`` gives: a match not at a word boundary is dropped and the search goes on
    from its next byte, where _ATTR's own search would have gone on."""
    pos = 0
    while (m := _ATTR_FROM_N.search(data, pos)) is not None:
        before = data[m.start() - 1 : m.start()] if m.start() else b""
        if before.isalnum() or before == b"_":
            pos = m.start() + 1
            continue
        yield m
        pos = m.end()


_FROM = re.compile(rb"from[ \t]+numpy[ \t]+import[ \t]+\(?([^\n)]*)")


def _hit_lines(data: bytes, names: frozenset[str], aliases: Callable[[], set[str]]) -> set[int]:
    """Cheap text test: the lines that name a removed attribute (``np.X`` where ``import numpy as np`` binds
    ``np``, ``from numpy import X``). One simple pattern and a set lookup beat one pattern with a hundred
    alternatives by far. A superset: the ast pass decides which of them are real uses. ``numpy.X`` in a module
    that binds only ``np`` cannot be a use (pandas' docstrings name ``numpy.NaN``): no parse for those.
    ``aliases`` is called only when a removed name is there."""
    wanted = _encoded(names)
    hits = [m for m in _attr_matches(data) if m.group(1) in wanted]
    bound = {a.encode() for a in aliases()} if hits else set()
    starts = [m.start() for m in hits if m.group(0)[: m.start(1) - m.start() - 1] in bound]
    starts += [
        m.start()
        for m in _FROM.finditer(data)
        if any(p.strip().split(b" ")[0] in wanted for p in m.group(1).split(b","))
    ]
    lines: set[int] = set()
    line, at = 1, 0
    for start in sorted(starts):  # counted forward once: linear in the file, however many hits
        line += data.count(b"\n", at, start)
        at = start
        lines.add(line)
    return lines


@cache
def _encoded(names: frozenset[str]) -> frozenset[bytes]:
    return frozenset(n.encode() for n in names)


_ALIAS = re.compile(rb"(?m)^[ \t]*import[ \t]+numpy(?:[ \t]+as[ \t]+([A-Za-z_]\w*))?[ \t]*(?:#.*)?$")


def _alias_matches(data: bytes) -> Iterator[re.Match[bytes]]:
    """What ``_ALIAS.finditer(data)`` gives (a match is one line that holds ``import``), trying the pattern only at
    the starts of such lines: a pattern that starts with ``^`` is tried at every byte (ten times slower)."""
    pos, find = 0, data.find
    while (i := find(b"import", pos)) >= 0:
        m = _ALIAS.match(data, data.rfind(b"\n", 0, i) + 1)
        if m:
            yield m
        end = find(b"\n", i)
        pos = len(data) if end < 0 else end


def uses(data: bytes, names: frozenset[str]) -> list[tuple[int, str, bool]]:
    """(line, name, at import time) for each use of a removed name through an imported numpy:
    ``np.NAME`` (any alias bound by ``import numpy``) and ``from numpy import NAME``."""
    if b"numpy" not in data:
        return []
    aliases = cache(lambda: {(m.group(1) or b"numpy").decode() for m in _alias_matches(data)})
    lines = _hit_lines(data, names, aliases)
    if not lines:
        return []
    try:
        tree = parse(data)
    except (SyntaxError, ValueError):
        return []
    found: list[tuple[int, str, bool]] = []
    lazy_annotations = any(
        isinstance(n, ast.ImportFrom) and n.module == "__future__" and any(a.name == "annotations" for a in n.names)
        for n in tree.body
    )
    try:
        _Scan(aliases(), names, found, tree, lazy_annotations, lines).run()
    except (RecursionError, MemoryError) as exc:
        raise Unparsable(f"could not be parsed ({type(exc).__name__})") from None
    eager = {(line, name) for line, name, at_import in found if at_import}
    return sorted(
        {(line, name, at_import) for line, name, at_import in found if at_import or (line, name) not in eager}
    )


class _Scan:
    """Which uses run at import: module and class bodies, decorators, default values and (without
    ``from __future__ import annotations``) annotations do, and so do the bodies of this module's
    functions that module-level code calls (nibabel 5.1.0: ``OK_FLOATS = ok_floats()``, whose body reads
    ``np.sctypes``). Other function bodies run only when called."""

    def __init__(  # noqa: PLR0917 - one call site
        self,
        aliases: set[str],
        names: frozenset[str],
        out: list[tuple[int, str, bool]],
        tree: ast.Module,
        lazy: bool,
        lines: set[int],
    ) -> None:
        self.aliases, self.names, self.out, self.lazy = aliases, names, out, lazy
        self.functions = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        self.lines = lines
        self.tree = tree
        self.called: list[str] = []

    def run(self) -> None:
        self.body(self.tree.body, True)
        done: set[str] = set()
        while self.called:  # module-level code calls these: their bodies run at import too
            name = self.called.pop()
            if name in done:
                continue
            done.add(name)
            for stmt in self.functions[name].body:
                self.node(stmt, True)

    def body(self, stmts: list[ast.stmt], at_import: bool) -> None:
        for stmt in stmts:
            self.node(stmt, at_import)

    def node(self, node: ast.AST, at_import: bool) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            self.signature(node, at_import)
            if self._holds_hit(node):  # a body without any use is not worth walking
                inner = node.body if isinstance(node.body, list) else [node.body]
                for part in inner:
                    self.node(part, False)
            return
        if isinstance(node, ast.If) and version_test(node.test):
            self.node(node.test, at_import)  # its branches are compatibility code for some numpy releases
            return
        if isinstance(node, ast.Try) and any(_handles_removal(h) for h in node.handlers):
            # scipy 1.16's `try: from numpy.exceptions import RankWarning / except ImportError: from numpy
            # import RankWarning`: a failure in the body is handled, and the handler is the fallback for the
            # numpy releases where the body failed; neither fails under numpy 2
            for stmt in [*node.orelse, *node.finalbody]:
                self.node(stmt, at_import)
            return
        if isinstance(node, ast.AnnAssign) and self.lazy:
            self.node(node.target, at_import)
            if node.value is not None:
                self.node(node.value, at_import)
            return
        if (
            at_import
            and isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in self.functions
        ):
            self.called.append(node.func.id)
        if isinstance(node, ast.ImportFrom) and node.module == "numpy" and node.level == 0:
            self.out.extend((node.lineno, a.name, at_import) for a in node.names if a.name in self.names)
        if (
            isinstance(node, ast.Attribute)
            and node.attr in self.names
            and isinstance(node.value, ast.Name)
            and node.value.id in self.aliases
        ):
            self.out.append((node.lineno, node.attr, at_import))
        for child in ast.iter_child_nodes(node):
            self.node(child, at_import)

    def _holds_hit(self, node: ast.AST) -> bool:
        start, end = getattr(node, "lineno", 0), getattr(node, "end_lineno", None) or 10**9
        return any(start <= line <= end for line in self.lines)

    def signature(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda, at_import: bool) -> None:
        """Decorators and defaults run when the def runs; annotations too, unless they are lazy."""
        args = node.args
        parts: list[ast.expr] = [*getattr(node, "decorator_list", []), *args.defaults]
        parts += [d for d in args.kw_defaults if d is not None]
        if not self.lazy and not isinstance(node, ast.Lambda):
            every = [*args.posonlyargs, *args.args, *args.kwonlyargs, *(a for a in (args.vararg, args.kwarg) if a)]
            parts += [a.annotation for a in every if a.annotation is not None]
            if node.returns is not None:
                parts.append(node.returns)
        for expr in parts:
            self.node(expr, at_import)


_REMOVAL_ERRORS = {"ImportError", "ModuleNotFoundError", "AttributeError", "Exception", "BaseException"}


def _handles_removal(handler: ast.ExceptHandler) -> bool:
    """Whether ``except ...:`` catches what a removed name raises (ImportError, AttributeError)."""
    if handler.type is None:
        return True
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(
        (k.id if isinstance(k, ast.Name) else k.attr if isinstance(k, ast.Attribute) else "") in _REMOVAL_ERRORS
        for k in kinds
    )


def _dist_uses(dist: Dist, files: Files) -> list[Use]:
    names = frozenset(removed_names())

    def compute() -> dict[str, object]:
        found: list[list[object]] = []
        known = files.importing(dist, "numpy")  # the symbols pass read every file once already
        for rel in known if known is not None else files.listed(dist):
            if not rel.endswith(".py") or rel.startswith("..") or "/tests/" in f"/{rel}":
                continue
            data = files.read(dist, rel, limit=SOURCE_LIMIT)
            try:
                found.extend([rel, line, name, at_import] for line, name, at_import in uses(data or b"", names))
            except Unparsable as exc:
                files.reader.note(os.path.join(dist.location, rel), str(exc))
        return {"uses": found}

    shape: dict[str, Shape] = {"uses": [(str, int, str, bool)]}
    raw = files.remembered("numpy2-names-2", dist, compute, shape)["uses"]  # -2: version-gated branches skipped
    return [Use(str(r[0]), int(r[1]), str(r[2]), bool(r[3])) for r in raw] if isinstance(raw, list) else []


def _signal(at_import: bool) -> Callable[[Inventory, Rule, Files], list[Match]]:
    def signal(inv: Inventory, rule: Rule, files: Files) -> list[Match]:
        out = []
        messages = removed_names()
        for dist in inv.winners.values():
            if dist.name == "numpy" or not requires(dist, "numpy"):
                continue
            hits = [u for u in _dist_uses(dist, files) if u.at_import == at_import]
            if not hits:
                continue
            shown = sorted({u.name for u in hits})
            evidence = tuple(
                f"{os.path.join(dist.location, u.rel)}:{u.line}: np.{u.name}"
                + (f" (numpy 2: {messages[u.name]})" if messages.get(u.name) else "")
                for u in hits[:5]
            )
            values = {"dist": dist.display_name, "dist_version": dist.raw_version or "", "names": ", ".join(shown)}
            out.append(Match((dist.name, "numpy"), values, evidence))
        return out

    return signal


at_import = _signal(True)
in_function = _signal(False)
