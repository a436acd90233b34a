"""On fabricated but real venvs, everything pip check and uv pip check report, envdoctor reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import peers
from tests.fakes import Fake, write_dist

CASES = {
    "missing": {"a": Fake("1.0", ["b>=1"])},
    "conflict": {"a": Fake("1.0", ["b>=2"]), "b": Fake("1.0")},
    "python": {"new": Fake("3.0", requires_python=">=3.99")},
    "platform": {"old": Fake("1.0", wheel_tags=["cp27-cp27mu-manylinux1_x86_64"])},
    "bad-requirement": {"badreq": Fake("1.0", ["b >= = 2"])},
    "no-version": {"nover": Fake(metadata="Metadata-Version: 2.1\nName: nover\n")},
    "not-utf8": {"garbage": Fake(metadata=b"\x00\xff\xfe" * 50)},
    "no-metadata": {"gone": Fake("1.0", no_metadata=True)},
    "marker-false": {"a": Fake("1.0", ['pywin32; sys_platform == "win32"', 'b; extra == "x"'])},
}
# What the peers were seen to report for each case (pip 23.2.1 and uv 0.13.9); the parse must see it,
# or the comparison below would pass for want of anything to compare.
PEERS_SAW = {
    "missing": {"missing"},
    "conflict": {"conflict"},
    "python": {"python"},
    "platform": {"platform"},
    "bad-requirement": {"metadata"},
    "no-version": {"metadata"},
    "not-utf8": {"metadata"},
    "no-metadata": {"metadata"},
    "marker-false": set(),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_envdoctor_reports_whatever_pip_and_uv_report(case: str, fake_venv: tuple[Path, Path]) -> None:
    python, site = fake_venv
    for name, fake in CASES[case].items():
        write_dist(site, name, fake)
    write_dist(site, "dup", Fake("1.0"))
    write_dist(site, "dup", Fake("2.0"))
    findings = peers.envdoctor_report(python)[1]["findings"]
    problems = []
    for tool, run in (("pip", peers.pip_check), ("uv", peers.uv_check)):
        _, output = run(python)
        problems += peers.parse(tool, output)
    assert {p.kind for p in problems} >= PEERS_SAW[case] | {"duplicate"}
    assert peers.unanswered(problems, findings) == []
    errors = {f["id"] for f in findings if f["severity"] == "error"}
    if not problems:
        assert errors == set()
    if case == "marker-false":
        assert [f["id"] for f in findings] == ["distribution-duplicate"]
