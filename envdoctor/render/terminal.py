"""The rich terminal view: findings grouped by severity, a fix block and a one-line verdict."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from envdoctor.render import RenderOptions
from envdoctor.render.fixes import install_command
from envdoctor.render.train import HEADER, device_line, rows
from envdoctor.report import Finding, Report, Severity

_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}
_HEADING = {Severity.ERROR: "Errors", Severity.WARNING: "Warnings", Severity.INFO: "Notes"}


def render(report: Report, options: RenderOptions) -> str:
    buf = io.StringIO()
    console = Console(
        file=buf,
        width=options.width,
        force_terminal=options.color,
        no_color=not options.color,
        color_system="standard" if options.color else None,
        highlight=False,
        soft_wrap=False,
    )
    s = report.summary
    console.print(
        f"[bold]envdoctor check[/bold]  {escape(s.python)}  "
        f"(Python {escape(s.python_version)}, {s.distributions} distributions)"
    )
    if report.train is not None:
        console.print()
        console.print(_train(report.train))
    for severity in (Severity.ERROR, Severity.WARNING, Severity.INFO):
        group = [f for f in report.findings if f.severity == severity]
        if group:
            console.print()
            console.print(f"[{_STYLE[severity]}]{_HEADING[severity]} ({len(group)})[/]")
            for finding in group:
                console.print(_finding(finding))
    if report.skipped:
        console.print()
        console.print("[bold]Could not check[/bold]")
        for sk in report.skipped:
            console.print(f"  • {escape(sk.check)}: {escape(sk.reason)}")
    command = install_command(report)
    if command:
        console.print()
        console.print(Panel(Text(command), title="Fix (first step)", title_align="left", border_style="green"))
    worst = report.worst
    style = _STYLE[worst] if worst is not None and worst >= Severity.WARNING else "bold green"
    console.print()
    console.print(Text(report.verdict(), style=style))
    return buf.getvalue()


_VERDICT_STYLE = {"native": "green", "fallback": "yellow", "emulated": "yellow", "fails": "bold red"}


def _train(data: Mapping[str, Any]) -> Table:
    table = Table(title="Training step (one real step per precision)", caption=device_line(data), title_justify="left")
    for name in HEADER:
        table.add_column(name, overflow="fold")
    for row in rows(data):
        table.add_row(*row[:1], Text(row[1], style=_VERDICT_STYLE.get(row[1], "")), *row[2:])
    return table


def _finding(f: Finding) -> Group:
    head = Text.assemble(("● ", _STYLE[f.severity]), (f.title, "bold"), (f"  [{f.id}]", "dim"))
    parts: list[Text] = [head]
    if f.detail:
        parts.append(Text("  " + f.detail))
    parts.extend(Text.assemble(("  evidence ", "dim"), e) for e in f.evidence)
    parts.extend(Text.assemble(("  fix      ", "green"), x) for x in f.fix)
    return Group(*parts)
