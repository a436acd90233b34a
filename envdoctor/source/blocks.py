"""Where a line of Python source sits, read from the text without a parser: inside a triple-quoted string, at
module level (column 0, or directly in the body of a plain ``if``/``else``/``try``/``except``/``with``/``for``
at column 0), or in a ``def``/``class`` body. What envdoctor.source.syntax's parse walks is module level; a
def or class body it skips. Each answer is exact for a source that parses, or None ("cannot tell": the caller
parses). The text shortcuts of envdoctor.source.text build on it. Pure functions: bytes in, values out.
"""

from __future__ import annotations

import bisect
import re

IGNORED = "ignored"
"""A place the parse does not read for names: a comment line, a string's content, a def or class body."""
STATEMENT = "statement"
"""The start of a statement the parse reads: at column 0 or directly under a plain column-0 header."""

_PREFIX_LETTERS = b"rRbBuUfF"
_KEYWORDS = frozenset(
    b"and as assert async await class def del elif else except finally for from global if import in is lambda "
    b"nonlocal not or try while with yield".split()
)
"""Words a line within brackets can end with (``lambda``, ``else``, ``in``...), or that cannot end a statement."""
_HEADER = re.compile(rb"(?:(?:if|elif|while|for|with|except)\b.*|(?:else|try|finally|except)[ \t]*):")
"""A column-0 block header whose body the parse walks (a ``def``, ``class``, ``match`` or ``async`` is not one)."""
_STAR_IMPORT = re.compile(rb"[ \t]*from[ \t]+[\w.]+[ \t]+import[ \t]*\*")
_SIMPLE_STRING = re.compile(rb""""(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'""")


def _continues(data: bytes, start: int) -> bool:
    """Whether the line before the one that begins at ``start`` ends with a backslash."""
    end = start - 1
    if end > 0 and data[end - 1 : end] == b"\r":
        end -= 1
    return end > 0 and data[end - 1 : end] == b"\\"


def _closing(data: bytes, quote: bytes, pos: int) -> int:
    """Where the triple-quoted string whose text starts at ``pos`` ends (-1: never): an escaped quote does not."""
    while True:
        k = data.find(quote, pos)
        if k < 0:
            return -1
        n = 0
        while data[k - 1 - n] == 92:  # a backslash
            n += 1
        if n % 2 == 0:
            return k
        pos = k + 1


def string_end(data: bytes, start: int) -> int | None:
    """For the line that begins at ``start``: -1 when it begins outside any string; where the triple-quoted string
    it begins in closes when it begins inside one; None when the quotes before it do not say plainly (a triple
    quote with a ``#`` or another quote before it on its line, a line continued by a backslash)."""
    if _continues(data, start):
        return None
    spans, plain_to = _strings(data, start)
    k = bisect.bisect_right(spans, (start, len(data) + 1)) - 1  # the last string that opens before ``start``
    if k >= 0 and spans[k][1] >= start:
        return spans[k][1] if spans[k][0] < start else -1
    return -1 if start <= plain_to else None


class _Scan:
    """The triple-quoted strings of one source, found up to where they were asked for."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.spans: list[tuple[int, int]] = []  # (opening quote, closing quote), in order
        self.pos, self.a, self.b = 0, -2, -2  # where to go on; the next triple quote of each kind (-2: not sought)
        self.stop: int | None = None  # a triple quote that does not read plainly: nothing is known past it
        self.done = False

    def known_to(self, start: int) -> int:
        """Read on until past ``start``; how far the strings are known (``start`` or more, unless a triple quote
        before it has a ``#`` or another quote before it on its line, a backslash continuing a line into it, or
        never closes)."""
        data = self.data
        while self.pos <= start and self.stop is None and not self.done:
            if self.a == -2 or -1 < self.a < self.pos:  # each kind's next triple quote, found again once passed
                self.a = data.find(b'"""', self.pos)
            if self.b == -2 or -1 < self.b < self.pos:
                self.b = data.find(b"'''", self.pos)
            a, b = self.a, self.b
            if a < 0 and b < 0:
                self.done = True
                break
            j = a if b < 0 or 0 <= a < b else b
            line = data.rfind(b"\n", 0, j) + 1
            head = data[line:j].rstrip(_PREFIX_LETTERS)
            close = -1
            if not (b"#" in head or b'"' in head or b"'" in head or _continues(data, line)):
                close = _closing(data, data[j : j + 3], j + 3)
            if close < 0:
                self.stop = j
                break
            self.spans.append((j, close))
            self.pos = close + 3
        return self.stop if self.stop is not None else len(data)


_last: list[_Scan] = []
"""The scan of the source read last: the shortcuts ask about one module several times in a row."""


def _strings(data: bytes, start: int) -> tuple[list[tuple[int, int]], int]:
    if not _last or _last[0].data is not data:
        _last[:] = [_Scan(data)]
    scan = _last[0]
    return scan.spans, scan.known_to(start)


def _line_start(data: bytes, pos: int) -> int:
    return data.rfind(b"\n", 0, pos) + 1


