"""Reading Python source with ``ast``, on the few files that matter.

``parse_module``: the names a module binds (lazy-module patterns included) and whether they can be
known statically. ``import_sites``: every import statement with the context it runs in (module level,
guarded, TYPE_CHECKING, function). The text pass that decides which files get here is envdoctor.source.text.
Pure functions: bytes in, values out; nothing here opens a file.
"""

from __future__ import annotations

import ast
import contextlib
import dataclasses
import enum
import gc
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
    (a module ``__getattr__``, ``sys.modules`` replaced by a lazy module). ``unrun_stars``: the
    ``stars`` written under ``if TYPE_CHECKING:``, which never run (in a lazy module they stand for
    what the lazy module loads; transformers 4.x names dummy modules there that no release ships).
    ``own_files``: a lazy module built by ``define_import_structure``, which reads the ``__all__`` of the
    package's own files at run time.
    """

    names: frozenset[str]
    stars: tuple[tuple[str, int], ...] = ()
    all: tuple[str, ...] | None = None
    dynamic: str = ""
    stub: bool = False
    lazy: bool = False
    unrun_stars: tuple[tuple[str, int], ...] = ()
    own_files: bool = False


_LAZY_STRUCTURE_CALLS = {"_LazyModule", "LazyModule", "define_import_structure", "attach", "_attach", "attach_stub"}


class Unparsable(Exception):
    """The parser or the walk over its tree ran out of stack or memory on this source (a 200,000-deep
    expression): the file is unknown, and the caller says so."""


def parse(source: bytes) -> ast.Module:
    """``ast.parse``, with the warnings of old packages silenced; raises SyntaxError/ValueError or Unparsable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarning for invalid escapes in old packages
            return ast.parse(source)
    except (RecursionError, MemoryError) as exc:
        raise Unparsable(f"could not be parsed ({type(exc).__name__})") from None


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic garbage collector paused while many files are parsed and read. A syntax tree is acyclic (freed
    by reference counting), yet the hundreds of thousands of objects it allocates trigger collections, and each
    full one walks every object the run holds (~60 ms in the hf-stack's calls check, and nothing to free)."""
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()


def parse_module(source: bytes) -> ModuleInfo:
    """The names ``source`` binds at module level; a syntax error is reported in the result. Raises
    Unparsable when the source is too deep to parse or walk."""
    try:
        tree = parse(source)
    except (SyntaxError, ValueError) as exc:
        return ModuleInfo(frozenset(), dynamic=f"cannot be parsed here ({type(exc).__name__})")
    collector = _Collector()
    try:
        collector.block(tree.body)
    except (RecursionError, MemoryError) as exc:
        raise Unparsable(f"could not be parsed ({type(exc).__name__})") from None
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
        self.unrun_stars: list[tuple[str, int]] = []
        self.type_checking = 0  # depth of `if TYPE_CHECKING:` blocks around the statement at hand
        self.imported_from: dict[str, tuple[str, int]] = {}  # name -> (module, level) of `from .m import name`

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
        return ModuleInfo(
            frozenset(names),
            tuple(self.stars),
            self.all,
            dynamic,
            self.stub,
            lazy or self.getattr,
            tuple(self.unrun_stars),
            "define_import_structure" in self.lazy_calls,
        )

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
                    if self.type_checking:
                        self.unrun_stars.append((node.module or "", node.level))
                else:
                    self.names.add(alias.asname or alias.name)
                    full = f"{node.module}.{alias.name}" if node.module else alias.name
                    self.imported_from[alias.asname or alias.name] = (full, node.level)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            self.assignment(node)
        elif isinstance(node, ast.Expr):
            self.expression(node.value)
        elif isinstance(node, (ast.For, ast.AsyncFor)):
            self.target(node.target)
            self.block(node.body)
            self.block(node.orelse)
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            self.type_checking += 1
            self.block(node.body)
            self.type_checking -= 1
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
            # transformers 4.x, a backend missing: `_import_structure["utils.dummy_pt_objects"] = [name for name
            # in dir(dummy_pt_objects) ...]` after `from .utils import dummy_pt_objects`: that module's names
            for call in ast.walk(value):
                if isinstance(call, ast.Call) and _is_call_named(call, "dir") and call.args:
                    arg = call.args[0]
                    source = self.imported_from.get(arg.id) if isinstance(arg, ast.Name) else None
                    if source is not None and source not in self.stars:
                        self.stars.append(source)
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
    FALLBACK = "fallback"  # in the `except ImportError:` of a handled import: runs only if that one fails
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
    primary: tuple[Primary, ...] = ()  # FALLBACK: the imports of the `try:` it falls back from
    available: tuple[Gate, ...] = ()  # under `if is_X_available(...)`: every such test must hold for it to run
    conditional: bool = False  # under an `if` (`if is_rich_available():`, `if sys.version_info >= ...`) or
    # in an `except` handler (a fallback): runs only in some environments


@dataclass(frozen=True)
class Primary:
    """An import in the ``try:`` body whose failure a FALLBACK import stands in for."""

    module: str
    level: int
    names: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class Gate:
    """``if is_accelerate_available("0.28.0"):``: the function called and its literal minimum version ("" when
    the call passes none, so the function's own default applies)."""

    function: str
    package: str  # the X of is_X_available
    min_version: str = ""


_AVAILABLE = re.compile(r"is_(\w+?)_available$")
_VERSIONISH = re.compile(r"version|_lt_|_le_|_gt_|_ge_|_eq_", re.IGNORECASE)
_IMPORT_ERRORS = {"ImportError", "ModuleNotFoundError", "Exception", "BaseException", "OptionalDependencyNotAvailable"}


def import_sites(source: bytes) -> list[ImportSite] | None:
    """Every import statement with the context it runs in; None when the source does not parse. Raises
    Unparsable when the source is too deep to parse or walk."""
    try:
        tree = parse(source)
    except (SyntaxError, ValueError):
        return None
    sites: list[ImportSite] = []
    try:
        _walk_sites(tree.body, _Scope(Context.MODULE), sites)
    except (RecursionError, MemoryError) as exc:
        raise Unparsable(f"could not be parsed ({type(exc).__name__})") from None
    conditional = _conditional_lines(tree)
    return [dataclasses.replace(s, conditional=True) if s.line in conditional else s for s in sites]


def _conditional_lines(tree: ast.Module) -> set[int]:
    """Lines of the statements under an ``if`` (either branch) or in an ``except`` handler."""
    lines: set[int] = set()
    for node in _statements(tree.body):
        if isinstance(node, ast.If):
            body = [*node.body, *node.orelse]
        elif isinstance(node, ast.ExceptHandler):
            body = node.body
        else:
            continue
        for stmt in body:
            lines.update(range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1))
    return lines


