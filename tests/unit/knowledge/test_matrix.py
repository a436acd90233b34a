"""The matrix loader and validator, the rules check's failure mode, and the matrix / explain commands."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from envdoctor.cache import Cache
from envdoctor.checks.rules import SIGNALS, check_rules
from envdoctor.checks.signals.base import Files
from envdoctor.knowledge.matrix import MatrixError, load
from envdoctor.resources import data_dir
from tests.fakes import Fake, make_site, scan

ROOT = Path(__file__).resolve().parents[3]
GOOD = """family = "demo"

[[rule]]
id = "demo-break"
severity = "error"
title = "a {a} with b {b}"
applies = { a = ">=2", b = "<1.5" }
symptom = "ImportError: cannot import name 'x' from 'b'"
why = "a 2 needs b 1.5."
fix = ["b>=1.5"]
test = "tests/unit/knowledge/test_matrix.py::test_a_valid_rule_matches_only_its_world"

[[rule.evidence]]
kind = "wheel"
wheel = "a-2.0-py3-none-any.whl"
sha256 = "0000000000000000000000000000000000000000000000000000000000000000"
path = "a/core.py"
line = 3
match = "from b import x"
"""


def write(tmp_path: Path, text: str, name: str = "demo.toml") -> Path:
    (tmp_path / name).write_text(text)
    return tmp_path


def test_a_valid_rule_matches_only_its_world(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    matrix = load(write(tmp_path / "m", GOOD), signals=SIGNALS)
    [rule] = matrix.rules
    broken = scan(make_site(tmp_path / "broken", {"a": Fake("2.1"), "b": Fake("1.4")}))
    fine = scan(make_site(tmp_path / "fine", {"a": Fake("2.1"), "b": Fake("1.5")}))
    absent = scan(make_site(tmp_path / "absent", {"a": Fake("2.1")}))
    files = Files(Cache(None))
    [finding] = check_rules(broken, matrix, files)
    assert (finding.id, finding.title, finding.fix) == ("demo-break", "a 2.1 with b 1.4", ("b>=1.5",))
    assert "a-2.0-py3-none-any.whl" in finding.evidence[0]
    assert check_rules(fine, matrix, files) == []
    assert check_rules(absent, matrix, files) == []
    assert rule.source == "demo.toml:3"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('severity = "error"', 'severity = "fatal"'), "unknown severity"),
        (('b = "<1.5"', 'b = "<<1.5"'), "malformed specifier '<<1.5' for b"),
        (('why = "a 2 needs b 1.5."', 'why = "a 2 needs b 1.5."\ncolour = "red"'), "unknown key 'colour'"),
        (('test = "tests/unit/knowledge/test_matrix.py::test_a_valid_rule_matches_only_its_world"', ""), "has no test"),
        (('fix = ["b>=1.5"]', 'fix = ["upgrade b please"]'), "is not a requirement specifier"),
        (('kind = "wheel"', 'kind = "hearsay"'), "evidence kind 'hearsay'"),
        (('id = "demo-break"', 'id = "Demo_Break"'), "not kebab-case"),
        (('match = "from b import x"', ""), "wheel evidence needs match"),
    ],
)
def test_each_problem_names_file_and_line(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    root = write(tmp_path, GOOD.replace(*change))
    with pytest.raises(MatrixError) as info:
        load(root, signals=SIGNALS)
    assert any(message in str(i) and re.match(r"demo\.toml:\d+: ", str(i)) for i in info.value.issues), info.value


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace('severity = "error"', 'severity = "fatal"').replace('b = "<1.5"', 'b = "<<1.5"')
    with pytest.raises(MatrixError) as info:
        load(write(tmp_path, text), signals=SIGNALS)
    assert len(info.value.issues) == 2


def test_duplicate_ids_across_files(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    write(tmp_path, GOOD.replace('family = "demo"', 'family = "other"'), "other.toml")
    with pytest.raises(MatrixError, match="duplicate rule id 'demo-break'"):
        load(tmp_path, signals=SIGNALS)


def test_upstream_reference_alone_is_not_evidence(tmp_path: Path) -> None:
    text = (
        GOOD.split("[[rule.evidence]]", maxsplit=1)[0]
        + '[[rule.evidence]]\nkind = "issue"\nurl = "https://github.com/o/r/issues/1"\n'
    )
    with pytest.raises(MatrixError, match="not evidence by itself"):
        load(write(tmp_path, text), signals=SIGNALS)


def test_not_toml_at_all(tmp_path: Path) -> None:
    with pytest.raises(MatrixError, match=r"demo\.toml:2: not valid TOML"):
        load(write(tmp_path, 'family = "demo"\n[[rule]\n'), signals=SIGNALS)


def test_a_broken_matrix_is_a_finding_and_the_check_goes_on(tmp_path: Path) -> None:
    try:
        load(write(tmp_path, GOOD.replace('severity = "error"', 'severity = "fatal"')), signals=SIGNALS)
    except MatrixError as exc:
        broken = exc
    inv = scan(make_site(tmp_path / "site", {"a": Fake("2.1")}))
    [finding] = check_rules(inv, broken, Files(Cache(None)))
    assert finding.id == "matrix-invalid" and "demo.toml" in finding.evidence[0]


def test_the_shipped_matrix_is_valid_and_every_rule_has_its_test() -> None:
    matrix = load(data_dir("matrix"), signals=SIGNALS)
    for rule in matrix.rules:
        path, _, name = rule.test.partition("::")
        source = (ROOT / path).read_text()
        assert re.search(rf"^def {re.escape(name)}\(", source, re.M), f"{rule.id}: {rule.test} does not exist"


def test_matrix_and_explain_commands() -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "envdoctor", *args], capture_output=True, text=True, timeout=60)

    listing = run("matrix")
    assert listing.returncode == 0 and listing.stdout.rstrip().endswith("rules")
    unknown = run("explain", "no-such-rule")
    assert unknown.returncode == 2 and "no rule or finding id 'no-such-rule'" in unknown.stderr
    # a finding id that `check` prints is explained too, and a near miss is suggested
    finding = run("explain", "symbol-missing")
    assert finding.returncode == 0, finding.stderr
    assert "symbol-missing  (a finding of envdoctor's own checks, not a matrix rule)" in finding.stdout
    assert "names something its installed version lacks" in finding.stdout
    typo = run("explain", "symbol-mising")
    assert typo.returncode == 2 and "did you mean symbol-missing" in typo.stderr
    assert run("matrix", "--family", "no-such-family").returncode == 2
    hardware = run("matrix", "--hardware")
    assert "bf16-torch-native                     torch==2.13.0: compute capability >= 8.0; below: false" in (
        hardware.stdout.splitlines()
    )
    facts = json.loads(run("matrix", "--hardware", "--format", "json").stdout)["facts"]
    fp8 = {f["id"]: f["needs"] for f in facts if f["id"].startswith("fp8-accelerate")}
    assert fp8 == {"fp8-accelerate-0-17": "compute capability >= 9.0", "fp8-accelerate": "compute capability >= 8.9"}


def test_a_failing_signal_is_reported_as_could_not_check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in one check must not hide the others' findings, nor crash `envdoctor check`."""
    from envdoctor.checks import rules
    from envdoctor.diagnose import check_inventory

    def broken(*_: object) -> list[object]:
        raise RuntimeError("boom")

    monkeypatch.setitem(rules.SIGNALS, "numpy1-extensions", broken)
    inv = scan(make_site(tmp_path, {"numpy": Fake("2.0.2"), "a": Fake("1.0", ["b>=2"]), "b": Fake("1.0")}))
    report = check_inventory(inv, symbols=False)
    assert [f.id for f in report.findings] == ["requirement-conflict"]
    assert [(s.check, s.reason) for s in report.skipped] == [("matrix", "internal error: RuntimeError: boom")]
    assert report.verdict().startswith("BROKEN") and "1 check could not run" in report.verdict()
