"""The calls one installed file makes into a harvested callable of another distribution, read with ``ast``.

What the harvested facts describe (matrix/facts/signatures/) is the vocabulary: callables
(``accelerate.Accelerator.unwrap_model``, ``datasets.load_dataset``), classes whose methods or whose
members are harvested (``accelerate.Accelerator``), and the file each lives in. A call in an installed file
is a ``Site`` only when its receiver's class is known statically, by one of these rules (nothing else):

- a name bound by ``from P[.module] import X [as Y]`` (or ``P.X`` after ``import P``): ``X(...)`` calls the
  constructor, or the function X;
- ``self.a.m(...)`` / ``self.a.m`` in a method of a class C, when every assignment to ``self.a`` in C's
  methods is ``X(...)`` (or None): ``self.accelerator = Accelerator(**args)`` in transformers' Trainer;
- ``v.m(...)`` in a function, when every binding of ``v`` in it is ``v = X(...)`` (or None), and ``v`` is
  not a parameter.

A site under an ``if`` that tests a version or an availability (``if is_accelerate_available("1.3.0"):``),
or in a ``try`` that handles TypeError or AttributeError (or anything broader), is compatibility code and is
not a site. One under any other ``if``, in an ``except`` handler or in a nested function is ``conditional``.

Overrides: a class that subclasses a harvested class X (``class MyTrainer(Trainer)``) and defines a
method: an ``Override`` with the method's parameters, judged against the calls the base class makes
on ``self`` (``Base.self_calls``).
"""

from __future__ import annotations

import ast
import bisect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from envdoctor.source.syntax import availability_gates

_HANDLES = frozenset({"TypeError", "AttributeError", "Exception", "BaseException"})


@dataclass(frozen=True)
class Site:
    """One call of (or attribute use on) a harvested target, in a file of ``caller``."""

    caller: str  # canonical distribution name
    path: str  # the file, relative to the caller's site folder
    line: int
    callee: str  # canonical distribution name of the target
    target: str  # "accelerate.Accelerator.unwrap_model" (a call) or "accelerate.Accelerator" (a member use)
    keywords: tuple[str, ...] = ()
    member: str = ""  # a member use: the attribute read on an instance of ``target``
    function: str = ""  # where: "Trainer._wrap_model"
    conditional: bool = False
    receiver: str = ""  # how the class is known: "self.accelerator = Accelerator(...) at line 5176"


@dataclass(frozen=True)
class Override:
    """A method of a class of ``caller`` that overrides one of the harvested base class ``base``."""

    caller: str
    path: str
    line: int
    callee: str  # the base class's distribution
    base: str  # "transformers.Trainer"
    cls: str  # "DPOTrainer"
    method: str
    params: tuple[str, ...]  # positional-or-keyword (without self), then keyword-only
    positional: int  # how many of ``params`` can be passed by position
    var_positional: bool
    var_keyword: bool
    self_called: bool = False  # the class calls self.method(...) itself: it uses the name for its own purposes
    calls_super: bool = False  # the override calls super().method(...): the base's code still runs


@dataclass(frozen=True)
class SelfCall:
    """A call the base class ``base`` makes on ``self`` (``self.compute_loss(model, inputs, num_items_in_batch=n)``)."""

    callee: str
    base: str
    path: str
    line: int
    caller_method: str  # the base's method the call is in ("training_step")
    method: str  # the method called ("compute_loss")
    keywords: tuple[str, ...]
    positional: int  # arguments passed by position (-1 when a ``*args`` makes the number unknown)
    conditional: bool
    called: bool = True  # False: a reference (``find_executable_batch_size(self._inner_training_loop)``)


