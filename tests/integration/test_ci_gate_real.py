"""envdoctor as a CI gate on a real broken venv (peft-old-accelerate: `import peft` fails on
clear_device_cache) and a real healthy one (small-clean): exit codes per format and outcome, every CI file
read by a real consumer, configuration with a reasoned ignore, usage errors and an internal failure that
write no file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from junitparser import Failure, JUnitXml
from markdown_it import MarkdownIt

from tests import beds

pytestmark = pytest.mark.venv

SARIF_SCHEMA = Path(__file__).parent.parent / "data" / "sarif-schema-2.1.0.json"
CI_FORMATS = ("json", "junit", "github", "sarif", "markdown")


def envdoctor(
    *args: str, cwd: Path, env: dict[str, str] | None = None, code: str = ""
) -> subprocess.CompletedProcess[str]:
    """The real command line in a subprocess, in ``cwd`` (where the configuration is looked up)."""
    prelude = code + "\nfrom envdoctor.cli import main; import sys; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", prelude, "check", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


def every_file(folder: Path) -> list[str]:
    return [f"{fmt}:{folder / f'report.{fmt}'}" for fmt in CI_FORMATS]


def read(folder: Path, fmt: str) -> str:
    return (folder / f"report.{fmt}").read_text()


def consume(folder: Path) -> dict[str, object]:
    """Every CI file, read the way its consumer reads it."""
    doc = json.loads(read(folder, "sarif"))
    jsonschema.Draft4Validator(json.loads(SARIF_SCHEMA.read_text())).validate(doc)
    return {
        "json": json.loads(read(folder, "json")),
        "junit": {c.name: c for s in JUnitXml.fromfile(str(folder / "report.junit")) for c in s},
        "sarif": doc["runs"][0]["results"],
        "github": read(folder, "github").splitlines(),
        "markdown": MarkdownIt("commonmark").enable("table").render(read(folder, "markdown")),
    }


def test_broken_venv_fails_the_gate_and_every_file_says_why(peft_old_accelerate: beds.Bed, tmp_path: Path) -> None:
    outputs = [a for spec in every_file(tmp_path) for a in ("--output", spec)]
    proc = envdoctor("--python", str(peft_old_accelerate.python), *outputs, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.startswith("envdoctor check: ")  # the human view stays on stdout
    assert "BROKEN: 1 error" in proc.stdout
    got = consume(tmp_path)
    [error] = [f for f in got["json"]["findings"] if f["severity"] == "error"]  # type: ignore[index]
    assert (error["id"], error["packages"], error["suppressed"]) == ("symbol-missing", ["peft", "accelerate"], None)
    failures = [r for r in got["junit"]["symbols"].result if isinstance(r, Failure)]  # type: ignore[index]
    assert len(failures) == 1
    assert "clear_device_cache" in (failures[0].message or "")
    assert "fix: accelerate>=0.32.0" in (failures[0].text or "")
    assert got["junit"]["metadata"].is_passed  # type: ignore[index]
    levels = sorted(r["level"] for r in got["sarif"])  # type: ignore[attr-defined]
    assert levels == ["error", "note"]
    lines = got["github"]
    assert lines[0].startswith("::error title=envdoctor [symbol-missing]::peft 0.15.0 imports clear_device_cache")  # type: ignore[index]
    assert lines[-1].startswith("BROKEN: 1 error")  # type: ignore[index]
    assert "<td>error</td>" in got["markdown"]  # type: ignore[operator]
    assert "<strong>BROKEN: 1 error" in got["markdown"]  # type: ignore[operator]


def test_an_ignore_with_its_reason_passes_the_gate_and_every_format_shows_it(
    peft_old_accelerate: beds.Bed, tmp_path: Path
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "train"\n\n[tool.envdoctor]\n[[tool.envdoctor.ignore]]\nid = "symbol-missing"\n'
        'package = "peft"\nreason = "we never import peft in this job (ticket 42)"\n'
    )
    work = tmp_path / "src"
    work.mkdir()  # found from a subfolder, as ruff finds its configuration
    outputs = [a for spec in every_file(tmp_path) for a in ("-o", spec)]
    proc = envdoctor("--python", str(peft_old_accelerate.python), "--format", "text", *outputs, cwd=work)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    assert "SUPPRESSED ERROR [symbol-missing]" in proc.stdout
    got = consume(tmp_path)
    [peft] = [f for f in got["json"]["findings"] if "peft" in f["packages"]]  # type: ignore[index]
    assert peft["suppressed"] == "we never import peft in this job (ticket 42)"
    assert got["junit"]["symbols"].is_passed  # type: ignore[index]
    assert "SUPPRESSED ERROR [symbol-missing]" in (got["junit"]["symbols"].system_out or "")  # type: ignore[index]
    [sarif] = [r for r in got["sarif"] if r["level"] == "error"]  # type: ignore[attr-defined]
    assert sarif["suppressions"][0]["justification"] == "we never import peft in this job (ticket 42)"
    assert not any(line.startswith("::error") for line in got["github"])  # type: ignore[attr-defined]
    assert any(line.startswith("::notice title=envdoctor [symbol-missing] suppressed::") for line in got["github"])  # type: ignore[attr-defined]
    assert "error, suppressed: we never import peft in this job (ticket 42)" in got["markdown"]  # type: ignore[operator]
    # the command line beats the file: --fail-on info fails on the note the ignore does not cover
    strict = envdoctor("--python", str(peft_old_accelerate.python), "--fail-on", "info", cwd=work)
    assert strict.returncode == 1
    # and ENVDOCTOR_FAIL_ON beats the file's fail-on, not the command line
    (tmp_path / "pyproject.toml").write_text(
        (tmp_path / "pyproject.toml").read_text().replace("[tool.envdoctor]\n", '[tool.envdoctor]\nfail-on = "info"\n')
    )
    assert envdoctor("--python", str(peft_old_accelerate.python), cwd=work).returncode == 1
    env = {"ENVDOCTOR_FAIL_ON": "error"}
    assert envdoctor("--python", str(peft_old_accelerate.python), cwd=work, env=env).returncode == 0
    assert (
        envdoctor("--python", str(peft_old_accelerate.python), "--fail-on", "info", cwd=work, env=env).returncode == 1
    )


def test_command_line_ignore_passes_the_gate(peft_old_accelerate: beds.Bed, tmp_path: Path) -> None:
    proc = envdoctor(
        "--python", str(peft_old_accelerate.python), "--ignore", "symbol-missing:peft", "--format", "json", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    [peft] = [f for f in json.loads(proc.stdout)["findings"] if "peft" in f["packages"]]
    assert peft["suppressed"] == "ignored with --ignore on the command line"
    other = envdoctor("--python", str(peft_old_accelerate.python), "--ignore", "symbol-missing:torch", cwd=tmp_path)
    assert other.returncode == 1  # scoped to a package the finding is not about: still counts


@pytest.mark.parametrize("fmt", ("text", *CI_FORMATS))
def test_exit_code_per_stdout_format(
    fmt: str, peft_old_accelerate: beds.Bed, small_clean: beds.Bed, tmp_path: Path
) -> None:
    broken = envdoctor("--python", str(peft_old_accelerate.python), "--format", fmt, cwd=tmp_path)
    healthy = envdoctor("--python", str(small_clean.python), "--format", fmt, cwd=tmp_path)
    assert (broken.returncode, healthy.returncode) == (1, 0), broken.stderr + healthy.stderr
    assert broken.stdout and healthy.stdout


def test_healthy_venv_passes_and_every_file_is_valid(small_clean: beds.Bed, tmp_path: Path) -> None:
    outputs = [a for spec in every_file(tmp_path) for a in ("--output", spec)]
    proc = envdoctor("--python", str(small_clean.python), *outputs, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    got = consume(tmp_path)
    assert got["sarif"] == []
    assert all(case.is_passed for case in got["junit"].values())  # type: ignore[attr-defined]
    assert got["github"] == ["OK: 0 errors, 0 warnings (5 distributions checked)"]


def test_github_actions_gets_annotations_on_stdout(peft_old_accelerate: beds.Bed, tmp_path: Path) -> None:
    proc = envdoctor("--python", str(peft_old_accelerate.python), cwd=tmp_path, env={"GITHUB_ACTIONS": "true"})
    assert proc.returncode == 1
    assert proc.stdout.startswith("::error title=envdoctor [symbol-missing]::")
    text = envdoctor(
        "--python", str(peft_old_accelerate.python), "--format", "text", cwd=tmp_path, env={"GITHUB_ACTIONS": "true"}
    )
    assert text.stdout.startswith("envdoctor check: ")  # an explicit --format wins


def test_usage_errors_and_internal_failures_write_no_file(small_clean: beds.Bed, tmp_path: Path) -> None:
    outputs = [a for spec in every_file(tmp_path) for a in ("--output", spec)]
    python = ("--python", str(small_clean.python))
    bad = tmp_path / "bad.toml"
    bad.write_text('fail-on = "warning"\nignore = [{id = "symbol-missing"}]\n')
    proc = envdoctor(*python, "--config", str(bad), *outputs, cwd=tmp_path)
    assert proc.returncode == 2
    assert f"{bad}:2: ignore entry 1 (symbol-missing): a reason is required" in proc.stderr
    assert envdoctor(*python, "--output", "sarif:", cwd=tmp_path).returncode == 2
    assert envdoctor(*python, "-o", f"junit:{tmp_path}/missing/r.xml", cwd=tmp_path).returncode == 2
    assert envdoctor(*python, "--ignore", ":peft", cwd=tmp_path).returncode == 2
    assert envdoctor(*python, cwd=tmp_path, env={"ENVDOCTOR_FAIL_ON": "fatal"}).returncode == 2
    planted = "import envdoctor.render.sarif as s\ndef boom(*a): raise RuntimeError('planted bug')\ns.render = boom"
    crash = envdoctor(*python, *outputs, cwd=tmp_path, code=planted)
    assert crash.returncode == 3
    assert "planted bug" in crash.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.toml"]  # no file, not even the ones before sarif


def test_legacy_output_file_still_replaces_stdout(small_clean: beds.Bed, tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    proc = envdoctor("--python", str(small_clean.python), "--format", "json", "-o", str(target), cwd=tmp_path)
    assert (proc.returncode, proc.stdout) == (0, "")
    assert json.loads(target.read_text())["verdict"].startswith("OK")
