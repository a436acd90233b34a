"""JUnit XML: one test case per check, each finding that reaches ``--fail-on`` a failure of its check.

What does not fail the gate is still in the file: findings below ``--fail-on`` and suppressed findings are
listed in the test case's ``system-out`` (a suppressed one with its reason); a check that could not run is
skipped, or a failure when ``--fail-on`` is warning or info (as for the exit code). Every string from the
target is escaped (``printable``) and XML-escaped as ElementTree escapes it (the same bytes ElementTree with
``ET.indent`` writes; written here, because importing ElementTree costs a warm check more than all the
rendering); characters XML 1.0 forbids never reach it.
"""

from __future__ import annotations

from envdoctor._version import __version__
from envdoctor.ranks import where
from envdoctor.render import RenderOptions, finding_lines, printable
from envdoctor.report import Finding, Report, Severity

_NOT_XML = {0xFFFE: "\\ufffe", 0xFFFF: "\\uffff"}


def _x(text: str) -> str:
    return printable(text).translate(_NOT_XML)


class _Element:
    """The part of ElementTree's Element this renderer uses: a tag, attributes in order, text, children."""

    def __init__(self, tag: str, **attrib: str) -> None:
        self.tag, self.attrib, self.text = tag, dict(attrib), ""
        self.children: list[_Element] = []

    def set(self, key: str, value: str) -> None:
        self.attrib[key] = value

    def add(self, tag: str, **attrib: str) -> _Element:
        child = _Element(tag, **attrib)
        self.children.append(child)
        return child

    def write(self, out: list[str], level: int = 0) -> None:
        """As ``ET.indent(root)`` then ``ET.tostring(root, encoding="unicode")`` write it."""
        attrs = "".join(f' {k}="{_attr(v)}"' for k, v in self.attrib.items())
        if not self.text and not self.children:
            out.append(f"<{self.tag}{attrs} />")
            return
        out.append(f"<{self.tag}{attrs}>")
        if self.children:
            for child in self.children:
                out.append("\n" + "  " * (level + 1))
                child.write(out, level + 1)
            out.append("\n" + "  " * level)
        else:
            out.append(_text(self.text))
        out.append(f"</{self.tag}>")


_TEXT = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;"})
_ATTR = str.maketrans(
    {"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "\r": "&#13;", "\n": "&#10;", "\t": "&#09;"}
)


def _text(text: str) -> str:
    return text.translate(_TEXT)


def _attr(text: str) -> str:
    return text.translate(_ATTR)


def render(report: Report, options: RenderOptions) -> str:
    skipped = {sk.check: sk.reason for sk in report.skipped}
    checks = list(dict.fromkeys([*report.checks, *(f.check or "envdoctor" for f in report.findings), *skipped]))
    suites = _Element("testsuites", name="envdoctor")
    suite = suites.add("testsuite", name="envdoctor check")
    props = suite.add("properties")
    for name, value in (
        ("envdoctor.version", __version__),
        ("python", report.summary.python),
        ("python.version", report.summary.python_version),
        ("verdict", report.verdict()),
        ("fail-on", str(options.fail_on)),
    ):
        props.add("property", name=name, value=_x(value))
    failures = skips = 0
    for check in checks:
        case = suite.add("testcase", classname="envdoctor", name=_x(check))
        mine = [f for f in report.findings if (f.check or "envdoctor") == check]
        counted = [f for f in mine if f.suppressed is None and f.severity >= options.fail_on]
        for f in counted:
            failure = case.add("failure", message=_x(f"[{f.id}] {f.title}"), type=str(f.severity))
            failure.text = "\n".join(finding_lines(f, where(f.ranks, report.distributed))).translate(_NOT_XML)
        if check in skipped:
            reason = _x(f"could not run: {skipped[check]}")
            if options.fail_on <= Severity.WARNING:
                case.add("failure", message=reason, type="incomplete")
                counted.append(Finding("incomplete", Severity.WARNING, reason))
            elif not counted:
                case.add("skipped", message=reason)
                skips += 1
        failures += bool(counted)
        rest = [f for f in mine if f not in counted]
        if rest:
            out = case.add("system-out")
            out.text = "\n\n".join(
                "\n".join([_head(f), *finding_lines(f, where(f.ranks, report.distributed))]) for f in rest
            ).translate(_NOT_XML)
    for element in (suites, suite):
        element.set("tests", str(len(checks)))
        element.set("failures", str(failures))
        element.set("errors", "0")
    suite.set("skipped", str(skips))
    written: list[str] = []
    suites.write(written)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + "".join(written) + "\n"


def _head(f: Finding) -> str:
    state = "SUPPRESSED " if f.suppressed is not None else ""
    return f"{state}{str(f.severity).upper()} [{printable(f.id)}] {printable(f.title)}"