def _line(data: bytes, start: int) -> bytes:
    end = data.find(b"\n", start)
    return data[start : len(data) if end < 0 else end].rstrip(b"\r")


def _indent(line: bytes) -> int:
    return len(line) - len(line.lstrip(b" \t"))


def _blank(line: bytes) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith(b"#")


def _code(line: bytes) -> bytes | None:
    """The line without its comment and strings (each string left as ``""``); None when that is not plain."""
    text = _SIMPLE_STRING.sub(b'""', line)
    if b"'" in text.replace(b'""', b"") or b'"' in text.replace(b'""', b""):
        return None
    return text.split(b"#", 1)[0].rstrip()


def _previous_code_line(data: bytes, start: int, stop: int) -> int | None:
    """The start of the nearest line before ``start`` (not before ``stop``) that is neither blank nor a comment."""
    pos = start
    while pos > stop:
        prev = _line_start(data, pos - 1)
        if not _blank(_line(data, prev)):
            return prev
        pos = prev
    return None


def _header(data: bytes, start: int) -> int | None:
    """The start of the nearest column-0 line before ``start`` that is neither blank nor a comment."""
    pos = start
    while pos > 0:
        pos = _line_start(data, pos - 1)
        first = data[pos : pos + 1]
        if first not in (b" ", b"\t", b"\n", b"\r", b"#"):
            return pos
    return None


def _block(data: bytes, start: int, indent: int) -> str | None:
    """For an indented line that begins at ``start`` outside strings: IGNORED in a def or class (the nearest
    column-0 line is its header, a decorator or its signature), STATEMENT directly in the body of a plain
    column-0 header, None otherwise (deeper, or a header that does not read plainly)."""
    head = _header(data, start)
    if head is None or string_end(data, head) != -1:
        return None
    line = _line(data, head)
    if line.startswith((b"def ", b"async def ", b"class ", b"@")):
        return IGNORED
    code = _code(line)
    if code is None or not _HEADER.fullmatch(code) or not _balanced(code):
        return None
    first = data.find(b"\n", head) + 1
    while first < start and _blank(_line(data, first)):
        first = data.find(b"\n", first) + 1
    return STATEMENT if _indent(_line(data, first)) == indent else None


def _balanced(code: bytes) -> bool:
    return all(code.count(o) == code.count(c) for o, c in ((b"(", b")"), (b"[", b"]"), (b"{", b"}")))


def _ends_statement(line: bytes) -> bool:
    """Whether a line that ends like this ends its statement, so that a ``name =`` on the next line starts one
    (inside brackets, such a line could not be followed by a ``name =`` or ``name:``)."""
    if line.rstrip().endswith((b'"""', b"'''")):  # closes a string (one it opened would hold the next line)
        return True
    code = _code(line)
    if not code:
        return False
    last = code[-1:]
    if code.endswith(b"...") or _STAR_IMPORT.fullmatch(code):  # an Ellipsis (an element would need a comma
        return True  # after it); `from x import *`
    if last in (b")", b"]", b"}", b'"', b"'"):
        return True
    if not (last.isalnum() or last == b"_"):
        return False
    word = re.search(rb"\w+$", code)
    return word is not None and word.group() not in _KEYWORDS


def place(data: bytes, pos: int, *, assignment: bool = False) -> str | None:
    """Where the word at ``pos`` sits: IGNORED (a comment line, inside a string, in a def or class body),
    STATEMENT (it begins a statement the parse reads), or None (cannot tell, or within a statement).
    ``assignment``: the statement is ``word =`` or ``word:``, which inside brackets would be a keyword argument
    or a dict entry: the line before must end a statement."""
    start = _line_start(data, pos)
    prefix = data[start:pos]
    stripped = prefix.lstrip(b" \t")
    if stripped.startswith(b"#"):
        return IGNORED
    end = string_end(data, start)
    if end is None or end >= 0:
        return IGNORED if end is not None and end > pos else None
    indent = len(prefix) - len(stripped)
    where = STATEMENT if indent == 0 else _block(data, start, indent)
    if where != STATEMENT or stripped:
        return IGNORED if where == IGNORED else None
    if assignment:
        head = _header(data, start) if indent else None
        prev = _previous_code_line(data, start, head or 0)
        if prev is not None and prev != head and not _ends_statement(_line(data, prev)):
            return None
    return STATEMENT


def words(data: bytes, word: bytes, *, dotted: bool = False) -> list[int]:
    """Where ``word`` occurs as a whole word (not inside a longer name; after a dot only when ``dotted``)."""
    out = []
    stops = (b"_",) if dotted else (b"_", b".")
    pos = data.find(word)
    while pos >= 0:
        end = pos + len(word)
        before, after = data[pos - 1 : pos] if pos else b"", data[end : end + 1]
        if not (before.isalnum() or before in stops) and not (after.isalnum() or after == b"_"):
            out.append(pos)
        pos = data.find(word, end)
    return out
