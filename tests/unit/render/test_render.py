"""The report model, the exit-code policy and every renderer."""

from __future__ import annotations

import html
import json
import re

import pytest

from envdoctor import exitcodes
from envdoctor.render import RENDERERS, Format, RenderOptions, render
from envdoctor.report import Finding, Report, Severity, Skipped, Summary

FINDING_KEYS = {"id", "severity", "check", "packages", "title", "detail", "evidence", "fix", "advice", "suppressed"}


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
    if fmt is Format.JUNIT:  # what an XML reader sees
        out = html.unescape(out)
    if fmt is Format.MARKDOWN:  # what the rendered page shows
        out = re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", out)
    assert "requirement-conflict" in out
    assert "tokenizers<0.21,>=0.20" in out


def test_table_covers_every_format() -> None:
    assert set(RENDERERS) == set(Format)


def test_findings_sorted_most_severe_first(sample_report: Report) -> None:
    assert [f.severity for f in sample_report.findings] == [Severity.ERROR, Severity.WARNING]


def test_json_schema_is_stable(sample_report: Report) -> None:
    data = json.loads(render(sample_report, Format.JSON))
    assert data["schema"] == "envdoctor.report/2"  # `fix` became specifiers only: a changed field, a new name
    assert set(data) == {"schema", "envdoctor_version", "verdict", "python", "summary", "checks", "findings", "skipped"}
    assert set(data["summary"]) == {"distributions", "errors", "warnings", "infos", "skipped", "suppressed"}
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


def _errors(*fixes: tuple[str, ...], builds: tuple[tuple[str, str], ...] = ()) -> Report:
    findings = [Finding("requirement-conflict", Severity.ERROR, f"e{i}", fix=fix) for i, fix in enumerate(fixes)]
    return Report.build(findings, summary=Summary(python="/p", python_version="3.11", torch_builds=builds))


def _fix_block(report: Report) -> list[str]:
    lines = render(report, Format.TEXT, RenderOptions(color=False)).splitlines()
    start = lines.index("Fix (first step):") + 1
    return [line.strip() for line in lines[start : lines.index("", start)]]


def test_first_step_merges_spellings_of_one_name_into_one_specifier() -> None:
    report = _errors(("huggingface-hub>=0.34.0",), ("huggingface_hub<2",), ("tokenizers>=0.22",))
    assert _fix_block(report) == ["pip install 'huggingface-hub<2,>=0.34.0' 'tokenizers>=0.22'"]


def test_first_step_never_moves_a_cpu_torch_to_a_pypi_build() -> None:
    """peft asks torch>=1.13.0, accelerate torch>=1.10.0, torch 1.9.0+cpu is installed: one torch line, on the
    PyTorch CPU index, in a command of its own (a bare `torch>=1.13.0` from PyPI is the CUDA build, GBs)."""
    report = _errors(("torch>=1.10.0",), ("torch>=1.13.0",), ("safetensors>=0.4",), builds=(("torch", "1.9.0+cpu"),))
    assert _fix_block(report) == [
        "pip install 'safetensors>=0.4'",
        "pip install 'torch>=1.13.0' --index-url https://download.pytorch.org/whl/cpu",
    ]


def test_first_step_says_a_torch_that_satisfies_the_fix_needs_no_move() -> None:
    report = _errors(("torch==2.13.0",), builds=(("torch", "2.13.0+cpu"),))
    assert _fix_block(report) == ["# torch needs no move: the installed 2.13.0+cpu satisfies ==2.13.0"]


def test_first_step_keeps_a_pytorch_tag_on_its_index_and_never_installs_a_missing_torch_from_pypi() -> None:
    tagged = _errors(("torchvision==0.28.0+cpu",), builds=(("torch", "2.13.0+cpu"), ("torchvision", "0.28.0")))
    assert _fix_block(tagged) == [
        "pip install torchvision==0.28.0+cpu --index-url https://download.pytorch.org/whl/cpu"
    ]
    [line] = _fix_block(_errors(("torch>=1.13.0",)))
    assert line.startswith("# torch>=1.13.0: not installed; install the build for this machine from its index")
    assert "pip install" not in line


def test_json_fix_holds_specifiers_and_prose_goes_to_advice() -> None:
    from packaging.requirements import Requirement

    finding = Finding(
        "requirement-conflict",
        Severity.ERROR,
        "t",
        fix=("idna<4,>=2.5",),
        advice=("or a release of requests that accepts idna==2.4",),
    )
    data = json.loads(render(Report.build([finding]), Format.JSON))["findings"][0]
    assert [str(Requirement(x)) for x in data["fix"]] == ["idna<4,>=2.5"]
    assert data["advice"] == ["or a release of requests that accepts idna==2.4"]
    assert Finding.from_dict(data) == finding