@dataclass(frozen=True)
class Targets:
    """The harvested vocabulary of one callee distribution: public name -> the modules it can be imported
    from; which names are classes with harvested methods or members; every harvested callable."""

    callee: str
    top: str  # its import name ("accelerate")
    modules: dict[str, frozenset[str]]  # "Accelerator" -> {"accelerate", "accelerate.accelerator"}
    classes: frozenset[str]  # "Accelerator"
    callables: frozenset[str]  # "accelerate.Accelerator.unwrap_model", "datasets.load_dataset", "trl.SFTConfig"
    volatile: frozenset[str] = frozenset()  # methods and members that some harvested release lacks or changes
    keywords: dict[str, frozenset[str]] = field(default_factory=dict)  # function -> keywords some release lacks


def file_calls(
    tree: ast.Module, source: bytes, targets: list[Targets], caller: str, path: str
) -> tuple[list[Site], list[Override]]:
    """The sites and overrides in one parsed file of ``caller`` (see the module's docstring). Function bodies
    are read only when the text calls a harvested name (``Accelerator(``): without a call there is no site."""
    bound = _bindings(tree, targets)
    if not bound:
        return [], []
    reader = _Reader(bound, {t.callee: t for t in targets}, caller, path)
    lines = source.split(b"\n")

    def text(node: ast.AST) -> bytes:
        return b"\n".join(lines[node.lineno - 1 : node.end_lineno])  # type: ignore[attr-defined]

    for klass in _classes(tree):
        reader.overrides_of(klass, text(klass))
    names = [re.escape(n).encode() + (rb"\s*\.\s*\w+" if d == t.top else b"") for n, (t, d) in bound.items()]
    at = _Lines(source)
    calls = at.matching(rb"(?:%s)\s*\(" % b"|".join(names), _not_after_word_or_dot)  # (?<![\w.]) searched apart
    if not calls:
        return [], reader.overrides  # nothing harvested is called: no constructor, no typed receiver
    functions = list(_functions(tree))
    read: dict[int, list[tuple[ast.AST, bool]]] = {}

    def nodes(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[tuple[ast.AST, bool]]:
        return read.setdefault(id(fn), list(_reached(fn.body, False)))

    for fn, cls in functions:  # self.a = X(...): the attributes that may be typed, per class
        if cls is not None and _within(calls, fn):
            reader.self_assignments(fn, cls, nodes(fn))
    typed = sorted({a for _, cls in functions if cls is not None for a in reader.attrs(cls)})
    if typed:
        words = b"|".join(re.escape(a).encode() for a in typed)
        assigned = at.matching(rb"\.(?:%s)\s*(?:[-+*/%%&|^@]?=(?!=)|:|,|\))" % words)
        for fn, cls in functions:  # and every other assignment to them in the class
            if cls is not None and id(fn) not in read and _within(assigned, fn):
                reader.self_assignments(fn, cls, nodes(fn))
        for fn, cls in functions:  # a class that sets attributes by name: none of them is known
            if cls is not None and _within(at.matching(rb"setattr\(\s*self\s*,"), fn):
                reader.opaque(cls)
    volatile = b"|".join(re.escape(n).encode() for t in targets for n in sorted(t.volatile))
    used = at.matching(rb"\.\s*(?:%s)\b" % volatile) if volatile else []
    mentioned = at.matching(rb"\.(?:%s)\b" % b"|".join(re.escape(a).encode() for a in typed)) if typed else []
    for fn, cls in functions:  # where a typed receiver is used for something a release may lack
        if _within(calls, fn) or (_within(used, fn) and _within(mentioned, fn)):
            reader.function(fn, cls, nodes(fn))
    return reader.sites, reader.overrides


class _Lines:
    """The line numbers where a pattern matches in a source, found with one scan of the whole text."""

    def __init__(self, source: bytes) -> None:
        self.source = source
        self.starts = [0, *(m.end() for m in re.finditer(rb"\n", source))]
        self._found: dict[tuple[bytes, Callable[[bytes, int], bool] | None], list[int]] = {}

    def matching(self, pattern: bytes, start: Callable[[bytes, int], bool] | None = None) -> list[int]:
        """The lines where ``pattern`` matches (``re.finditer``), at a start that ``start`` accepts, if given."""
        if (pattern, start) not in self._found:
            found = re.finditer(pattern, self.source) if start is None else matches(pattern, self.source, start)
            lines = (bisect.bisect_right(self.starts, m.start()) for m in found)
            self._found[pattern, start] = sorted(set(lines))
        return self._found[pattern, start]


def matches(pattern: bytes, data: bytes, start: Callable[[bytes, int], bool]) -> Iterator[re.Match[bytes]]:
    """What ``re.finditer`` gives for ``pattern`` with a test of where a match starts in front of it (``\\b``,
    ``^\\s*``, ``(?<![\\w.])``), searched without the test, which ``start`` makes instead: such a test in front
    makes the search try the pattern at every byte, without it the search skips to the pattern's first
    characters (10x faster on a large file). Every start the pattern matches at is tried, in order."""
    compiled = re.compile(pattern)
    at = 0
    while (m := compiled.search(data, at)) is not None:
        if start(data, m.start()):
            yield m
            at = max(m.end(), m.start() + 1)
        else:
            at = m.start() + 1


_WORD = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")  # \w of a bytes pattern
_WORD_OR_DOT = _WORD | {ord(".")}


def word_start(data: bytes, at: int) -> bool:
    """``\\b`` at ``at``: a word character on one side only."""
    return (at > 0 and data[at - 1] in _WORD) != (at < len(data) and data[at] in _WORD)


def line_start(data: bytes, at: int) -> bool:
    """Multiline ``^\\s*`` ends at ``at``: only whitespace before it on its line."""
    return not data[data.rfind(b"\n", 0, at) + 1 : at].strip()


def _not_after_word_or_dot(data: bytes, at: int) -> bool:
    """``(?<![\\w.])`` at ``at``."""
    return at == 0 or data[at - 1] not in _WORD_OR_DOT


def _within(lines: list[int], node: ast.AST) -> bool:
    """Whether one of ``lines`` (sorted) falls inside ``node``."""
    i = bisect.bisect_left(lines, node.lineno)  # type: ignore[attr-defined]
    return i < len(lines) and lines[i] <= node.end_lineno  # type: ignore[attr-defined]


def self_calls(
    tree: ast.Module, source: bytes, callee: str, base: str, *, path: str, wanted: set[str]
) -> list[SelfCall]:
    """What the methods of the class ``base`` (its last name) defined in ``tree`` do with ``self``: every
    ``self.x`` they name (``called`` False: the edges of the base's own call graph, read from the text) and
    the calls of the methods in ``wanted`` (read from the syntax tree)."""
    name = base.rpartition(".")[2]
    out: list[SelfCall] = []
    at = _Lines(source)
    lines = source.split(b"\n")
    pattern = rb"\.(?:%s)\s*\(" % b"|".join(re.escape(m).encode() for m in sorted(wanted)) if wanted else None
    for fn, cls in _functions(tree):
        if cls is None or cls.name != name or not fn.args.args:
            continue
        me = fn.args.args[0].arg
        text = b"\n".join(lines[fn.lineno - 1 : fn.end_lineno])
        for ref in sorted(set(re.findall(rb"\b%s\s*\.\s*(\w+)" % re.escape(me).encode(), text))):
            out.append(SelfCall(callee, base, path, fn.lineno, fn.name, ref.decode(), (), -1, False, False))
        if pattern is None or not _within(at.matching(pattern), fn):
            continue
        for node, conditional in _reached(fn.body, False):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == me
                and node.func.attr in wanted
            ):
                starred = any(isinstance(a, ast.Starred) for a in node.args)
                positional = -1 if starred else len(node.args)
                kws = _keywords(node)
                out.append(
                    SelfCall(callee, base, path, node.lineno, fn.name, node.func.attr, kws, positional, conditional)
                )
    return out


