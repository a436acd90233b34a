"""The public API: check() and assert_compatible(). Quiet, returns values, never exits."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

from envdoctor.checks.metadata import check_metadata
from envdoctor.errors import IncompatibleEnvironmentError
from envdoctor.inventory import Inventory
from envdoctor.progress import Progress, Silent
from envdoctor.redact import Redactor
from envdoctor.report import Finding, Report, Severity, Summary
from envdoctor.target import Target

DEFAULT_TIMEOUT = 60.0
"""Seconds one probe may take before its process group is killed."""


def inventory(*, python: str | os.PathLike[str] | None = None, timeout: float = DEFAULT_TIMEOUT) -> Inventory:
    """The snapshot of the target's distributions. Raises UsageError or TargetError."""
    target = Target.resolve(python)
    return Inventory.from_payload(target.probe("inventory", {}, timeout=timeout))


def check(
    *,
    python: str | os.PathLike[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    progress: Progress | None = None,
) -> Report:
    """Check the environment of ``python`` (default: this interpreter) and return the Report.

    Imports nothing from the environment under test: the inventory is read by a probe in a
    subprocess. Raises UsageError (bad ``python``) or TargetError (it cannot be inspected).
    """
    progress = progress if progress is not None else Silent()
    target = Target.resolve(python)
    progress.step(f"reading the environment of {target.python}")
    inv = Inventory.from_payload(target.probe("inventory", {}, timeout=timeout))
    progress.step(f"checking {len(inv.dists)} distributions")
    report = check_inventory(inv)
    return redacted(report, Redactor.from_environment())


def check_inventory(inv: Inventory) -> Report:
    """Run every static check on an Inventory (pure: no process, no I/O)."""
    findings = check_metadata(inv)
    summary = Summary(
        python=inv.python.executable,
        python_version=inv.python.version,
        distributions=len(inv.winners),
        paths=inv.sys_path,
    )
    return Report.build(findings, summary=summary, checks=("metadata",))


def assert_compatible(
    *,
    python: str | os.PathLike[str] | None = None,
    fail_on: Severity | str = Severity.ERROR,
    timeout: float = DEFAULT_TIMEOUT,
) -> Report:
    """Return the Report when nothing reaches ``fail_on``; raise IncompatibleEnvironmentError otherwise.

    Meant for the top of a training script: prints nothing, imports nothing it checks.
    """
    threshold = Severity.parse(fail_on) if isinstance(fail_on, str) else fail_on
    report = check(python=python, timeout=timeout)
    bad = report.at_least(threshold)
    if bad:
        lines = "\n".join(f"  [{f.id}] {f.title}" for f in bad)
        raise IncompatibleEnvironmentError(report, f"{report.verdict()}\n{lines}")
    return report


def redacted(report: Report, redact: Callable[[str], str]) -> Report:
    """A copy of ``report`` with every string passed through ``redact``."""

    def one(f: Finding) -> Finding:
        return dataclasses.replace(
            f,
            title=redact(f.title),
            detail=redact(f.detail),
            evidence=tuple(redact(e) for e in f.evidence),
            fix=tuple(redact(x) for x in f.fix),
        )

    summary = dataclasses.replace(
        report.summary,
        python=redact(report.summary.python),
        paths=tuple(redact(p) for p in report.summary.paths),
    )
    skipped = tuple(dataclasses.replace(s, reason=redact(s.reason)) for s in report.skipped)
    return dataclasses.replace(
        report, findings=tuple(one(f) for f in report.findings), summary=summary, skipped=skipped
    )
