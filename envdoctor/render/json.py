"""JSON: the machine-readable report, schema ``envdoctor.report/1`` (documented in README.md)."""

from __future__ import annotations

import json
from typing import Any

from envdoctor import __version__
from envdoctor.render import RenderOptions
from envdoctor.report import SCHEMA, Report, Severity


def to_dict(report: Report) -> dict[str, Any]:
    s = report.summary
    out = {
        "schema": SCHEMA,
        "envdoctor_version": __version__,
        "verdict": report.verdict(),
        "python": {"executable": s.python, "version": s.python_version},
        "summary": {
            "distributions": s.distributions,
            "errors": report.count(Severity.ERROR),
            "warnings": report.count(Severity.WARNING),
            "infos": report.count(Severity.INFO),
            "skipped": len(report.skipped),
        },
        "checks": list(report.checks),
        "findings": [f.to_dict() for f in report.findings],
        "skipped": [{"check": sk.check, "reason": sk.reason} for sk in report.skipped],
    }
    if "probes" in report.checks:
        out["probes"] = [dict(p) for p in report.probes]
    return out


def render(report: Report, options: RenderOptions) -> str:
    return json.dumps(to_dict(report), indent=2, ensure_ascii=False) + "\n"
