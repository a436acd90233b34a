"""The combined fix line shared by the text and terminal views."""

from __future__ import annotations

import shlex

from envdoctor.report import Report, Severity
from envdoctor.versions import InvalidRequirement, parse_requirement


def install_command(report: Report) -> str | None:
    """One ``pip install`` of the first requirement-shaped fix of each error, every word shell-quoted, or None."""
    specs: list[str] = []
    for finding in report.at_least(Severity.ERROR):
        for fix in finding.fix[:1]:
            try:
                parse_requirement(fix)
            except InvalidRequirement:
                continue
            if fix not in specs:
                specs.append(fix)
    if not specs:
        return None
    return "pip install " + " ".join(shlex.quote(s) for s in specs)
