"""The rich terminal view: findings grouped by severity, a fix block and a one-line verdict."""

from __future__ import annotations

import io

from rich.console import Console, Group
from rich.markup import escape
from rich.panel import Panel
from rich.text import Text

from envdoctor.render import RenderOptions
from envdoctor.render.fixes import install_command
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
    if report.probe_summary():
        console.print()
        console.print(escape(report.probe_summary()))
    command = install_command(report)
    if command:
        console.print()
        console.print(Panel(Text(command), title="Fix (first step)", title_align="left", border_style="green"))
    worst = report.worst
    style = _STYLE[worst] if worst is not None and worst >= Severity.WARNING else "bold green"
    console.print()
    console.print(Text(report.verdict(), style=style))
    return buf.getvalue()


def _finding(f: Finding) -> Group:
    head = Text.assemble(("● ", _STYLE[f.severity]), (f.title, "bold"), (f"  [{f.id}]", "dim"))
    parts: list[Text] = [head]
    if f.detail:
        parts.append(Text("  " + f.detail))
    parts.extend(Text.assemble(("  evidence ", "dim"), e) for e in f.evidence)
    parts.extend(Text.assemble(("  fix      ", "green"), x) for x in f.fix)
    return Group(*parts)
