"""Reading Python source with ``ast``, on the few files that matter.

``parse_module``: the names a module binds (lazy-module patterns included) and whether they can be
known statically. ``import_sites``: every import statement with the context it runs in (module level,
guarded, TYPE_CHECKING, function). The text pass that decides which files get here is envdoctor.pytext.
Pure functions: bytes in, values out; nothing here opens a file.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

# ---------------------------------------------------------------------------------------------
# The names a module provides


@dataclass(frozen=True)
class ModuleInfo:
    """What a module's own source says it defines at module level.

    ``names``: bound at module level in any branch (if/try/with/for bodies included; function and
    class bodies not). ``stars``: ``from X import *`` targets as (module, level). ``all``: the
    literal ``__all__`` if there is one. ``dynamic``: why the full set of names cannot be known
    from the text (a module ``__getattr__`` that is not a recognised lazy-module pattern, writes to
    ``globals()``, ``exec``), or "" when it can. ``stub``: the module loads its names from a .pyi
    stub (lazy_loader.attach_stub). ``lazy``: names or submodules may appear on first access
    (a module ``__getattr__``, ``sys.modules`` replaced by a lazy module).
    """

    names: frozenset[str]
    stars: tuple[tuple[str, int], ...] = ()
    all: tuple[str, ...] | None = None
    dynamic: str = ""
    stub: bool = False
    lazy: bool = False


_LAZY_STRUCTURE_CALLS = {"_LazyModule", "LazyModule", "define_import_structure", "attach", "_attach", "attach_stub"}


def parse_module(source: bytes) -> ModuleInfo:
    """The names ``source`` binds at module level; never raises (a syntax error is reported in the result)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarning for invalid escapes in old packages
            tree = ast.parse(source)
    except (SyntaxError, ValueError) as exc:
        return ModuleInfo(frozenset(), dynamic=f"cannot be parsed here ({type(exc).__name__})")
    collector = _Collector()
    collector.block(tree.body)
    return collector.result()


