"""Reading Python source without running it.

Two speeds. ``scan_imports`` finds absolute import statements by plain text (bytes.find, no
parser): cheap enough to run over every file of every installed distribution. ``parse_module``
and ``import_sites`` use ``ast`` and run only on the few files that matter: modules something
imports a name from, and files whose import the cheap pass flagged as possibly broken.
Pure functions: bytes in, values out; nothing here opens a file.
"""

from __future__ import annotations

import ast
import enum
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

# ---------------------------------------------------------------------------------------------
# The text pass


@dataclass(frozen=True)
class ImportLine:
    """``from module import names`` (names non-empty) or ``import module`` (names empty)."""

    module: str
    names: tuple[str, ...]
    line: int
    indented: bool


_IDENT = re.compile(r"^[A-Za-z_][\w.]*$")


def scan_imports(data: bytes, wanted: frozenset[bytes] | None = None) -> list[ImportLine]:
    """Absolute import statements in ``data``, found by text. May include lines inside strings:
    callers confirm a suspicious one with ``import_sites`` before reporting it.

    ``wanted``: only imports whose top-level name is in it (the others are not even decoded).
    """
    out: list[ImportLine] = []
    find, size = data.find, len(data)
    pos, line_no, counted_to = 0, 1, 0
    while True:
        i = find(b"import", pos)
        if i < 0:
            return out
        start = data.rfind(b"\n", 0, i) + 1
        end = find(b"\n", i)
        end = size if end < 0 else end
        pos = end
        raw = data[start:end]
        stripped = raw.lstrip()
        if not (stripped.startswith((b"from ", b"import "))):
            continue
        if wanted is not None and not _wanted(stripped, wanted):
            continue
        line_no += data.count(b"\n", counted_to, start)
        counted_to = start
        text = stripped.decode("utf-8", "replace")
        if text.endswith("\\") or ("(" in text and ")" not in text):
            text, pos = _continued(data, text, end)
        indented = len(raw) != len(stripped)
        out.extend(_parse_line(text, line_no, indented))


def _wanted(stripped: bytes, wanted: frozenset[bytes]) -> bool:
    if stripped.startswith(b"from "):
        return stripped[5:].lstrip().split(b".", 1)[0].split(b" ", 1)[0] in wanted
    # `import a, b.c as d`: any of them
    body = stripped[7:].split(b"#", 1)[0]
    return any(part.strip().split(b".", 1)[0].split(b" ", 1)[0] in wanted for part in body.split(b","))


def _continued(data: bytes, text: str, end: int) -> tuple[str, int]:
    """Join continuation lines (backslash or an open parenthesis), at most 200 of them."""
    for _ in range(200):
        if end >= len(data):
            break
        nxt = data.find(b"\n", end + 1)
        nxt = len(data) if nxt < 0 else nxt
        text = text.rstrip("\\") + " " + data[end + 1 : nxt].decode("utf-8", "replace").strip()
        end = nxt
        if not text.endswith("\\") and not ("(" in text and ")" not in text):
            break
    return text, end


def _parse_line(text: str, line: int, indented: bool) -> Iterator[ImportLine]:
    text = text.split("#", 1)[0].strip().rstrip(";")
    if ";" in text:  # `import a; import b` on one line: rare, leave it to the parser
        text = text.split(";", 1)[0]
    if text.startswith("from "):
        module, sep, rest = text[5:].partition(" import ")
        module = module.strip()
        if not sep or module.startswith(".") or module == "__future__" or not _IDENT.match(module):
            return
        names = tuple(_names(rest))
        if names:
            yield ImportLine(module, names, line, indented)
    else:
        for part in text[7:].split(","):
            module = part.strip().split(" as ")[0].strip()
            if _IDENT.match(module):
                yield ImportLine(module, (), line, indented)


def _names(rest: str) -> Iterator[str]:
    for part in rest.replace("(", " ").replace(")", " ").split(","):
        name = part.strip().split(" as ")[0].strip()
        if name == "*" or name.isidentifier():
            yield name


_STRING = re.compile(rb"""["']([A-Za-z_][A-Za-z0-9_]*)["']""")
_ALL_OPS = (b"=", b"+=", b".extend", b".append", b":", b"[")


def literal_all(data: bytes) -> tuple[str, ...] | None:
    """``__all__`` when the source sets it once, at column 0, to a literal list of strings; else None.

    A text shortcut for ``from m import *`` chains (transformers' model packages are hundreds of
    them): no parse needed. Anything less plain returns None and the caller parses the module.
    Uses bytes.find only: an anchored regex over a 100 kB file costs more than the parse it saves.
    """
    assignments = []
    pos = data.find(b"__all__")
    while pos >= 0:
        if pos == 0 or data[pos - 1 : pos] in (b"\n", b" ", b"\t"):
            rest = data[pos + 7 : pos + 40].lstrip(b" \t")
            if rest.startswith(_ALL_OPS) and not rest.startswith(b"=="):
                assignments.append((pos, rest))
        pos = data.find(b"__all__", pos + 7)
    if len(assignments) != 1 or not assignments[0][1].startswith(b"="):
        return None
    if assignments[0][0] and data[assignments[0][0] - 1 : assignments[0][0]] != b"\n":
        return None  # set inside a block: leave it to the parser
    start = assignments[0][0]
    opening = data.find(b"=", start) + 1
    head = data[opening : opening + 20].lstrip()
    if not head.startswith((b"[", b"(")):
        return None
    close = data.find(b"]" if head.startswith(b"[") else b")", opening)
    if close < 0:
        return None
    body = re.sub(rb"#[^\n]*", b"", data[opening:close].strip().lstrip(b"[(").strip())
    names = _STRING.findall(body)
    items = [x for x in body.split(b",") if x.strip()]
    if len(names) != len(items):
        return None  # something other than plain strings in the list
    return tuple(n.decode() for n in names)


def defined_at_top(data: bytes, name: str) -> bool:
    """True when a line at column 0 binds ``name``: ``def name``, ``class name``, ``name =``,
    ``name: T =``, or a one-line import that binds it. A shortcut that saves parsing big modules
    (transformers' modeling_utils.py is 250 kB) when what is imported from them is plainly there;
    False means "not by this shortcut", and the caller parses.
    """
    word = name.encode()
    size = len(word)
    pos = data.find(word)
    while pos >= 0:
        end = pos + size
        before = data[pos - 1 : pos]
        after = data[end : end + 1]
        if not (before.isalnum() or before == b"_") and not (after.isalnum() or after == b"_"):
            start = data.rfind(b"\n", 0, pos) + 1
            if _binds(data[start:pos], data[end : end + 6]):
                return True
        pos = data.find(word, end)
    return False


def _binds(prefix: bytes, rest: bytes) -> bool:
    if prefix in (b"def ", b"class ", b"async def "):
        return True
    if prefix == b"import ":
        return not rest.startswith(b" as ")
    if prefix == b"":
        tail = rest.lstrip(b" ")
        return tail.startswith((b"=", b":")) and not tail.startswith(b"==")
    if prefix.startswith((b"from ", b"import ")) and b"(" not in prefix and b"\\" not in prefix:
        if b"#" in prefix or b";" in prefix:
            return False
        return (
            b" import " in prefix
            and not rest.startswith(b" as ")
            and prefix.rstrip().endswith((b"import", b",", b" as"))
        )
    return False


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
        if self.getattr and not lazy and not self.stub and self.all is None:
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
    return sites


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
            versioned = gated or bool(_VERSIONISH.search(ast.unparse(node.test).replace("version_info", "")))
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
