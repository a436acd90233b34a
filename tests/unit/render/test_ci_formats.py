"""The CI formats read by real consumers: junitparser, the official SARIF 2.1.0 schema (jsonschema),
GitHub's workflow-command escaping, markdown-it-py. Strings from the target are hostile data here."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from junitparser import Failure, JUnitXml, Skipped
from markdown_it import MarkdownIt

from envdoctor.knowledge import catalog
from envdoctor.render import Format, RenderOptions, render
from envdoctor.render.github import escape_data, escape_property
from envdoctor.report import Finding, Report, Severity, Summary
from envdoctor.report import Skipped as SkippedCheck

SARIF_SCHEMA = Path(__file__).resolve().parents[2] / "data" / "sarif-schema-2.1.0.json"
HOSTILE = "evil|*x*<b>&amp;`[l](u)`\n::error::boom\x1b[31m%0A,: \u202e\ufffe"


def report() -> Report:
    return Report.build(
        [
            Finding(
                "symbol-missing",
                Severity.ERROR,
                "peft 0.15.0 imports clear_device_cache from accelerate.utils.memory; accelerate 0.31.0 lacks it",
                detail="`import peft` fails",
                packages=("peft", "accelerate"),
                evidence=(".../peft/utils/loftq_utils.py:25: from accelerate.utils.memory import clear_device_cache",),
                fix=("accelerate>=0.32.0",),
                check="imports",
            ),
            Finding(
                "requirement-conflict",
                Severity.ERROR,
                f"{HOSTILE} 1.0 requires idna<3, but idna 3.20 is installed",
                packages=("evil", "idna"),
                evidence=(HOSTILE,),
                check="metadata",
                suppressed="pinned by the platform team (ticket 12)",
            ),
            Finding("record-missing", Severity.INFO, "no RECORD", packages=("x",), check="metadata"),
        ],
        skipped=[SkippedCheck("matrix", "the matrix is damaged")],
        summary=Summary(python="/venv/bin/python", python_version="3.11.7", distributions=28),
        checks=("metadata", "imports", "matrix"),
    )


def out(fmt: Format, fail_on: Severity = Severity.ERROR) -> str:
    return render(report(), fmt, RenderOptions(color=False, fail_on=fail_on, rules=catalog.load()))


def test_junit_is_one_case_per_check_with_counted_findings_as_failures(tmp_path: Path) -> None:
    path = tmp_path / "r.xml"
    path.write_text(out(Format.JUNIT))
    xml = JUnitXml.fromfile(str(path))
    cases = {case.name: case for suite in xml for case in suite}
    assert set(cases) == {"metadata", "imports", "matrix"}
    failures = [r for r in cases["imports"].result if isinstance(r, Failure)]
    assert [f.message for f in failures] == [
        "[symbol-missing] peft 0.15.0 imports clear_device_cache from accelerate.utils.memory; accelerate 0.31.0 "
        "lacks it"
    ]
    assert "fix: accelerate>=0.32.0" in (failures[0].text or "")
    assert cases["metadata"].is_passed  # the error there is suppressed, the note is below --fail-on
    shown = cases["metadata"].system_out or ""
    assert "SUPPRESSED ERROR [requirement-conflict]" in shown
    assert "pinned by the platform team (ticket 12)" in shown
    assert "\x1b" not in shown and "\\x1b" in shown  # the target's control characters are data
    assert isinstance(cases["matrix"].result[0], Skipped)
    strict = JUnitXml.fromstring(out(Format.JUNIT, Severity.WARNING).split("\n", 1)[1])
    matrix = next(case for suite in strict for case in suite if case.name == "matrix")
    assert isinstance(matrix.result[0], Failure)  # --fail-on warning: a check that could not run fails


def test_sarif_validates_against_the_official_schema_and_carries_the_rule_catalog() -> None:
    doc = json.loads(out(Format.SARIF))
    jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(doc)
    run = doc["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    ids = [r["id"] for r in rules]
    assert {"symbol-missing", "requirement-conflict", "module-undeclared"} <= set(ids)
    matrix_rule = rules[ids.index("numpy1-extension-under-numpy2")]  # a matrix rule, with its help
    assert "envdoctor explain numpy1-extension-under-numpy2" in matrix_rule["help"]["text"]
    assert matrix_rule["shortDescription"]["text"]
    by_rule = {r["ruleId"]: r for r in run["results"]}
    assert rules[by_rule["symbol-missing"]["ruleIndex"]]["id"] == "symbol-missing"
    assert by_rule["symbol-missing"]["level"] == "error"
    assert by_rule["record-missing"]["level"] == "note"
    assert "suppressions" not in by_rule["symbol-missing"]
    assert by_rule["requirement-conflict"]["suppressions"] == [
        {"kind": "external", "status": "accepted", "justification": "pinned by the platform team (ticket 12)"}
    ]
    assert run["invocations"][0]["toolExecutionNotifications"][0]["message"]["text"].startswith("matrix could not")


def test_github_annotations_are_one_escaped_line_per_finding() -> None:
    lines = out(Format.GITHUB).splitlines()
    assert lines[0].startswith("::error title=envdoctor [symbol-missing]::peft 0.15.0 imports")
    assert "%0Afix: accelerate>=0.32.0" in lines[0]
    suppressed = next(line for line in lines if "requirement-conflict" in line)
    assert suppressed.startswith("::notice title=envdoctor [requirement-conflict] suppressed::")
    assert "pinned by the platform team (ticket 12)" in suppressed
    assert "::warning title=envdoctor%3A matrix could not run::the matrix is damaged" in lines
    assert lines[-1].startswith("BROKEN: 1 error")  # the verdict, a plain log line
    commands = [line for line in lines if line.startswith("::")]
    assert len(commands) == 4  # the hostile name started no command of its own
    assert all("\n" not in line and "\r" not in line and "\x1b" not in line for line in lines)
    assert "%250A" in suppressed  # the target's literal "%0A" stays text


def test_github_escaping_follows_the_toolkit() -> None:
    assert escape_data("100%\r\nx:y,z") == "100%25%0D%0Ax:y,z"
    assert escape_property("100%\r\nx:y,z") == "100%25%0D%0Ax%3Ay%2Cz"


def test_markdown_renders_hostile_names_as_text() -> None:
    text = out(Format.MARKDOWN)
    tokens = MarkdownIt("commonmark").enable("table").parse(text)
    html = MarkdownIt("commonmark").enable("table").render(text)
    assert "<b>" not in html and "<a " not in html and "<em>" not in html  # no markup from the target
    assert "evil|*x*&lt;b&gt;&amp;amp;`[l](u)`" in html  # shown as the characters it is
    rows = [t for t in tokens if t.type == "tr_open"]
    assert len(rows) == 4  # a header and three findings: the name's "|" opened no cell
    cells = [t for t in tokens if t.type == "td_open"]
    assert len(cells) == 12
    assert "error, suppressed: pinned by the platform team (ticket 12)" in html
    assert html.count("<details>") == 3
    assert "<h2>envdoctor check</h2>" in html


@pytest.mark.parametrize("fmt", list(Format))
def test_a_suppressed_finding_shows_as_suppressed_in_every_format(fmt: Format) -> None:
    text = out(fmt).lower()
    assert "suppressed" in text
    assert "ticket 12" in text


def test_the_catalog_knows_every_finding_id_the_code_writes() -> None:
    import re

    source = "\n".join(p.read_text() for p in (Path(__file__).resolve().parents[3] / "envdoctor").rglob("*.py"))
    written = set(re.findall(r'\bid="([a-z0-9-]+)"', source))
    written |= set(re.findall(r'^[A-Z_]*_ID = "([a-z0-9-]+)"', source, re.MULTILINE))  # runtime/imports.py
    for prefix, rid in re.findall(r'_finding\(\s*f?"(\{prefix\})?([a-z0-9-]+)"', source):
        written |= {rid, f"extra-{rid}"} if prefix else {rid}  # prefix: "extra-" or ""
    assert len(written) > 15
    assert written <= set(catalog.BUILT_IN), written - set(catalog.BUILT_IN)