class _Collector:
    def __init__(self) -> None:
        self.names: set[str] = set()
        self.stars: list[tuple[str, int]] = []
        self.all: tuple[str, ...] | None = None
        self.getattr = False
        self.dynamic = ""
        self.lazy_calls: set[str] = set()
        self.structure_names: set[str] = set()
        self.stub = False

    def result(self) -> ModuleInfo:
        dynamic = self.dynamic
        lazy = bool(self.lazy_calls) or bool(self.structure_names)
        if self.getattr and not lazy and not self.stub:
            # an ``__all__`` beside it does not list everything: IPython 9's ``__all__`` leaves out
            # ``get_ipython``, which its ``__getattr__`` serves
            dynamic = dynamic or "defines a module-level __getattr__"
        names = self.names | self.structure_names
        if self.all is not None and (self.getattr or lazy):
            names |= set(self.all)
        return ModuleInfo(frozenset(names), tuple(self.stars), self.all, dynamic, self.stub, lazy or self.getattr)

    def block(self, body: list[ast.stmt]) -> None:
        for node in body:
            self.statement(node)

    def statement(self, node: ast.stmt) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            self.names.add(node.name)
            if node.name == "__getattr__":
                self.getattr = True
        elif isinstance(node, ast.Import):
            for alias in node.names:
                self.names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    self.stars.append((node.module or "", node.level))
                else:
                    self.names.add(alias.asname or alias.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            self.assignment(node)
        elif isinstance(node, ast.Expr):
            self.expression(node.value)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            self.target(node.target)
            self.block(node.body)
            self.block(node.orelse)
        elif isinstance(node, (ast.If, ast.While)):
            self.block(node.body)
            self.block(node.orelse)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if item.optional_vars is not None:
                    self.target(item.optional_vars)
            self.block(node.body)
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            self.block(node.body)  # type: ignore[attr-defined]
            for handler in node.handlers:  # type: ignore[attr-defined]
                self.block(handler.body)
            self.block(node.orelse)  # type: ignore[attr-defined]
            self.block(node.finalbody)  # type: ignore[attr-defined]
        elif type(node).__name__ == "Match":
            for case in node.cases:  # type: ignore[attr-defined]
                self.block(case.body)

    def assignment(self, node: ast.Assign | ast.AnnAssign | ast.AugAssign) -> None:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        value = node.value
        for target in targets:
            self.target(target)
            if isinstance(target, ast.Name) and target.id == "__all__" and value is not None:
                listed = _strings(value)
                if isinstance(node, ast.AugAssign):
                    self.all = None if listed is None or self.all is None else self.all + listed
                else:
                    self.all = listed
            if isinstance(target, ast.Subscript):
                self.subscript_assignment(target, value)
        if value is not None:
            self.expression(value)
            if isinstance(value, ast.Dict) and _is_structure(value):
                self.structure_names |= set(_structure_strings(value))

    def subscript_assignment(self, target: ast.Subscript, value: ast.expr | None) -> None:
        base = target.value
        if _is_call_named(base, "globals") or _is_call_named(base, "vars"):
            key = target.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                self.names.add(key.value)
            else:
                self.dynamic = "assigns names through globals()"
        elif _is_sys_modules(base):
            recognised = _called_names(value) & _LAZY_STRUCTURE_CALLS if value is not None else set()
            if recognised:  # transformers' `sys.modules[__name__] = _LazyModule(..., _import_structure)`
                self.lazy_calls |= recognised
            else:  # pygments: `sys.modules[__name__] = newmod`, a module object with its own __getattr__
                self.dynamic = "replaces itself in sys.modules"
        elif isinstance(base, ast.Name) and value is not None:  # _import_structure["x"] = [...]
            self.structure_names |= set(_strings(value) or ())
            if isinstance(target.slice, ast.Constant) and isinstance(target.slice.value, str):
                self.structure_names.add(target.slice.value.split(".")[0])

    def target(self, node: ast.expr) -> None:
        if isinstance(node, ast.Name):
            self.names.add(node.id)
            if node.id == "__getattr__":
                self.getattr = True
        elif isinstance(node, (ast.Tuple, ast.List)):
            for elt in node.elts:
                self.target(elt)
        elif isinstance(node, ast.Starred):
            self.target(node.value)

    def expression(self, node: ast.expr) -> None:
        if not isinstance(node, ast.Call):
            return
        called = _called_names(node)
        func = node.func
        if "exec" in called and isinstance(func, ast.Name) and func.id == "exec":
            self.dynamic = "runs exec() at module level"
        if isinstance(func, ast.Attribute) and func.attr in {"extend", "append", "update", "add"}:
            owner = func.value
            if _is_call_named(owner, "globals"):
                self.dynamic = "updates globals()"
            elif isinstance(owner, ast.Name) and owner.id == "__all__":
                listed = [x for arg in node.args for x in (_strings(arg) or ())]
                ok = self.all is not None and all(_strings(arg) is not None for arg in node.args)
                self.all = self.all + tuple(listed) if ok and self.all is not None else None
            elif isinstance(owner, (ast.Subscript, ast.Name)):  # _import_structure["x"].extend([...])
                for arg in node.args:
                    self.structure_names |= set(_strings(arg) or ())
                    if isinstance(arg, ast.Dict):
                        self.structure_names |= set(_structure_strings(arg))
        if "attach_stub" in called:
            self.stub = True
        hits = called & _LAZY_STRUCTURE_CALLS
        if hits:
            self.lazy_calls |= hits
            for kw in node.keywords:
                if kw.arg in {"submodules", "submod_attrs"}:
                    self.structure_names |= set(_strings(kw.value) or ())
                    if isinstance(kw.value, ast.Dict):
                        self.structure_names |= set(_structure_strings(kw.value))


def _strings(node: ast.expr) -> tuple[str, ...] | None:
    """A literal list/tuple/set of strings (``__all__ = [...]``), else None."""
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        items = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        return tuple(items) if len(items) == len(node.elts) else tuple(items) or None
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return (node.value,)
    return None


def _is_structure(node: ast.Dict) -> bool:
    """``{"submodule": ["Name", ...], ...}``: the shape of transformers' ``_import_structure``."""
    return bool(node.keys) and all(
        isinstance(k, ast.Constant) and isinstance(k.value, str) and isinstance(v, (ast.List, ast.Tuple, ast.Set))
        for k, v in zip(node.keys, node.values, strict=False)
    )


def _structure_strings(node: ast.Dict) -> Iterator[str]:
    for key, value in zip(node.keys, node.values, strict=False):
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            yield key.value.split(".")[0]
        yield from _strings(value) or ()


def _called_names(node: ast.expr) -> set[str]:
    found: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            f = sub.func
            if isinstance(f, ast.Name):
                found.add(f.id)
            elif isinstance(f, ast.Attribute):
                found.add(f.attr)
    return found


def _is_call_named(node: ast.expr, name: str) -> bool:
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name


def _is_sys_modules(node: ast.expr) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "modules" and isinstance(node.value, ast.Name)


# ---------------------------------------------------------------------------------------------
# Where an import statement runs


class Context(enum.Enum):
    MODULE = "module"  # runs when the module is imported (if-branches included)
    GUARDED = "guarded"  # inside try: ... except ImportError (or broader): a failure is handled
    TYPE_CHECKING = "type-checking"  # never runs
    FUNCTION = "function"  # runs only when the function (or method) is called


@dataclass(frozen=True)
class ImportSite:
    module: str  # as written, without the leading dots
    level: int  # 0 absolute, 1 for `from .`, ...
    names: tuple[str, ...]  # () for `import module`
    line: int
    context: Context
    gated: bool = False  # under an `if` that tests a version: runs only on some releases
    function: str = ""  # the innermost function holding it ("" at module or class level)
    conditional: bool = False  # under an `if` (`if is_rich_available():`, `if sys.version_info >= ...`) or
    # in an `except` handler (a fallback): runs only in some environments


_VERSIONISH = re.compile(r"version|_lt_|_le_|_gt_|_ge_|_eq_", re.IGNORECASE)
_IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException", "OptionalDependencyNotAvailable"}


def import_sites(source: bytes) -> list[ImportSite] | None:
    """Every import statement with the context it runs in; None when the source does not parse."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    sites: list[ImportSite] = []
    _walk_sites(tree.body, Context.MODULE, False, sites)
    conditional = _conditional_lines(tree)
    spans = sorted(
        (
            (n.lineno, n.end_lineno or n.lineno, n.name)
            for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))
        ),
        key=lambda span: span[1] - span[0],
    )
    found = [
        dataclasses.replace(site, function=next((name for a, b, name in spans if a <= site.line <= b), ""))
        if site.context is Context.FUNCTION
        else site
        for site in sites
    ]
    return [dataclasses.replace(s, conditional=True) if s.line in conditional else s for s in found]


def _conditional_lines(tree: ast.Module) -> set[int]:
    """Lines of the statements under an ``if`` (either branch) or in an ``except`` handler."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            body = [*node.body, *node.orelse]
        elif isinstance(node, ast.ExceptHandler):
            body = node.body
        else:
            continue
        for stmt in body:
            lines.update(range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1))
    return lines