def base_methods(tree: ast.Module, base: str) -> dict[str, list[object]]:
    """The methods of the class ``base`` defined in ``tree``: name -> [parameter names, how many can be passed
    by position] (without self)."""
    name = base.rpartition(".")[2]
    out: dict[str, list[object]] = {}
    for fn, cls in _functions(tree):
        if cls is not None and cls.name == name:
            a = fn.args
            positional = [p.arg for p in [*a.posonlyargs, *a.args]][1:]
            out[fn.name] = [[*positional, *(p.arg for p in a.kwonlyargs)], len(positional)]
    return out


def _bindings(tree: ast.Module, targets: list[Targets]) -> dict[str, tuple[Targets, str]]:
    """Local name -> (its distribution's targets, the public dotted name) for every import of a harvested
    name; ``import P [as Q]`` binds Q to (targets, "P")."""
    by_top = {t.top: t for t in targets}
    out: dict[str, tuple[Targets, str]] = {}
    for node in _statements(tree.body):
        if isinstance(node, ast.ImportFrom) and node.module and not node.level:
            t = by_top.get(node.module.split(".", maxsplit=1)[0])
            if t is None:
                continue
            for alias in node.names:
                if node.module in t.modules.get(alias.name, ()):
                    out[alias.asname or alias.name] = (t, f"{t.top}.{alias.name}")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                t = by_top.get(alias.name)
                if t is not None:
                    out[alias.asname or alias.name] = (t, t.top)
    return out


