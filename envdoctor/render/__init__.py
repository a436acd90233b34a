"""Renderers: pure functions Report -> str, one module per format, chosen from one table."""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from envdoctor.report import Report


class Format(enum.Enum):
    TERMINAL = "terminal"
    TEXT = "text"
    JSON = "json"


@dataclass(frozen=True)
class RenderOptions:
    width: int = 100
    color: bool = True


def _escapes() -> dict[int, str]:
    table = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
    table.update({ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t"})
    # line and paragraph separators, bidirectional overrides and isolates (they reorder what a line shows)
    table.update({c: f"\\u{c:04x}" for c in (0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A))})
    table.update({c: f"\\u{c:04x}" for c in range(0xD800, 0xDC80)})
    table.update({c: f"\\x{c - 0xDC00:02x}" for c in range(0xDC80, 0xE000)})  # a file name's undecodable byte
    return table


_ESCAPES = _escapes()


def printable(text: str) -> str:
    """``text`` from the target (a name, a version, a path, an error message) as one line of plain
    characters: control characters, line breaks, bidirectional overrides and undecodable bytes are shown
    as backslash escapes, so nothing in it can move the cursor, colour the terminal or start a line of
    its own."""
    return text.translate(_ESCAPES)


def _terminal(report: Report, options: RenderOptions) -> str:
    from envdoctor.render import terminal  # rich is loaded only when this format is asked for

    return terminal.render(report, options)


def _text(report: Report, options: RenderOptions) -> str:
    from envdoctor.render import text

    return text.render(report, options)


def _json(report: Report, options: RenderOptions) -> str:
    from envdoctor.render import json

    return json.render(report, options)


RENDERERS: Mapping[Format, Callable[[Report, RenderOptions], str]] = MappingProxyType(
    {Format.TERMINAL: _terminal, Format.TEXT: _text, Format.JSON: _json}
)


def render(report: Report, fmt: Format, options: RenderOptions | None = None) -> str:
    return RENDERERS[fmt](report, options or RenderOptions())
