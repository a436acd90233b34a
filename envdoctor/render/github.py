"""GitHub Actions workflow commands: one ``::error`` / ``::warning`` / ``::notice`` line per finding.

Escaped by GitHub's rules (actions/toolkit, ``command.ts``): in the message ``%``, CR and LF become ``%25``,
``%0D``, ``%0A``; in a property also ``:`` and ``,`` (``%3A``, ``%2C``). Strings from the target are made
``printable`` first, so every finding is exactly one line and only envdoctor's own lines start a command.
A suppressed finding is a ``::notice`` whose title says so, with the reason. Findings are about installed
files outside the repository, so no annotation names a file.
"""

from __future__ import annotations

from envdoctor.ranks import where
from envdoctor.render import RenderOptions, finding_lines, printable
from envdoctor.report import Finding, Report, Severity

_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(command: str, title: str, message: str) -> str:
    return f"::{command} title={escape_property(title)}::{escape_data(message)}"


def render(report: Report, options: RenderOptions) -> str:
    lines = [_finding(f, where(f.ranks, report.distributed)) for f in (*report.active, *report.suppressed)]
    lines += [
        annotation("warning", f"envdoctor: {sk.check} could not run", printable(sk.reason)) for sk in report.skipped
    ]
    lines.append(printable(report.verdict()))
    return "\n".join(lines) + "\n"


def _finding(f: Finding, on: str = "") -> str:
    title = f"envdoctor [{printable(f.id)}]"
    if f.suppressed is not None:
        return annotation("notice", f"{title} suppressed", "\n".join([printable(f.title), *finding_lines(f, on)]))
    return annotation(_COMMAND[f.severity], title, "\n".join([printable(f.title), *finding_lines(f, on)]))