_BODIES = ("body", "orelse", "finalbody", "handlers", "cases")
"""The fields of a statement (and of an except handler and a match case) that hold statements."""


def _statements(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """Every statement in ``body`` and the bodies nested in it, except handlers and match cases included;
    never an expression: an ``if`` statement or a handler is never inside one, and a module's expressions
    are most of its nodes (``ast.walk`` visited them all: 4 million nodes on the hf stack)."""
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        yield node
        for name in _BODIES:
            value = getattr(node, name, None)
            if isinstance(value, list):
                stack.extend(value)


def version_test(test: ast.expr) -> bool:
    """Whether an ``if`` tests a package's version (``if not np_version_gte1p24:``, ``if is_torch_lt_2_1:``):
    its branches are compatibility code that runs only on some releases. ``sys.version_info`` is not one."""
    return bool(_VERSIONISH.search(ast.unparse(test).replace("version_info", "")))


@dataclass(frozen=True)
class _Scope:
    ctx: Context
    gated: bool = False
    primary: tuple[Primary, ...] = ()
    available: tuple[Gate, ...] = ()
    function: str = ""  # the innermost def around it ("" at module level)

    def site(self, module: str, level: int, names: tuple[str, ...], line: int) -> ImportSite:
        primary = self.primary if self.ctx is Context.FALLBACK else ()
        function = self.function if self.ctx is Context.FUNCTION else ""
        return ImportSite(module, level, names, line, self.ctx, self.gated, function, primary, self.available)


def _walk_sites(body: list[ast.stmt], scope: _Scope, out: list[ImportSite]) -> None:
    for node in body:
        if isinstance(node, ast.Import):
            out.extend(scope.site(a.name, 0, (), node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            out.append(scope.site(node.module or "", node.level, tuple(a.name for a in node.names), node.lineno))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            # A try around a def does not guard the call: the body starts afresh.
            inner = Context.TYPE_CHECKING if scope.ctx is Context.TYPE_CHECKING else Context.FUNCTION
            _walk_sites(node.body, _Scope(inner, scope.gated, (), scope.available, node.name), out)
        elif isinstance(node, ast.ClassDef):
            _walk_sites(node.body, scope, out)  # a class body runs at import time
        elif isinstance(node, ast.If):
            inner = _deeper(scope.ctx, Context.TYPE_CHECKING) if _is_type_checking(node.test) else scope.ctx
            versioned = scope.gated or version_test(node.test)
            gates = availability_gates(node.test)
            outer = scope if versioned == scope.gated else dataclasses.replace(scope, gated=versioned)
            same = inner is scope.ctx and not gates
            taken = outer if same else _Scope(inner, versioned, scope.primary, scope.available + gates)
            _walk_sites(node.body, taken, out)
            _walk_sites(node.orelse, outer, out)
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            _walk_try(node, scope, out)
        elif isinstance(node, (ast.With, ast.AsyncWith, ast.For, ast.AsyncFor, ast.While)):
            _walk_sites(node.body, scope, out)
            _walk_sites(getattr(node, "orelse", []), scope, out)


def _walk_try(node: ast.stmt, scope: _Scope, out: list[ImportSite]) -> None:
    """The ``try:`` body of a handled import is GUARDED; the ``except ImportError:`` body is its FALLBACK,
    which runs only when the body failed (scikit-learn's ``except ImportError: from scipy.integrate import
    trapz`` for an old scipy)."""
    handlers: list[ast.ExceptHandler] = node.handlers  # type: ignore[attr-defined]
    handled = any(_catches_import_error(h) for h in handlers)
    body: list[ImportSite] = []
    inner = dataclasses.replace(scope, ctx=_deeper(scope.ctx, Context.GUARDED)) if handled else scope
    _walk_sites(node.body, inner, body)  # type: ignore[attr-defined]
    out.extend(body)
    primary = tuple(Primary(s.module, s.level, s.names, s.line) for s in body)
    for h in handlers:
        if _catches_import_error(h) and primary:
            _walk_sites(
                h.body, dataclasses.replace(scope, ctx=_deeper(scope.ctx, Context.FALLBACK), primary=primary), out
            )
        else:
            _walk_sites(h.body, scope, out)
    # transformers' and diffusers' `try: if not is_torch_available(): raise OptionalDependencyNotAvailable()
    # except OptionalDependencyNotAvailable: ... else: <imports>`: the else runs only when the tests hold
    required = tuple(
        g
        for stmt in node.body  # type: ignore[attr-defined]
        if isinstance(stmt, ast.If) and isinstance(stmt.test, ast.UnaryOp) and isinstance(stmt.test.op, ast.Not)
        if stmt.body and all(isinstance(b, ast.Raise) for b in stmt.body)
        for g in availability_gates(stmt.test.operand)
    )
    _walk_sites(node.orelse, dataclasses.replace(scope, available=scope.available + required), out)  # type: ignore[attr-defined]
    _walk_sites(node.finalbody, scope, out)  # type: ignore[attr-defined]


def availability_gates(test: ast.expr) -> tuple[Gate, ...]:
    """The ``is_X_available(...)`` calls an ``if`` requires (alone or joined by ``and``)."""
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.And):
        return tuple(g for value in test.values for g in availability_gates(value))
    if not isinstance(test, ast.Call):
        return ()
    func = test.func
    name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
    match = _AVAILABLE.match(name)
    if match is None:
        return ()
    given = [*test.args[:1], *(k.value for k in test.keywords if k.arg == "min_version")]
    literal = next((g.value for g in given if isinstance(g, ast.Constant) and isinstance(g.value, str)), "")
    return (Gate(name, match.group(1), literal),)


def min_version_defaults(source: bytes) -> dict[str, str]:
    """For each function of ``source`` like ``def is_accelerate_available(min_version=ACCELERATE_MIN_VERSION)``,
    the minimum version it checks by default, when the text says it plainly: a parameter named like a
    version whose default is a string, or a module-level name bound to one, and which the body reads.
    Functions that only check presence are absent."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return {}
    constants = {
        t.id: n.value.value
        for n in tree.body
        if isinstance(n, ast.Assign) and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
        for t in n.targets
        if isinstance(t, ast.Name)
    }
    found: dict[str, str] = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or not node.args.defaults:
            continue
        params = node.args.args[len(node.args.args) - len(node.args.defaults) :]
        for param, default in zip(params, node.args.defaults, strict=True):
            value = default.value if isinstance(default, ast.Constant) else None
            if isinstance(default, ast.Name):
                value = constants.get(default.id)
            used = any(isinstance(n, ast.Name) and n.id == param.arg for n in ast.walk(node))
            if isinstance(value, str) and used and "version" in param.arg:
                found[node.name] = value
                break
    return found


_RANK = {Context.MODULE: 0, Context.FUNCTION: 1, Context.FALLBACK: 2, Context.GUARDED: 3, Context.TYPE_CHECKING: 4}


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
