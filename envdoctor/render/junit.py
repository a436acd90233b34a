"""JUnit XML: one test case per check, each finding that reaches ``--fail-on`` a failure of its check.

What does not fail the gate is still in the file: findings below ``--fail-on`` and suppressed findings are
listed in the test case's ``system-out`` (a suppressed one with its reason); a check that could not run is
skipped, or a failure when ``--fail-on`` is warning or info (as for the exit code). Every string from the
target is escaped (``printable``) and XML-escaped by ElementTree; characters XML 1.0 forbids never reach it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from envdoctor import __version__
from envdoctor.ranks import where
from envdoctor.render import RenderOptions, finding_lines, printable
from envdoctor.report import Finding, Report, Severity

_NOT_XML = {0xFFFE: "\\ufffe", 0xFFFF: "\\uffff"}


def _x(text: str) -> str:
    return printable(text).translate(_NOT_XML)


def render(report: Report, options: RenderOptions) -> str:
    skipped = {sk.check: sk.reason for sk in report.skipped}
    checks = list(dict.fromkeys([*report.checks, *(f.check or "envdoctor" for f in report.findings), *skipped]))
    suites = ET.Element("testsuites", name="envdoctor")
    suite = ET.SubElement(suites, "testsuite", name="envdoctor check")
    props = ET.SubElement(suite, "properties")
    for name, value in (
        ("envdoctor.version", __version__),
        ("python", report.summary.python),
        ("python.version", report.summary.python_version),
        ("verdict", report.verdict()),
        ("fail-on", str(options.fail_on)),
    ):
        ET.SubElement(props, "property", name=name, value=_x(value))
    failures = skips = 0
    for check in checks:
        case = ET.SubElement(suite, "testcase", classname="envdoctor", name=_x(check))
        mine = [f for f in report.findings if (f.check or "envdoctor") == check]
        counted = [f for f in mine if f.suppressed is None and f.severity >= options.fail_on]
        for f in counted:
            failure = ET.SubElement(case, "failure", message=_x(f"[{f.id}] {f.title}"), type=str(f.severity))
            failure.text = "\n".join(finding_lines(f, where(f.ranks, report.distributed))).translate(_NOT_XML)
        if check in skipped:
            reason = _x(f"could not run: {skipped[check]}")
            if options.fail_on <= Severity.WARNING:
                ET.SubElement(case, "failure", message=reason, type="incomplete")
                counted.append(Finding("incomplete", Severity.WARNING, reason))
            elif not counted:
                ET.SubElement(case, "skipped", message=reason)
                skips += 1
        failures += bool(counted)
        rest = [f for f in mine if f not in counted]
        if rest:
            out = ET.SubElement(case, "system-out")
            out.text = "\n\n".join(
                "\n".join([_head(f), *finding_lines(f, where(f.ranks, report.distributed))]) for f in rest
            ).translate(_NOT_XML)
    for element in (suites, suite):
        element.set("tests", str(len(checks)))
        element.set("failures", str(failures))
        element.set("errors", "0")
    suite.set("skipped", str(skips))
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _head(f: Finding) -> str:
    state = "SUPPRESSED " if f.suppressed is not None else ""
    return f"{state}{str(f.severity).upper()} [{printable(f.id)}] {printable(f.title)}"
