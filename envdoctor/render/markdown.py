"""Markdown (CommonMark with GitHub's tables): for ``$GITHUB_STEP_SUMMARY`` and pull-request comments.

The verdict, a table of the findings (suppressed ones marked, with the reason), then each finding in full
inside a collapsible block, and the first fix step in a code block. Every string from the target is made
``printable`` and then every ASCII punctuation character in it is backslash-escaped (CommonMark allows that
for all of them), so no name can open a link, emphasis, raw HTML, a table cell or a heading; the code
block's fence is longer than any run of backticks in it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from envdoctor.ranks import launch_lines, where
from envdoctor.redact import PUNCTUATION_ESCAPES
from envdoctor.render import RenderOptions, finding_lines, printable
from envdoctor.render.fixes import first_step
from envdoctor.report import Finding, Report

_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#x27;"})


def escape_html(text: str) -> str:
    """``html.escape`` (quotes too), without loading the html package and its entity table."""
    return text.translate(_HTML)


def md(text: str) -> str:
    """``text`` from the target as inline Markdown that shows exactly its (printable) characters."""
    return printable(text).translate(PUNCTUATION_ESCAPES)


def render(report: Report, options: RenderOptions) -> str:
    s = report.summary
    lines = [
        "## envdoctor check",
        "",
        f"**{md(report.verdict())}**",
        "",
        f"Python {md(s.python_version)} at {md(s.python)}, {s.distributions} distributions.",
        "",
    ]
    if report.distributed is not None:
        lines += [*(f"- {md(line.strip())}" for line in launch_lines(report.distributed)), ""]
    if report.findings:
        lines += ["| severity | id | packages | finding |", "| --- | --- | --- | --- |"]
        for f in (*report.active, *report.suppressed):
            severity = str(f.severity) if f.suppressed is None else f"{f.severity}, suppressed: {md(f.suppressed)}"
            packages = ", ".join(md(p) for p in f.packages)
            lines.append(f"| {severity} | {md(f.id)} | {packages} | {md(f.title)} |")
        lines.append("")
        for f in (*report.active, *report.suppressed):
            lines += _details(f, where(f.ranks, report.distributed))
    if report.skipped:
        lines += ["**Could not check:**", ""]
        lines += [f"- {md(sk.check)}: {md(sk.reason)}" for sk in report.skipped]
        lines.append("")
    step = first_step(report)
    if step:
        lines += ["**Fix (first step):**", "", *fenced(step, "shell"), ""]
    return "\n".join(lines)


def fenced(lines: Sequence[str], info: str) -> list[str]:
    """``lines`` (each made printable) in a code block whose fence is longer than any run of backticks in them."""
    body = [printable(line) for line in lines]
    fence = "`" * max(3, 1 + max((len(r) for b in body for r in re.findall("`+", b)), default=0))
    return [f"{fence}{info}", *body, fence]


def _details(f: Finding, on: str = "") -> list[str]:
    state = "suppressed " if f.suppressed is not None else ""
    summary = escape_html(f"{state}{f.severity} [{printable(f.id)}] {printable(f.title)}")
    body = [f"- {md(line)}" for line in finding_lines(f, on)]
    return ["<details>", f"<summary>{summary}</summary>", "", *body, "", "</details>", ""]