def version_test(test: ast.expr) -> bool:
    """Whether an ``if`` tests a package's version (``if not np_version_gte1p24:``, ``if is_torch_lt_2_1:``):
    its branches are compatibility code that runs only on some releases. ``sys.version_info`` is not one."""
    return bool(_VERSIONISH.search(ast.unparse(test).replace("version_info", "")))


def _walk_sites(body: list[ast.stmt], ctx: Context, gated: bool, out: list[ImportSite]) -> None:
    for node in body:
        if isinstance(node, ast.Import):
            out.extend(ImportSite(a.name, 0, (), node.lineno, ctx, gated) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            names = tuple(a.name for a in node.names)
            out.append(ImportSite(node.module or "", node.level, names, node.lineno, ctx, gated))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # A try around a def does not guard the call: the body starts afresh.
            inner = Context.TYPE_CHECKING if ctx is Context.TYPE_CHECKING else Context.FUNCTION
            _walk_sites(node.body, inner, gated, out)
        elif isinstance(node, ast.ClassDef):
            _walk_sites(node.body, ctx, gated, out)  # a class body runs at import time
        elif isinstance(node, ast.If):
            inner = _deeper(ctx, Context.TYPE_CHECKING) if _is_type_checking(node.test) else ctx
            versioned = gated or version_test(node.test)
            _walk_sites(node.body, inner, versioned, out)
            _walk_sites(node.orelse, ctx, versioned, out)
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            handled = any(_catches_import_error(h) for h in node.handlers)  # type: ignore[attr-defined]
            inner = _deeper(ctx, Context.GUARDED) if handled else ctx
            _walk_sites(node.body, inner, gated, out)  # type: ignore[attr-defined]
            for h in node.handlers:  # type: ignore[attr-defined]
                _walk_sites(h.body, ctx, gated, out)
            _walk_sites(node.orelse, ctx, gated, out)  # type: ignore[attr-defined]
            _walk_sites(node.finalbody, ctx, gated, out)  # type: ignore[attr-defined]
        elif isinstance(node, (ast.With, ast.AsyncWith, ast.For, ast.AsyncFor, ast.While)):
            _walk_sites(node.body, ctx, gated, out)
            _walk_sites(getattr(node, "orelse", []), ctx, gated, out)


_RANK = {Context.MODULE: 0, Context.FUNCTION: 1, Context.GUARDED: 2, Context.TYPE_CHECKING: 3}


def _deeper(outer: Context, inner: Context) -> Context:
    """The context of code nested in both: the one that makes a failure matter least wins."""
    return outer if _RANK[outer] >= _RANK[inner] else inner


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    for kind in kinds:
        name = kind.id if isinstance(kind, ast.Name) else kind.attr if isinstance(kind, ast.Attribute) else ""
        if name in _IMPORT_ERRORS:
            return True
    return False
