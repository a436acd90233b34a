"""JSON: the machine-readable report, schema ``envdoctor.report/2`` (documented in README.md)."""

from __future__ import annotations

import json
from typing import Any

from envdoctor._version import __version__
from envdoctor.render import RenderOptions
from envdoctor.report import SCHEMA, Report, Severity


def to_dict(report: Report) -> dict[str, Any]:
    s = report.summary
    out: dict[str, Any] = {
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
            "suppressed": len(report.suppressed),
        },
        "checks": list(report.checks),
        "findings": [f.to_dict() for f in report.findings],
        "skipped": [{"check": sk.check, "reason": sk.reason} for sk in report.skipped],
    }
    if report.train is not None:  # only with --train
        out["train"] = dict(report.train)
    if "probes" in report.checks:
        out["probes"] = [dict(p) for p in report.probes]
    if report.distributed is not None:  # only with --distributed
        out["distributed"] = dict(report.distributed)
    return out


def render(report: Report, options: RenderOptions) -> str:
    """UTF-8 JSON; besides the control characters JSON always escapes, DEL, C1 controls, line separators,
    bidirectional overrides and undecodable bytes of file names are written as \\u escapes."""
    return json.dumps(to_dict(report), indent=2, ensure_ascii=False).translate(JSON_ESCAPES) + "\n"


JSON_ESCAPES = {
    c: f"\\u{c:04x}" for c in (0x7F, *range(0x80, 0xA0), 0x2028, 0x2029, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
} | {c: f"\\u{c:04x}" for c in range(0xD800, 0xE000)}
