"""The listings of ``envdoctor matrix`` (rules, hardware facts; text or JSON) and ``envdoctor explain`` (one rule,
one built-in finding id, one diagnosed error text)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from envdoctor.knowledge.catalog import RuleHelp
    from envdoctor.knowledge.hardware import HardwareFact
    from envdoctor.knowledge.matrix import Rule
    from envdoctor.runtime.diagnosis import Diagnosis


def rules(shown: Sequence[Rule], fmt: str) -> str:
    """``envdoctor matrix``: one line per rule, or JSON (schema ``envdoctor.matrix/1``)."""
    if fmt == "json":
        rows = [{"id": r.id, "family": r.family, "severity": str(r.severity), "title": r.title} for r in shown]
        return json.dumps({"schema": "envdoctor.matrix/1", "rules": rows}, indent=2) + "\n"
    width = max((len(r.id) for r in shown), default=10)
    lines = [f"{r.id:<{width}}  {r.severity!s:<7}  {r.family:<12}  {r.title}" for r in shown]
    return "\n".join(lines) + f"\n{len(shown)} rules\n"


def _threshold(f: HardwareFact) -> str:
    if f.min_compute_capability is not None:
        return "compute capability >= {}.{}".format(*f.min_compute_capability)
    if f.min_driver_cuda is not None:
        return "driver supporting CUDA >= {}.{} (runtime {})".format(*f.min_driver_cuda, f.cuda_runtime)
    return ""


def hardware(facts: Iterable[HardwareFact], fmt: str) -> str:
    """``envdoctor matrix --hardware``: one line per fact, or JSON (schema ``envdoctor.hardware/1``)."""
    rows = [
        {
            "id": f.id,
            "feature": f.feature,
            "package": f.package,
            "versions": str(f.versions),
            "needs": _threshold(f),
            "below": f.below + (f" ({f.fallback})" if f.fallback else ""),
            "source": f.source,
        }
        for f in facts
    ]
    if fmt == "json":
        return json.dumps({"schema": "envdoctor.hardware/1", "facts": rows}, indent=2) + "\n"
    width = max((len(r["id"]) for r in rows), default=10)
    lines = [f"{r['id']:<{width}}  {r['package']}{r['versions']}: {r['needs']}; below: {r['below']}" for r in rows]
    return "\n".join(lines) + f"\n{len(rows)} facts\n"


def built_in(known: RuleHelp) -> str:
    """``envdoctor explain ID`` for a finding id of envdoctor's own checks (not a matrix rule)."""
    return (
        f"{known.id}  (a finding of envdoctor's own checks, not a matrix rule)\n\n{known.title}\n\n"
        "Each such finding that `envdoctor check` prints carries its own detail, evidence and fix. "
        f"{known.help}\n"
    )


def rule(rule: Rule) -> str:
    """``envdoctor explain RULE_ID``: the rule in full, with its evidence and its test."""
    applies = ", ".join(f"{p}{s}" if str(s) else p for p, s in rule.applies.items()) or "any versions"
    lines = [
        f"{rule.id}  ({rule.severity}, family {rule.family}, {rule.source})",
        "",
        rule.title,
        "",
        f"Applies to:  {applies}" + (f"; Python {rule.python}" if rule.python else ""),
        f"You see:     {rule.symptom}" + (f"  (at `{rule.breaks}`)" if rule.breaks else ""),
        f"Why:         {rule.why}",
        "Fix:         " + "  or  ".join(rule.fix),
        "Evidence:",
        *(f"  - {e.describe()}" for e in rule.evidence),
        f"Tested by:   {rule.test}",
    ]
    return "\n".join(lines) + "\n"


def diagnosis(diag: Diagnosis, python: str, version: str) -> str:
    """``envdoctor explain --text``: the cause, the packages and the fix of an error text, against ``python``."""
    lines = [
        f"Error:     {diag.error}",
        f"Cause:     {diag.cause}" if diag.cause else "Cause:     not recognised; the error is shown as it is",
        f"Packages:  {', '.join(diag.packages) or 'none of the installed distributions owns a file it names'}",
        f"Fix:       {'  or  '.join(diag.fix)}" if diag.fix else "Fix:       none computed",
        f"Against:   {python} (Python {version})",
    ]
    if diag.frames:
        lines += ["Last frames:", *(f"  {f}" for f in diag.frames[-4:])]
    return "\n".join(lines) + "\n"
