"""The report model, the exit-code policy and every renderer."""

from __future__ import annotations

import json

import pytest

from envdoctor import exitcodes
from envdoctor.render import RENDERERS, Format, RenderOptions, render
from envdoctor.report import Finding, Report, Severity, Skipped, Summary

FINDING_KEYS = {"id", "severity", "check", "packages", "title", "detail", "evidence", "fix"}


@pytest.fixture
def sample_report() -> Report:
    return Report.build(
        [
            Finding(
                "distribution-duplicate",
                Severity.WARNING,
                "2 copies of numpy are installed; 1.26.4 wins",
                packages=("numpy",),
                evidence=("1.26.4: /a (used)", "2.1.0: /b"),
                check="metadata",
            ),
            Finding(
                "requirement-conflict",
                Severity.ERROR,
                "transformers 4.46.0 requires tokenizers<0.21,>=0.20, but tokenizers 0.21.0 is installed",
                detail="outside the declared range",
                packages=("transformers", "tokenizers"),
                evidence=("/site/transformers-4.46.0.dist-info/METADATA: Requires-Dist: tokenizers<0.21,>=0.20",),
                fix=("tokenizers<0.21,>=0.20",),
                check="metadata",
            ),
        ],
        skipped=[Skipped("imports", "no probe selected")],
        summary=Summary(python="/venv/bin/python", python_version="3.11.7", distributions=2),
        checks=("metadata",),
    )


@pytest.mark.parametrize("fmt", list(Format))
def test_every_format_renders(fmt: Format, sample_report: Report) -> None:
    out = RENDERERS[fmt](sample_report, RenderOptions(width=100, color=False))
    assert "requirement-conflict" in out
    assert "tokenizers<0.21,>=0.20" in out


def test_table_covers_every_format() -> None:
    assert set(RENDERERS) == set(Format)


def test_findings_sorted_most_severe_first(sample_report: Report) -> None:
    assert [f.severity for f in sample_report.findings] == [Severity.ERROR, Severity.WARNING]


def test_json_schema_is_stable(sample_report: Report) -> None:
    data = json.loads(render(sample_report, Format.JSON))
    assert data["schema"] == "envdoctor.report/1"
    assert set(data) == {"schema", "envdoctor_version", "verdict", "python", "summary", "checks", "findings", "skipped"}
    assert set(data["summary"]) == {"distributions", "errors", "warnings", "infos", "skipped"}
    for f in data["findings"]:
        assert set(f) == FINDING_KEYS
        assert f["severity"] in {"error", "warning", "info"}
        assert isinstance(f["packages"], list) and isinstance(f["evidence"], list) and isinstance(f["fix"], list)
    assert data["skipped"] == [{"check": "imports", "reason": "no probe selected"}]
    assert data["summary"]["errors"] == 1 and data["summary"]["warnings"] == 1


def test_text_has_verdict_fix_and_no_escape_codes(sample_report: Report) -> None:
    out = render(sample_report, Format.TEXT, RenderOptions(color=False))
    assert "\x1b[" not in out
    assert "pip install 'tokenizers<0.21,>=0.20'" in out
    assert out.rstrip().splitlines()[-1].startswith("BROKEN: 1 error, 1 warning; 1 check could not run")
    assert "Could not check:" in out


def test_terminal_groups_by_severity(sample_report: Report) -> None:
    out = render(sample_report, Format.TERMINAL, RenderOptions(width=120, color=True))
    assert "\x1b[" in out
    assert out.index("Errors (1)") < out.index("Warnings (1)")
    plain = render(sample_report, Format.TERMINAL, RenderOptions(width=120, color=False))
    assert "\x1b[" not in plain


def test_verdict_never_says_ok_when_a_check_could_not_run() -> None:
    report = Report.build([], skipped=[Skipped("imports", "timed out")])
    assert report.verdict().startswith("INCOMPLETE")
    assert Report.build([]).verdict().startswith("OK")


@pytest.mark.parametrize(
    ("severities", "fail_on", "skipped", "code"),
    [
        ([], Severity.ERROR, False, 0),
        ([Severity.WARNING], Severity.ERROR, False, 0),
        ([Severity.WARNING], Severity.WARNING, False, 1),
        ([Severity.ERROR], Severity.ERROR, False, 1),
        ([Severity.INFO], Severity.INFO, False, 1),
        ([], Severity.ERROR, True, 0),
        ([], Severity.WARNING, True, 1),
    ],
)
def test_exit_code_policy(severities: list[Severity], fail_on: Severity, skipped: bool, code: int) -> None:
    report = Report.build(
        [Finding(f"x-{i}", s, "t") for i, s in enumerate(severities)],
        skipped=[Skipped("c", "r")] if skipped else [],
    )
    assert exitcodes.for_report(report, fail_on) == code


def test_severity_parse() -> None:
    assert Severity.parse("Warning") is Severity.WARNING
    with pytest.raises(ValueError, match="unknown severity"):
        Severity.parse("fatal")