def _statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement, nested bodies included (never an expression: much cheaper than ast.walk)."""
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.stmt):
            yield node
        for name in _nested(type(node)):
            value = getattr(node, name, None)
            if isinstance(value, list):
                stack.extend(value)


def _nested(kind: type[ast.AST]) -> tuple[str, ...]:
    """The fields of a node type that hold statements (looking up the absent ones cost more than the walk)."""
    found = _NESTED.get(kind)
    if found is None:
        found = _NESTED[kind] = tuple(n for n in _BODIES if n in kind._fields)
    return found


_BODIES = ("body", "orelse", "finalbody", "handlers", "cases")
_NESTED: dict[type[ast.AST], tuple[str, ...]] = {}


def _classes(tree: ast.Module) -> Iterator[ast.ClassDef]:
    return (n for n in _statements(tree.body) if isinstance(n, ast.ClassDef))


def _functions(tree: ast.Module) -> Iterator[tuple[ast.FunctionDef | ast.AsyncFunctionDef, ast.ClassDef | None]]:
    """Every outermost function: module-level ones, and the methods of every class (nested ones too)."""
    stack: list[tuple[ast.AST | _Block, ast.ClassDef | None]] = [(tree, None)]
    while stack:
        node, cls = stack.pop()
        for child in getattr(node, "body", ()):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                yield child, cls
            elif isinstance(child, ast.ClassDef):
                stack.append((child, child))
            elif isinstance(child, ast.If | ast.Try):
                stack.append((_Block([*child.body, *child.orelse, *getattr(child, "finalbody", [])]), cls))


@dataclass
class _Block:
    body: list[ast.stmt]


class _Reader:
    def __init__(
        self, bound: dict[str, tuple[Targets, str]], targets: dict[str, Targets], caller: str, path: str
    ) -> None:
        self.bound = bound
        self.targets = targets
        self.caller = caller
        self.path = path
        self.sites: list[Site] = []
        self.overrides: list[Override] = []
        self._seen: dict[int, dict[str, dict[str | None, int]]] = {}  # id(ClassDef) -> attr -> {class: line}

    def resolve(self, node: ast.expr) -> tuple[Targets, str] | None:
        """The harvested public name ``node`` stands for (``Accelerator``, ``accelerate.Accelerator``)."""
        if isinstance(node, ast.Name) and node.id in self.bound:
            t, dotted = self.bound[node.id]
            return (t, dotted) if dotted != t.top else None
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in self.bound:
            t, dotted = self.bound[node.value.id]
            return (t, f"{t.top}.{node.attr}") if dotted == t.top and node.attr in t.modules else None
        return None

    def constructed(self, value: ast.expr | None) -> str | None:
        """``X(...)`` of a harvested class X: its dotted name; "" for None; else None."""
        if isinstance(value, ast.Constant) and value.value is None:
            return ""
        if isinstance(value, ast.Call):
            found = self.resolve(value.func)
            if found is not None and found[1].rpartition(".")[2] in found[0].classes:
                return found[1]
        return None

    def self_assignments(
        self, fn: ast.FunctionDef | ast.AsyncFunctionDef, cls: ast.ClassDef, nodes: list[tuple[ast.AST, bool]]
    ) -> None:
        """What one method of ``cls`` assigns to ``self.a``: ``self.a = X(...)`` makes ``a`` an X, as long as
        every other assignment to it in the class does the same (or assigns None)."""
        if not fn.args.args:
            return
        me = fn.args.args[0].arg
        seen = self._seen.setdefault(id(cls), {})
        for sub, _ in nodes:
            for target, value, line in _assignments(sub):
                if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == me:
                    kinds = seen.setdefault(target.attr, {})
                    kind = self.constructed(value)
                    kinds[kind] = min(kinds.get(kind, line), line)

    def opaque(self, cls: ast.ClassDef | None) -> None:
        """A class that sets attributes by name (``setattr(self, ...)``): none of its attributes is typed."""
        if cls is not None:
            self._seen[id(cls)] = {"": {None: 0}}

    def attrs(self, cls: ast.ClassDef) -> dict[str, tuple[str, str]]:
        if "" in self._seen.get(id(cls), {}):
            return {}
        typed = {}
        for attr, kinds in self._seen.get(id(cls), {}).items():
            classes = set(kinds) - {""}
            if len(classes) == 1 and None not in classes:
                dotted = next(iter(classes))
                assert dotted is not None
                at = kinds[dotted]
                typed[attr] = (dotted, f"self.{attr} = {dotted.rpartition('.')[2]}(...) at line {at}")
        return typed

    def overrides_of(self, node: ast.ClassDef, text: bytes) -> None:
        """The methods a class defines over a harvested base class's (``class MyTrainer(Trainer)``)."""
        for base in node.bases:
            found = self.resolve(base)
            if found is not None and found[1].rpartition(".")[2] in found[0].classes:
                self._overrides(node, found[0], found[1], text)

    def _overrides(self, node: ast.ClassDef, t: Targets, base: str, text: bytes) -> None:
        lines = text.split(b"\n")
        for fn in node.body:
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef) or fn.name.startswith("__"):
                continue
            if any(isinstance(d, ast.Name) and d.id in ("staticmethod", "classmethod") for d in fn.decorator_list):
                continue
            a = fn.args
            positional = [p.arg for p in [*a.posonlyargs, *a.args]][1:]
            params = (*positional, *(p.arg for p in a.kwonlyargs))
            self.overrides.append(
                Override(
                    self.caller,
                    self.path,
                    fn.lineno,
                    t.callee,
                    base,
                    node.name,
                    fn.name,
                    params,
                    len(positional),
                    a.vararg is not None,
                    a.kwarg is not None,
                    f"self.{fn.name}(".encode() in text,
                    b"super(" in text and _calls_super(lines, node, fn),
                )
            )

    def function(
        self, fn: ast.FunctionDef | ast.AsyncFunctionDef, cls: ast.ClassDef | None, nodes: list[tuple[ast.AST, bool]]
    ) -> None:
        me = fn.args.args[0].arg if cls is not None and fn.args.args else None
        attrs = self.attrs(cls) if cls is not None else {}
        local = self._locals(fn, nodes)
        name = f"{cls.name}.{fn.name}" if cls is not None else fn.name
        for node, conditional in nodes:
            self._site(node, conditional, name, _Typed(me, attrs, local))

    def _locals(
        self, fn: ast.FunctionDef | ast.AsyncFunctionDef, nodes: list[tuple[ast.AST, bool]]
    ) -> dict[str, tuple[str, str]]:
        a = fn.args
        unknown = {p.arg for p in [*a.posonlyargs, *a.args, *a.kwonlyargs, a.vararg, a.kwarg] if p is not None}
        kinds: dict[str, set[str | None]] = {}
        where: dict[str, int] = {}
        plain: set[int] = set()
        for sub, _ in nodes:
            if isinstance(sub, ast.Global | ast.Nonlocal):
                unknown.update(sub.names)
            for target, value, line in _assignments(sub):
                if isinstance(target, ast.Name):
                    plain.add(id(target))
                    kind = self.constructed(value)
                    kinds.setdefault(target.id, set()).add(kind)
                    if kind:
                        where.setdefault(target.id, line)
        for sub, _ in nodes:  # for, with ... as, a walrus, del, an import: not known
            if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store | ast.Del) and id(sub) not in plain:
                unknown.add(sub.id)
            elif isinstance(sub, ast.Import | ast.ImportFrom):
                unknown.update((n.asname or n.name).split(".")[0] for n in sub.names)
        out = {}
        for var, found in kinds.items():
            classes = found - {""}
            if var not in unknown and len(classes) == 1 and None not in classes:
                dotted = next(iter(classes))
                assert dotted is not None
                out[var] = (dotted, f"{var} = {dotted.rpartition('.')[2]}(...) at line {where[var]}")
        return out

    def _site(self, node: ast.AST, conditional: bool, function: str, typing: _Typed) -> None:
        """A call of a harvested name (``Accelerator(x=...)``), a call of a harvested method on a typed receiver
        (``self.accelerator.unwrap_model(m, k=...)``), or a member read on one (``self.accelerator.free_memory``)."""
        if isinstance(node, ast.Call):
            found = self.resolve(node.func)
            if found is not None:
                t, dotted = found
                target = f"{dotted}.__init__" if f"{dotted}.__init__" in t.callables else dotted
                if target in t.callables and _keywords(node):
                    self._add(t, target, node, function, conditional, keywords=_keywords(node), receiver="")
                return
            typed = typing.of(node.func.value) if isinstance(node.func, ast.Attribute) else None
            if typed is not None and _keywords(node):
                method = f"{typed[0]}.{node.func.attr}"  # type: ignore[attr-defined]
                if method in self._of(typed[0]).callables:
                    self._add(self._of(typed[0]), method, node, function, conditional,
                              keywords=_keywords(node), receiver=typed[1])  # fmt: skip
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            typed = typing.of(node.value)
            if typed is not None:
                self._add(self._of(typed[0]), typed[0], node, function, conditional, member=node.attr,
                          receiver=typed[1])  # fmt: skip

    def _of(self, dotted: str) -> Targets:
        top = dotted.split(".", maxsplit=1)[0]
        return next(t for t in self.targets.values() if t.top == top)

    def _add(self, t: Targets, target: str, node: ast.AST, function: str, conditional: bool, **kw: object) -> None:
        line = getattr(node, "lineno", 0)
        self.sites.append(Site(self.caller, self.path, line, t.callee, target, function=function,
                               conditional=conditional, **kw))  # type: ignore[arg-type]  # fmt: skip


