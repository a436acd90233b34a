"""The rich terminal view: findings grouped by severity, a fix block and a one-line verdict."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from rich.console import Console, Group
from rich.markup import escape
from rich.padding import Padding
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from envdoctor.ranks import launch_lines, where
from envdoctor.render import RenderOptions, printable
from envdoctor.render.fixes import first_step
from envdoctor.render.train import HEADER, STACK_HEADER, device_line, rows, stack_line, stack_rows
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
        f"[bold]envdoctor check[/bold]  {escape(printable(s.python))}  "
        f"(Python {escape(printable(s.python_version))}, {s.distributions} distributions)"
    )
    if report.distributed is not None:
        console.print()
        for line in launch_lines(report.distributed):
            console.print(Text(printable(line)))
    if report.train is not None:
        console.print()
        console.print(_train(report.train))
        if stack_rows(report.train):
            console.print(_stack(report.train))
    for severity in (Severity.ERROR, Severity.WARNING, Severity.INFO):
        group = [f for f in report.active if f.severity == severity]
        if group:
            console.print()
            console.print(f"[{_STYLE[severity]}]{_HEADING[severity]} ({len(group)})[/]")
            for finding in group:
                console.print(_finding(finding, where(finding.ranks, report.distributed)))
    if report.suppressed:
        console.print()
        console.print(f"[dim]Suppressed ({len(report.suppressed)})[/]")
        for finding in report.suppressed:
            console.print(_finding(finding, where(finding.ranks, report.distributed)))
    if report.skipped:
        console.print()
        console.print("[bold]Could not check[/bold]")
        for sk in report.skipped:
            console.print(Padding(Text(f"• {sk.check}: {printable(sk.reason)}"), (0, 0, 0, 2), expand=False))
    if report.probe_summary():
        console.print()
        console.print(Text(printable(report.probe_summary())))
    step = first_step(report)
    if step:
        console.print()
        shown = Text("\n".join(printable(line) for line in step))
        console.print(Panel(shown, title="Fix (first step)", title_align="left", border_style="green"))
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


_STATUS_STYLE = {"passes": "green", "fails": "bold red", "skipped": "dim"}


def _stack(data: Mapping[str, Any]) -> Table:
    table = Table(
        title="Stack step (one real step of the installed stack)", caption=stack_line(data), title_justify="left"
    )
    for name in STACK_HEADER:
        table.add_column(name, overflow="fold")
    for row in stack_rows(data):
        table.add_row(row[0], Text(row[1], style=_STATUS_STYLE.get(row[1], "")), *row[2:])
    return table


def _finding(f: Finding, on: str = "") -> Group:
    """Every string is escaped (``printable``) and every line after the first is indented, wrapped lines
    included: only a finding's own bullet starts at column 0."""
    head = Table.grid()
    head.add_column(width=2, no_wrap=True)
    head.add_column()
    head.add_row(
        Text("● ", "dim" if f.suppressed is not None else _STYLE[f.severity]),
        Text.assemble((printable(f.title), "bold"), (f"  [{printable(f.id)}]", "dim")),
    )
    body: list[Text] = []
    if f.suppressed is not None:
        body.append(Text.assemble(("suppressed ", "dim"), f"{f.severity!s}: {printable(f.suppressed)}"))
    if on:
        body.append(Text.assemble(("on       ", "dim"), printable(on)))
    if f.detail:
        body.append(Text(printable(f.detail)))
    body.extend(Text.assemble(("evidence ", "dim"), printable(e)) for e in f.evidence)
    body.extend(Text.assemble(("fix      ", "green"), printable(x)) for x in (*f.fix, *f.advice))
    return Group(head, Padding(Group(*body), (0, 0, 0, 2), expand=False))
