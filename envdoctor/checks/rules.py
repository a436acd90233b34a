"""The matrix rules, evaluated against the Inventory: version ranges, and named signals read from installed files.

Emits one finding per match, with the rule's id, severity, evidence and fix alternatives; when the
matrix itself is broken, one ``matrix-invalid`` warning (envdoctor's own problem) and nothing else
from this check, so the other checks still run.

A rule matches when every package in ``applies`` is installed at a version in its range, the target
Python and platform fit, and its ``signal`` (if it names one) finds something. Signals are the
breaks that version numbers alone cannot show (a CUDA-linked companion beside a CPU torch, an
extension built against numpy 1.x); each reads only the installed files it needs, and caches what it
read per distribution. The signals live in envdoctor.checks.signals, one module per family; ``SIGNALS``
below names them.
"""

from __future__ import annotations

import re

from envdoctor.checks.signals import numpy_abi, numpy_names, torch
from envdoctor.checks.signals.base import Files, Match, Signal
from envdoctor.inventory import Inventory
from envdoctor.knowledge.matrix import Matrix, MatrixError, Rule
from envdoctor.report import Finding, Severity
from envdoctor.source.installed import unread_note
from envdoctor.versions import InvalidVersion, in_range, parse_version

CHECK = "matrix"


def check_rules(inv: Inventory, matrix: Matrix | MatrixError, files: Files) -> list[Finding]:
    if isinstance(matrix, MatrixError):
        return [
            Finding(
                id="matrix-invalid",
                severity=Severity.WARNING,
                title="envdoctor's compatibility matrix is damaged; its rules were not checked",
                detail="This is a problem of the envdoctor installation, not of your environment. Reinstall "
                "envdoctor; if it persists, please report it.",
                evidence=tuple(str(i) for i in matrix.issues[:20]),
                check=CHECK,
            )
        ]
    findings: list[Finding] = []
    for rule in matrix.rules:
        for match in matches(inv, rule, files):
            findings.append(_finding(rule, match))
    return findings + unread_note(files.reader.unread, CHECK)


def matches(inv: Inventory, rule: Rule, files: Files) -> list[Match]:
    values: dict[str, str] = {"python": inv.python.version}
    for package, spec in rule.applies.items():
        dist = inv.get(package)
        if dist is None or dist.version is None or not in_range(dist.version, spec):
            return []
        values[package] = dist.raw_version or ""
        values[f"{package}_base"] = dist.version.base_version  # without a local tag such as +cpu
    if rule.python is not None:
        try:
            if not in_range(parse_version(inv.python.version), rule.python):
                return []
        except InvalidVersion:
            return []
    if rule.platform and inv.markers.get("sys_platform") not in rule.platform:
        return []
    if not rule.signal:
        return [Match(tuple(rule.applies), values)]
    found = SIGNALS[rule.signal](inv, rule, files)
    return [Match(m.packages, {**values, **m.values}, m.evidence) for m in found]


def _finding(rule: Rule, match: Match) -> Finding:
    title = _format(rule.title, match.values)
    detail = f"{_format(rule.why, match.values)} What you see: {rule.symptom}"
    if rule.breaks:
        detail += f" (at `{_format(rule.breaks, match.values)}`)"
    return Finding(
        id=rule.id,
        severity=rule.severity,
        title=title,
        detail=detail,
        packages=match.packages,
        evidence=match.evidence + tuple(e.describe() for e in rule.evidence),
        fix=tuple(f for f in (_format(f, match.values) for f in rule.fix) if not _UNFILLED.search(f)),
        check=CHECK,
    )


_UNFILLED = re.compile(r"\{[a-z0-9_-]+\}")  # a fix whose value the signal could not give is left out


def _format(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


SIGNALS: dict[str, Signal] = {
    "cuda-companion-on-cpu-torch": torch.cuda_companion_on_cpu_torch,
    "cuda-build-record-on-cpu-torch": torch.cuda_build_record_on_cpu_torch,
    "torch-symbols-missing": torch.torch_symbols_missing,
    "numpy1-extensions": numpy_abi.numpy1_extensions,
    "numpy2-removed-names-at-import": numpy_names.at_import,
    "numpy2-removed-names-in-function": numpy_names.in_function,
}
