"""Plain text: no colour, no box drawing; for logs, CI and dumb terminals."""

from __future__ import annotations

import textwrap

from envdoctor.render import RenderOptions
from envdoctor.render.fixes import install_command
from envdoctor.report import Finding, Report, Severity


def render(report: Report, options: RenderOptions) -> str:
    width = max(40, options.width)
    s = report.summary
    lines = [f"envdoctor check: {s.python} (Python {s.python_version}), {s.distributions} distributions", ""]
    for severity in (Severity.ERROR, Severity.WARNING, Severity.INFO):
        group = [f for f in report.findings if f.severity == severity]
        for finding in group:
            lines.extend(_finding(finding, width))
            lines.append("")
    if report.skipped:
        lines.append("Could not check:")
        lines.extend(f"  - {sk.check}: {sk.reason}" for sk in report.skipped)
        lines.append("")
    if report.probe_summary():
        lines += [report.probe_summary(), ""]
    command = install_command(report)
    if command:
        lines += ["Fix (first step):", f"  {command}", ""]
    lines.append(report.verdict())
    return "\n".join(lines) + "\n"


def _finding(f: Finding, width: int) -> list[str]:
    out = [f"{str(f.severity).upper()} [{f.id}] {f.title}"]
    wrap = textwrap.TextWrapper(width=width, initial_indent="    ", subsequent_indent="    ")
    if f.detail:
        out.extend(wrap.wrap(f.detail))
    out.extend(f"    evidence: {e}" for e in f.evidence)
    out.extend(f"    fix: {x}" for x in f.fix)
    return out
