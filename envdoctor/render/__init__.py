"""Renderers: pure functions Report -> str, one module per format (the shape: envdoctor.render.interface),
chosen from one table (``RENDERERS``). Every other output envdoctor prints is formatted in this package too:
the pin file and pin's JSON and summary (``pinfile``, ``pin``), the matrix and explain listings (``listings``)."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import MappingProxyType

from envdoctor.render.interface import Format, Renderer, RenderOptions
from envdoctor.report import Finding, Report

__all__ = ["RENDERERS", "Format", "RenderOptions", "Renderer", "finding_lines", "printable", "render"]


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


def _lazy(fmt: Format) -> Renderer:
    """The ``render`` function of ``envdoctor/render/<format>.py``, imported when first called: a check
    that prints JSON never loads rich."""

    def render(report: Report, options: RenderOptions) -> str:
        module = importlib.import_module(f"envdoctor.render.{fmt.value}")
        return str(module.render(report, options))

    return render


RENDERERS: Mapping[Format, Renderer] = MappingProxyType({f: _lazy(f) for f in Format})


def render(report: Report, fmt: Format, options: RenderOptions | None = None) -> str:
    return RENDERERS[fmt](report, options or RenderOptions())


def finding_lines(f: Finding, on: str = "") -> list[str]:
    """A finding's body, each line escaped (``printable``): why it is suppressed, the ranks it holds on
    (``on``, ``check --distributed``), the detail, the packages, the evidence and the fixes. Shared by the CI
    formats (JUnit, GitHub, Markdown)."""
    out = [f"suppressed: {printable(f.suppressed)}"] if f.suppressed is not None else []
    if on:
        out.append(f"on: {printable(on)}")
    if f.detail:
        out.append(printable(f.detail))
    if f.packages:
        out.append("packages: " + ", ".join(printable(p) for p in f.packages))
    out += [f"evidence: {printable(e)}" for e in f.evidence]
    out += [f"fix: {printable(x)}" for x in (*f.fix, *f.advice)]
    return out
