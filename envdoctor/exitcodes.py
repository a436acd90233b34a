"""Every exit status of the command line, in one place.

0  nothing at or above ``--fail-on`` (default: error)
1  findings at or above ``--fail-on``
2  usage error, or unreadable input (a bad ``--python``, a missing file)
3  envdoctor itself failed (a bug: please report it)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from envdoctor.report import Report, Severity

OK = 0
FINDINGS = 1
USAGE = 2
INTERNAL = 3


def for_report(report: Report, fail_on: Severity) -> int:
    """FINDINGS when any finding reaches ``fail_on``.

    A check that could not run counts as a warning: ``--fail-on warning`` fails on it, so a CI
    gate that asks for strictness never mistakes "not checked" for "clean".
    """
    from envdoctor.report import Severity

    if report.at_least(fail_on):
        return FINDINGS
    if report.skipped and fail_on <= Severity.WARNING:
        return FINDINGS
    return OK
