"""Reading Python source as text, without a parser: cheap enough for every installed file.

``scan_imports`` finds absolute import statements (bytes.find, no regex over the file, no ast); may
include lines inside strings, which callers confirm with envdoctor.source.syntax before reporting.
``literal_all`` and ``defined_at_top`` answer "is this name there?" for the plain cases, so that big
modules need no parse. Pure functions: bytes in, values out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass


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


_MAX_PREFIX = 4096
"""How far back a binding line's start is looked for: ``from x import a, b, ..., name`` is never longer."""


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
            floor = max(0, pos - _MAX_PREFIX)  # bounded: one huge line costs no more than a short one
            newline = data.rfind(b"\n", floor, pos)
            if (newline >= 0 or floor == 0) and _binds(data[newline + 1 : pos], data[end : end + 6]):
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
