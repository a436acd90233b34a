"""SARIF 2.1.0: one run, the rule catalog in ``tool.driver.rules`` (every built-in finding id and every
matrix rule, with its help), one result per finding. A suppressed finding carries a ``suppressions`` entry
(kind ``external``: the configuration, status ``accepted``, the reason as justification); a check that could
not run is a tool execution notification. Validated against the official schema in the tests
(tests/data/sarif-schema-2.1.0.json)."""

from __future__ import annotations

import json
from typing import Any

from envdoctor._version import __version__
from envdoctor.knowledge.catalog import RuleHelp
from envdoctor.ranks import where
from envdoctor.render import RenderOptions
from envdoctor.render.json import JSON_ESCAPES
from envdoctor.report import Report, Severity

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def render(report: Report, options: RenderOptions) -> str:
    catalog = dict(options.rules)
    for f in report.findings:  # an id the catalog does not know (a newer check) still gets a rule
        catalog.setdefault(f.id, RuleHelp(f.id, f.title))
    ids = sorted(catalog)
    index = {rid: i for i, rid in enumerate(ids)}
    results = []
    for f in report.findings:
        text = f.title + (f" {f.detail}" if f.detail else "")
        result: dict[str, Any] = {
            "ruleId": f.id,
            "ruleIndex": index[f.id],
            "level": _LEVEL[f.severity],
            "message": {"text": text},
            "properties": {
                "check": f.check,
                "packages": list(f.packages),
                "evidence": list(f.evidence),
                "fix": list(f.fix),
                "advice": list(f.advice),
                **({"ranks": list(f.ranks), "on": where(f.ranks, report.distributed)} if f.ranks else {}),
            },
        }
        if f.packages:
            result["locations"] = [{"logicalLocations": [{"name": p, "kind": "package"} for p in f.packages]}]
        if f.suppressed is not None:
            result["suppressions"] = [{"kind": "external", "status": "accepted", "justification": f.suppressed}]
        results.append(result)
    notes = [
        {"level": "warning", "message": {"text": f"{sk.check} could not run: {sk.reason}"}} for sk in report.skipped
    ]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "envdoctor",
                "version": __version__,
                "informationUri": "https://pypi.org/project/envdoctor/",
                "rules": [_rule(catalog[rid]) for rid in ids],
            }
        },
        "invocations": [{"executionSuccessful": True, "toolExecutionNotifications": notes}],
        "properties": {
            "python": report.summary.python,
            "pythonVersion": report.summary.python_version,
            "verdict": report.verdict(),
        },
        "results": results,
    }
    doc = {"$schema": SCHEMA_URI, "version": "2.1.0", "runs": [run]}
    return json.dumps(doc, indent=2, ensure_ascii=False).translate(JSON_ESCAPES) + "\n"


def _rule(r: RuleHelp) -> dict[str, Any]:
    out: dict[str, Any] = {"id": r.id, "shortDescription": {"text": r.title}}
    if r.help:
        out["fullDescription"] = {"text": r.help}
        out["help"] = {"text": r.help}
    return out
