"""Notebook views: HTML (``_repr_html_``) and a short text (``_repr_pretty_``) of a Report and a PinResult.

The HTML is one self-contained ``<div>`` with inline styles (a notebook strips ``<style>`` blocks in some
front ends): the verdict line, the findings grouped by severity, the fix as a requirements block to copy,
each finding's evidence in a collapsed ``<details>``. Every string from the environment is HTML-escaped.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

from envdoctor.report import Finding, Report, Severity

if TYPE_CHECKING:
    from envdoctor.pinning import PinResult

_COLOR = {Severity.ERROR: "#b00020", Severity.WARNING: "#9a6700", Severity.INFO: "#0b5cad"}
_HEADING = {Severity.ERROR: "Errors", Severity.WARNING: "Warnings", Severity.INFO: "Notes"}
_BOX = "font-family:system-ui,sans-serif;line-height:1.4;max-width:100%"
_PRE = "background:#f6f8fa;border:1px solid #d0d7de;padding:6px 8px;white-space:pre-wrap;word-break:break-all"
SHORT_FINDINGS = 8
"""How many findings the short text lists before "... and N more"."""


def _verdict_color(report: Report) -> str:
    worst = report.worst
    return _COLOR[worst] if worst is not None and worst >= Severity.WARNING else "#1a7f37"


def report_html(report: Report) -> str:
    s = report.summary
    parts = [
        f'<div class="envdoctor-report" style="{_BOX}">',
        f'<div style="font-weight:bold;color:{_verdict_color(report)}">{escape(report.verdict())}</div>',
        f'<div style="color:#57606a;font-size:90%">{escape(s.python)} (Python {escape(s.python_version)})</div>',
    ]
    parts += [f"<div><b>what-if:</b> {escape(f.title)}</div>" for f in report.findings if f.id == "what-if"]
    for severity in (Severity.ERROR, Severity.WARNING, Severity.INFO):
        group = [f for f in report.active if f.severity == severity]
        if group:
            parts.append(
                f'<h4 style="color:{_COLOR[severity]};margin:8px 0 2px">{_HEADING[severity]} ({len(group)})</h4>'
            )
            parts.append('<ul style="margin:0;padding-left:20px">')
            parts += [_finding(f) for f in group]
            parts.append("</ul>")
    if report.suppressed:
        parts.append(f'<h4 style="color:#57606a;margin:8px 0 2px">Suppressed ({len(report.suppressed)})</h4><ul>')
        parts += [_finding(f) for f in report.suppressed]
        parts.append("</ul>")
    if report.skipped:
        parts.append('<h4 style="margin:8px 0 2px">Could not check</h4><ul>')
        parts += [f"<li>{escape(sk.check)}: {escape(sk.reason)}</li>" for sk in report.skipped]
        parts.append("</ul>")
    fix = _fix_lines(report)
    if fix:
        parts.append('<div style="margin-top:8px;font-weight:bold">Fix (first step)</div>')
        parts.append(f'<pre style="{_PRE}">{escape(chr(10).join(fix))}</pre>')
    parts.append("</div>")
    return "\n".join(parts)


def _finding(f: Finding) -> str:
    body = [f"<li><b>{escape(f.title)}</b> <code>[{escape(f.id)}]</code>"]
    if f.suppressed is not None:
        body.append(f"<div><i>suppressed: {escape(f.suppressed)}</i></div>")
    if f.detail:
        body.append(f"<div>{escape(f.detail)}</div>")
    fixes = [*f.fix, *f.advice]
    if fixes:
        body.append("<div>fix: " + " <i>or</i> ".join(f"<code>{escape(x)}</code>" for x in fixes) + "</div>")
    if f.evidence:
        items = "".join(f"<li><code>{escape(e)}</code></li>" for e in f.evidence)
        body.append(f"<details><summary>evidence ({len(f.evidence)})</summary><ul>{items}</ul></details>")
    body.append("</li>")
    return "".join(body)


def _fix_lines(report: Report) -> list[str]:
    """The "Fix (first step)" lines, or the advice of the errors when none is a specifier (restart...)."""
    from envdoctor.render.fixes import first_step

    lines = first_step(report) if any(f.fix for f in report.at_least(Severity.ERROR)) else []
    advice = [a for f in report.at_least(Severity.ERROR) if not f.fix for a in f.advice[:1]]
    return lines + [f"# {a}" for a in dict.fromkeys(advice)]


def report_short(report: Report) -> str:
    """A few lines: the verdict, one line per finding (the first SHORT_FINDINGS), the first fix step."""
    lines = [report.verdict()]
    shown = report.active[:SHORT_FINDINGS]
    lines += [f"  {str(f.severity).upper():7} [{f.id}] {f.title}" for f in shown]
    if len(report.active) > len(shown):
        lines.append(f"  ... and {len(report.active) - len(shown)} more (str(report) has them all)")
    fix = _fix_lines(report)
    if fix:
        lines += ["Fix (first step):", *(f"  {line}" for line in fix)]
    return "\n".join(lines)


def pin_html(result: PinResult) -> str:
    plan = result.plan
    ok = result.verification.verified and not plan.remaining
    color = "#1a7f37" if ok else _COLOR[Severity.ERROR]
    parts = [
        f'<div class="envdoctor-pin" style="{_BOX}">',
        f'<div style="font-weight:bold;color:{color}">{escape(result.verdict())}</div>',
    ]
    if plan.moves:
        parts.append('<h4 style="margin:8px 0 2px">Moves</h4><ul style="margin:0;padding-left:20px">')
        parts += [f"<li><code>{escape(m.describe())}</code></li>" for m in plan.moves]
        parts.append("</ul>")
    if plan.remaining:
        parts.append(f'<h4 style="color:{color};margin:8px 0 2px">NOT fixed ({len(plan.remaining)})</h4><ul>')
        parts += [_finding(f) for f in plan.remaining]
        parts.append("</ul>")
    if plan.notes:
        parts.append("<ul>" + "".join(f"<li>{escape(n)}</li>" for n in plan.notes) + "</ul>")
    changed = [p.text for p in result.pins.lines if p.moved and p.text is not None]
    if changed:
        parts.append('<div style="margin-top:8px;font-weight:bold">requirements (the moved packages)</div>')
        parts.append(f'<pre style="{_PRE}">{escape(chr(10).join(changed))}</pre>')
    text = result.text()
    parts.append(
        f"<details><summary>the whole pin file ({len(result.pins.lines)} lines)</summary>"
        f'<pre style="{_PRE}">{escape(text)}</pre></details>'
    )
    parts.append("</div>")
    return "\n".join(parts)


def pin_short(result: PinResult) -> str:
    lines = [result.verdict()]
    lines += [f"  moves {m.describe()}" for m in result.plan.moves]
    lines += [f"  NOT fixed: [{f.id}] {f.title}" for f in result.plan.remaining]
    lines.append("result.text() is the requirements file")
    return "\n".join(lines)
