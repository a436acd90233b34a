"""Reading Python source as text, without a parser: cheap enough for every installed file.

``scan_imports`` finds absolute import statements (bytes.find, no regex over the file, no ast); may
include lines inside strings, which callers confirm with envdoctor.source.syntax before reporting.
``literal_all`` and ``defined_at_top`` answer "is this name there?" for the plain cases, so that big
modules need no parse. Pure functions: bytes in, values out.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from envdoctor.source.blocks import IGNORED, STATEMENT, place, words


@dataclass(frozen=True)
class ImportLine:
    """``from module import names`` (names non-empty) or ``import module`` (names empty)."""

    module: str
    names: tuple[str, ...]
    line: int
    indented: bool


_IDENT = re.compile(r"^[A-Za-z_][\w.]*$")


def scan_imports(
    data: bytes, wanted: frozenset[bytes] | None = None, *, skip: frozenset[bytes] = frozenset()
) -> list[ImportLine]:
    """Absolute import statements in ``data``, found by text. May include lines inside strings:
    callers confirm a suspicious one with ``import_sites`` before reporting it.

    ``wanted``: only imports whose top-level name is in it; ``skip``: not those whose top-level names are
    all in it (the standard library, the package's own). The others are not even decoded.
    """
    out: list[ImportLine] = []
    keep: Callable[[bytes], bool] | None = None
    if wanted is not None:
        keep = (lambda top: top in wanted and top not in skip) if skip else wanted.__contains__
    elif skip:
        keep = lambda top: top not in skip  # noqa: E731
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
        if keep is not None and not _wanted(stripped, keep):
            continue
        line_no += data.count(b"\n", counted_to, start)
        counted_to = start
        text = stripped.decode("utf-8", "replace")
        if text.endswith("\\") or ("(" in text and ")" not in text):
            text, pos = _continued(data, text, end)
        indented = len(raw) != len(stripped)
        out.extend(_parse_line(text, line_no, indented))


def _wanted(stripped: bytes, wanted: Callable[[bytes], bool]) -> bool:
    if stripped.startswith(b"from "):
        return wanted(stripped[5:].lstrip().split(b".", 1)[0].split(b" ", 1)[0])
    # `import a, b.c as d`: any of them
    body = stripped[7:].split(b"#", 1)[0]
    return any(wanted(part.strip().split(b".", 1)[0].split(b" ", 1)[0]) for part in body.split(b","))


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
    start = assignments[0][0]
    if start and data[start - 1 : start] != b"\n":
        return None  # set inside a block: leave it to the parser
    if place(data, start, assignment=True) != STATEMENT:
        return None  # inside a string or brackets, or cannot tell
    step = _all_step(data, start + 7)
    return step[1] if step is not None and step[0] else None  # something other than plain strings in the list


_LIST = re.compile(rb"""([\[(])((?:\s|\\\r?\n|#[^\n]*|"[A-Za-z_]\w*"|'[A-Za-z_]\w*'|,)*)([\])])""")
_ONE = re.compile(rb"""[ \t]*("[A-Za-z_]\w*"|'[A-Za-z_]\w*')[ \t]*""")
_ALL_STEP = re.compile(rb"[ \t]*(?:(=)(?!=)|(\+=)|:[^=\n]*=(?!=)|\.(extend|append)[ \t]*\()[ \t]*")
_LINE_END = re.compile(rb"[ \t]*(?:#[^\n]*)?(?:\n|\Z)")
_DYNAMIC = {
    b"__getattr__": b"",
    b"attach_stub": b"",
    b"globals": b"[",
    b"vars": b"[",
    b"exec": b"[",
    b"modules": b"(",
}
"""The words without which parse_module finds no module dynamic nor loading a stub, and for each, what may follow
it besides ``.,:=]}``, a letter, a digit or a quote (then it is not the callee of ``globals()``, ``vars()``,
``exec()`` nor the ``sys.modules`` of ``sys.modules[...] =``)."""


def _may_be_dynamic(data: bytes, word: bytes, pos: int) -> bool:
    nxt = data[pos + len(word) : pos + len(word) + 80].lstrip(b" \t")[:1]
    harmless = _DYNAMIC[word]
    if harmless and nxt and (nxt in b".,:=]}\"'" + harmless or nxt.isalnum()):
        return False
    return place(data, pos) != IGNORED


def built_all(data: bytes) -> tuple[str, ...] | None:
    """``__all__`` as parse_module reads it, when every statement that sets or extends it is plain: at module
    level (column 0, or directly under a plain column-0 ``if``/``else``/``try``...; those in a def or class
    body do not count, as for the parse), ``__all__ = [literal strings]``, ``+= [...]``, ``.extend([...])`` or
    ``.append("name")``, each conditional addition included (the parse reads both branches). None when any is
    less plain, or when the module may be dynamic (a module ``__getattr__``, ``globals()``, ``exec``,
    ``sys.modules``, a lazy stub outside a def): the star import then reads the parse.
    """
    for word in _DYNAMIC:
        if any(_may_be_dynamic(data, word, pos) for pos in words(data, word, dotted=True)):
            return None
    found: tuple[str, ...] | None = None
    for pos in words(data, b"__all__"):
        where = place(data, pos, assignment=True)
        if where == IGNORED:
            continue
        step = _all_step(data, pos + 7) if where == STATEMENT else None
        if step is None:
            return None
        replace, names = step
        found = names if replace else found + names if found is not None else None
    return found


def _all_step(data: bytes, pos: int) -> tuple[bool, tuple[str, ...]] | None:
    """What the statement ``__all__...`` whose rest begins at ``pos`` does: (True, names) sets it, (False, names)
    adds to it; None when it is anything else."""
    op = _ALL_STEP.match(data, pos)
    if op is None:
        return None
    if op.group(3) == b"append":
        one = _ONE.match(data, op.end())
        if one is None:
            return None
        names: tuple[str, ...] = (one.group(1)[1:-1].decode(),)
        end = one.end()
    else:
        listed = _LIST.match(data, op.end())
        if listed is None or b"[(".index(listed.group(1)) != b"])".index(listed.group(3)):
            return None
        pieces = [p.strip() for p in re.sub(rb"#[^\n]*|\\", b"", listed.group(2)).split(b",")]
        if pieces[-1] == b"":
            pieces.pop()
        if not all(_STRING.fullmatch(p) for p in pieces):
            return None
        names, end = tuple(p[1:-1].decode() for p in pieces), listed.end()
    if op.group(3):
        call = re.compile(rb"[ \t]*\)").match(data, end)
        if call is None:
            return None
        end = call.end()
    return (op.group(3) is None and op.group(2) is None, names) if _LINE_END.match(data, end) else None


_MAX_PREFIX = 4096
"""How far back a binding line's start is looked for: ``from x import a, b, ..., name`` is never longer."""


def defined_at_top(data: bytes, name: str) -> bool:
    """True when a statement at module level binds ``name``: ``def name``, ``class name``, ``name =``,
    ``name: T =``, or an import that binds it (one line, or a parenthesised ``from x import (...)``), at column 0
    or directly in the body of a plain column-0 ``if``/``else``/``try``/``except``/``with``/``for``
    (envdoctor.source.blocks.place: not inside a string, nor brackets). A shortcut that saves parsing big modules
    (transformers' modeling_utils.py is 250 kB) when what is imported from them is plainly there; exact where it
    says True (parse_module binds the name); False means "not by this shortcut", and the caller parses.
    """
    if keyword.iskeyword(name):  # `else:` is no annotation
        return False
    word = name.encode()
    size = len(word)
    pos = data.find(word)
    while pos >= 0:
        end = pos + size
        before = data[pos - 1 : pos]
        after = data[end : end + 1]
        if not (before.isalnum() or before == b"_") and not (after.isalnum() or after == b"_"):
            floor = max(0, pos - _MAX_PREFIX)  # bounded: one huge line costs no more than a short one
            newline = data.rfind(b"\n", floor, pos)
            if (newline >= 0 or floor == 0) and _bound_at(data, newline + 1, pos, end):
                return True
        pos = data.find(word, end)
    return False


def _bound_at(data: bytes, start: int, pos: int, end: int) -> bool:
    """Whether the word at ``pos``..``end`` on the line that begins at ``start`` is bound by a module-level
    statement."""
    body = data[start:pos].lstrip(b" \t")
    if _binds(body, data[end : end + 200]):
        assignment = not body.startswith((b"def ", b"class ", b"async ", b"import ", b"from "))
        return place(data, pos - len(body), assignment=assignment) == STATEMENT
    statement = _paren_import(data, start, pos - len(body), body, end)
    return statement is not None and place(data, statement) == STATEMENT


_NAMES = rb"(?:\w+(?:[ \t]+as[ \t]+\w+)?[ \t]*,[ \t]*)*(?:\w+[ \t]+as[ \t]+)?"
_OPENER = rb"from[ \t]+\.*[\w.]*[ \t]+import[ \t]*\([ \t]*"
_PAREN_HEAD = re.compile(_OPENER + _NAMES)
_PAREN_BODY = re.compile(_NAMES)
_OPENER_LINE = re.compile(rb"[ \t]*" + _OPENER + rb"[\w \t,]*(?:#[^\n]*)?\r?")
_BODY_LINE = re.compile(rb"[\w \t,]*(?:#[^\n]*)?\r?")
_MAX_PAREN_LINES = 400


def _paren_import(data: bytes, start: int, first: int, body: bytes, end: int) -> int | None:
    """Where the ``from x import (`` statement begins that binds the word ending at ``end`` (on the line that
    begins at ``start``, whose text begins at ``first`` with ``body`` before the word), when the word sits in its
    parentheses and is not followed by ``as``; None otherwise."""
    after = data[end : end + 40]
    if after[:1] not in (b" ", b"\t", b"\r", b"\n", b",", b")"):
        return None
    tail = after.lstrip()
    if tail.startswith((b"#", b"\\")) or (tail.startswith(b"as") and tail[2:3] in (b" ", b"\t", b"\n", b"\r")):
        return None
    if _PAREN_HEAD.fullmatch(body):
        return first
    if not _PAREN_BODY.fullmatch(body):
        return None
    pos = start
    for _ in range(_MAX_PAREN_LINES):
        if pos == 0:
            return None
        prev = data.rfind(b"\n", 0, pos - 1) + 1
        text = data[prev : pos - 1]
        if _OPENER_LINE.fullmatch(text):
            return prev + len(text) - len(text.lstrip(b" \t"))
        if not _BODY_LINE.fullmatch(text):
            return None
        pos = prev
    return None


_CHAINED = re.compile(rb"(?:\w+[ \t]*=(?!=)[ \t]*)+")
_TUPLE = re.compile(rb"(?:\w+[ \t]*,[ \t]*)+")
_ASSIGNED = re.compile(rb"[ \t]*=(?!=)")
_TUPLE_REST = re.compile(rb"[ \t]*(?:,[ \t]*\w+[ \t]*)+,?[ \t]*=(?!=)")
"""The targets of an assignment of several names, before and after the one at hand."""
_AS = re.compile(rb"(?:\.\w+)*[ \t]+as\b")


def _binds(prefix: bytes, rest: bytes) -> bool:
    if prefix in (b"def ", b"class ", b"async def "):
        return True
    if prefix == b"import ":  # `import name.sub as x` binds x
        return _AS.match(rest) is None
    if prefix == b"":
        tail = rest.lstrip(b" ")
        return (tail.startswith((b"=", b":")) and not tail.startswith(b"==")) or _TUPLE_REST.match(rest) is not None
    if _CHAINED.fullmatch(prefix):  # `a = name = value`
        return _ASSIGNED.match(rest) is not None
    if _TUPLE.fullmatch(prefix):  # `a, b, name, c = value`
        return _TUPLE_REST.match(rest) is not None or _ASSIGNED.match(rest) is not None
    if prefix.startswith((b"from ", b"import ")) and b"(" not in prefix and b"\\" not in prefix:
        if b"#" in prefix or b";" in prefix:
            return False
        return (
            b" import " in prefix
            and not rest.startswith(b" as ")
            and prefix.rstrip().endswith((b"import", b",", b" as"))
        )
    return False


_COLUMN0 = re.compile(
    rb"^(?:from[ \t]+(\.*)([\w.]*)[ \t]+import[ \t]*(\([^)]*\)|[^\n#;]*)|import[ \t]+([^\n#;]*))", re.MULTILINE
)


_LINE_START = re.compile(rb"\n(?=from|import)")
"""Where a column-0 import can start (after the first line): a regex with ``^`` and re.MULTILINE tries every
position of the file, this one only the newlines."""


def _column0_matches(data: bytes) -> Iterator[re.Match[bytes]]:
    """What ``_COLUMN0.finditer(data)`` gives, trying the pattern only at the starts of lines that begin with
    ``from`` or ``import``."""
    start = 0 if data.startswith((b"from", b"import")) else -1
    pos = 0
    while True:
        if start < 0:
            found = _LINE_START.search(data, pos)
            if found is None:
                return
            start = found.end()
        m = _COLUMN0.match(data, start)
        pos, start = (m.end() if m else start), -1
        if m:
            yield m


def column0_imports(data: bytes) -> list[tuple[int, str, tuple[str, ...]]]:
    """(level, module, names) for each import statement that starts at column 0: it runs whenever the module
    is imported (an ``if``, ``try``, ``def`` or ``with`` would indent it). ``import a.b, c`` gives one entry per
    module, with no names; ``from .x import (y, z)`` may span lines."""
    out: list[tuple[int, str, tuple[str, ...]]] = []
    for m in _column0_matches(data):
        if m.group(4) is not None:
            for part in m.group(4).decode("utf-8", "replace").rstrip("\\ \t\r").split(","):
                module = part.strip().split(" ", 1)[0]
                if module:
                    out.append((0, module, ()))
            continue
        raw = m.group(3).decode("utf-8", "replace").strip().strip("()\\")
        names = tuple(n.strip().split(" ", 1)[0] for n in raw.replace("\n", ",").split(",") if n.strip())
        out.append((len(m.group(1)), m.group(2).decode("utf-8", "replace"), names))
    return out
