"""The warm ``envdoctor.assert_compatible()`` (envdoctor.verdict): the same verdict as envdoctor.api's, answered
from the cache without loading the report classes or the checks, and never once the environment changed."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
from pathlib import Path

import packaging
import pytest

import envdoctor
from envdoctor import api, diagnose, verdict
from envdoctor.report import Severity
from tests.fakes import Fake, write_dist

ROOT = Path(envdoctor.__file__).resolve().parents[1]
CALL = (
    "import sys, json\n"
    "sys.path += json.loads(sys.argv[1])\n"
    "import envdoctor\n"
    "try:\n"
    "    envdoctor.assert_compatible(fail_on=sys.argv[2])\n"
    "    outcome = 'passed'\n"
    "except envdoctor.IncompatibleEnvironmentError as exc:\n"
    "    outcome = str(exc).splitlines()[1]\n"
    "heavy = sorted(m for m in ('envdoctor.api', 'envdoctor.report', 'dataclasses') if m in sys.modules)\n"
    "print(json.dumps([outcome, heavy]))\n"
)


@pytest.fixture
def target(fake_venv: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, str]:
    """A venv whose own interpreter runs envdoctor from this checkout (packaging beside it, outside any
    distribution): (python, site-packages, the folders to add to its sys.path)."""
    monkeypatch.setenv("ENVDOCTOR_CACHE_DIR", str(tmp_path / "cache"))
    python, site = fake_venv
    deps = tmp_path / "deps"
    deps.mkdir()
    (deps / "packaging").symlink_to(Path(packaging.__file__).parent)
    write_dist(site, "lib", Fake("1.0", files={"lib/__init__.py": "def foo():\n    pass\n"}))
    write_dist(site, "app", Fake("1.0", ["lib"], files={"app/__init__.py": "from lib import foo\n"}))
    return python, site, json.dumps([str(ROOT), str(deps)])


def call(target: tuple[Path, Path, str], fail_on: str = "error") -> tuple[str, list[str]]:
    """What assert_compatible() did in the target's own process, and which heavy modules it loaded."""
    python, _site, paths = target
    proc = subprocess.run([str(python), "-c", CALL, paths, fail_on], capture_output=True, text=True, check=True)
    outcome, heavy = json.loads(proc.stdout)
    return outcome, heavy


def test_a_warm_passing_call_loads_neither_the_report_classes_nor_the_checks(target: tuple[Path, Path, str]) -> None:
    outcome, heavy = call(target)
    assert outcome == "passed" and "envdoctor.api" in heavy  # the first call runs the whole check
    assert call(target) == ("passed", [])  # the next one answers from the stored verdict


def test_the_stored_verdict_never_hides_a_finding(target: tuple[Path, Path, str]) -> None:
    _python, site, _paths = target
    write_dist(site, "peft", Fake("0.15.0", ["accelerate>=0.21.0"]))
    for _ in range(2):  # cold, then warm: the error is raised both times, with its text
        outcome, _heavy = call(target)
        assert outcome.startswith("  [requirement-missing] peft")
    write_dist(site, "accelerate", Fake("0.21.0"))  # fixed: the environment changed, so it is checked again
    assert call(target)[0] == "passed"
    assert call(target) == ("passed", [])


def test_a_lower_threshold_is_judged_against_the_stored_worst_finding(target: tuple[Path, Path, str]) -> None:
    _python, site, _paths = target
    write_dist(site, "nodist", Fake("1.0", record=False))  # record-missing: an info finding
    assert call(target)[0] == "passed"
    assert call(target) == ("passed", [])  # nothing reaches error
    outcome, heavy = call(target, "info")
    assert outcome.startswith("  [record-missing] nodist") and "envdoctor.api" in heavy  # the whole call raises


def test_the_constants_it_keeps_match_the_modules_it_does_not_load() -> None:
    assert verdict.DEFAULT_TIMEOUT == diagnose.DEFAULT_TIMEOUT
    assert {s.name: int(s) for s in Severity} == verdict._LEVELS
    ours, theirs = inspect.signature(verdict.assert_compatible), inspect.signature(api.assert_compatible)
    assert list(ours.parameters) == list(theirs.parameters)
    assert Severity.parse(ours.parameters["fail_on"].default) == theirs.parameters["fail_on"].default
    assert envdoctor.assert_compatible is verdict.assert_compatible
    assert os.path.samefile(inspect.getfile(verdict), ROOT / "envdoctor" / "verdict.py")