def _calls_super(lines: list[bytes], cls: ast.ClassDef, fn: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Whether the method ``fn`` of ``cls`` (whose source lines are ``lines``) calls ``super().<name>(...)``."""
    start = cls.lineno
    body = b"\n".join(lines[fn.lineno - start : (fn.end_lineno or fn.lineno) - start + 1])
    if b"super(" not in body:
        return False
    return re.search(rb"super\([^)]*\)\s*\.\s*%s\s*\(" % re.escape(fn.name).encode(), body) is not None


@dataclass(frozen=True)
class _Typed:
    """The receivers of known class in one function: ``self.a`` (``me`` is the method's first parameter) and
    local names; each maps to (the class's dotted name, how it is known)."""

    me: str | None
    attrs: dict[str, tuple[str, str]]
    local: dict[str, tuple[str, str]]

    def of(self, recv: ast.expr) -> tuple[str, str] | None:
        if isinstance(recv, ast.Attribute) and isinstance(recv.value, ast.Name) and recv.value.id == self.me:
            return self.attrs.get(recv.attr)
        if isinstance(recv, ast.Name):
            return self.local.get(recv.id)
        return None


def _keywords(call: ast.Call) -> tuple[str, ...]:
    return tuple(k.arg for k in call.keywords if k.arg is not None)


def _assignments(node: ast.AST) -> Iterator[tuple[ast.expr, ast.expr | None, int]]:
    """(target, value, line) of an assignment statement; a target inside a tuple gets None (unknown)."""
    if isinstance(node, ast.Assign):
        for target in node.targets:
            if isinstance(target, ast.Tuple | ast.List):
                yield from ((elt, None, node.lineno) for elt in target.elts)
            else:
                yield target, node.value, node.lineno
    elif isinstance(node, ast.AnnAssign) and node.value is not None:
        yield node.target, node.value, node.lineno
    elif isinstance(node, ast.AugAssign):
        yield node.target, None, node.lineno


def _reached(body: list[ast.stmt], conditional: bool) -> Iterator[tuple[ast.AST, bool]]:
    """Every expression node of ``body`` with whether it runs only sometimes; compatibility code (a version or
    availability test's branches, a try that handles TypeError or AttributeError) is left out."""
    for stmt in body:
        for node in _own(stmt):
            for sub in ast.walk(node):
                yield sub, conditional
        if isinstance(stmt, ast.If):
            if _versioned(stmt.test) or availability_gates(stmt.test):
                continue
            yield from _reached(stmt.body, True)
            yield from _reached(stmt.orelse, True)
        elif isinstance(stmt, ast.Try) or type(stmt).__name__ == "TryStar":
            handlers: list[ast.ExceptHandler] = stmt.handlers  # type: ignore[attr-defined]
            if not any(_handles(h) for h in handlers):
                yield from _reached(stmt.body, conditional)  # type: ignore[attr-defined]
            for h in handlers:
                yield from _reached(h.body, True)
            yield from _reached(stmt.orelse + stmt.finalbody, conditional)  # type: ignore[attr-defined]
        elif isinstance(stmt, ast.For | ast.AsyncFor | ast.While | ast.With | ast.AsyncWith):
            yield from _reached(stmt.body, conditional)
            yield from _reached(getattr(stmt, "orelse", []), True)
        elif isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            yield from _reached(stmt.body, True)
        elif isinstance(stmt, ast.Match):
            for case in stmt.cases:
                yield from _reached(case.body, True)


_VERSIONISH = re.compile(r"version|_lt_|_le_|_gt_|_ge_|_eq_", re.IGNORECASE)


def _versioned(test: ast.expr) -> bool:
    """envdoctor.source.syntax.version_test without unparsing: a name, attribute or string in the test that
    reads like a version (``sys.version_info`` is not one)."""
    for node in ast.walk(test):
        text = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        if text and text != "version_info" and _VERSIONISH.search(text):
            return True
    return False


def _own(stmt: ast.stmt) -> list[ast.AST]:
    """The expressions a statement evaluates itself (a compound statement's test or items, not its body)."""
    if isinstance(stmt, ast.If | ast.While):
        return [stmt.test]
    if isinstance(stmt, ast.For | ast.AsyncFor):
        return [stmt.target, stmt.iter]
    if isinstance(stmt, ast.With | ast.AsyncWith):
        return [e for i in stmt.items for e in (i.context_expr, i.optional_vars) if e is not None]
    if isinstance(stmt, ast.Match):
        return [stmt.subject]
    if (
        isinstance(stmt, ast.Try | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        or type(stmt).__name__ == "TryStar"
    ):
        return []
    return [stmt]


def _handles(handler: ast.ExceptHandler) -> bool:
    if handler.type is None:
        return True
    kinds = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any((k.id if isinstance(k, ast.Name) else getattr(k, "attr", "")) in _HANDLES for k in kinds)
