"""Plain text: no colour, no box drawing; for logs, CI and dumb terminals."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

from envdoctor.ranks import launch_lines, where
from envdoctor.render import RenderOptions, printable
from envdoctor.render.fixes import first_step
from envdoctor.render.train import HEADER, STACK_HEADER, device_line, rows, stack_line, stack_rows
from envdoctor.report import Finding, Report, Severity


def render(report: Report, options: RenderOptions) -> str:
    width = max(40, options.width)
    s = report.summary
    python = f"{printable(s.python)} (Python {printable(s.python_version)})"
    lines = [f"envdoctor check: {python}, {s.distributions} distributions", ""]
    if report.distributed is not None:
        lines += [*(printable(line) for line in launch_lines(report.distributed)), ""]
    if report.train is not None:
        lines += [*_train(report.train), ""]
    for severity in (Severity.ERROR, Severity.WARNING, Severity.INFO):
        group = [f for f in report.active if f.severity == severity]
        for finding in group:
            lines.extend(_finding(finding, width, where(finding.ranks, report.distributed)))
            lines.append("")
    for finding in report.suppressed:
        lines.extend(_finding(finding, width, where(finding.ranks, report.distributed)))
        lines.append("")
    if report.skipped:
        lines.append("Could not check:")
        lines.extend(f"  - {sk.check}: {printable(sk.reason)}" for sk in report.skipped)
        lines.append("")
    if report.probe_summary():
        lines += [printable(report.probe_summary()), ""]
    step = first_step(report)
    if step:
        lines += ["Fix (first step):", *(f"  {printable(line)}" for line in step), ""]
    lines.append(report.verdict())
    return "\n".join(lines) + "\n"


def _train(data: Mapping[str, Any]) -> list[str]:
    table = [HEADER, *rows(data)]
    widths = [max(len(r[i]) for r in table) for i in range(len(HEADER) - 1)]
    out = ["Training step (one real step per precision, through Accelerate):", f"  {device_line(data)}"]
    out += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1] for r in table]
    if stack_rows(data):
        out += ["", f"Stack step (one real step of the installed stack: {stack_line(data)}):"]
        out += _columns([STACK_HEADER, *stack_rows(data)])
    return out


def _columns(table: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]) - 1)]
    return ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=False)) + "  " + r[-1] for r in table]


def _finding(f: Finding, width: int, on: str = "") -> list[str]:
    """Every string is escaped (``printable``): only the first line of a finding starts at column 0, and it
    starts with its severity."""
    head = f"{str(f.severity).upper()} [{printable(f.id)}] {printable(f.title)}"
    if f.suppressed is not None:
        head = f"SUPPRESSED {head} (reason: {printable(f.suppressed)})"
    out = [head]
    if on:
        out.append(f"    on {printable(on)}")
    wrap = textwrap.TextWrapper(  # a path or a requirement is never broken, even when longer than the width
        width=width, initial_indent="    ", subsequent_indent="    ", break_long_words=False, break_on_hyphens=False
    )
    if f.detail:
        out.extend(wrap.wrap(printable(f.detail)))
    out.extend(f"    evidence: {printable(e)}" for e in f.evidence)
    out.extend(f"    fix: {printable(x)}" for x in (*f.fix, *f.advice))
    return out
