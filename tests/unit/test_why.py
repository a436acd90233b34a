"""`envdoctor why PKG` on fabricated environments: the logic of who requires what (the real venv is in
tests/integration/test_report_why_real.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from envdoctor import cli
from tests.fakes import Fake, write_dist


@pytest.fixture
def env(fake_venv: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    python, site = fake_venv
    monkeypatch.setenv("ENVDOCTOR_CACHE_DIR", str(tmp_path / "cache"))
    write_dist(site, "app", Fake("1.0", ["lib>=2", "other<1", 'extra-thing; extra == "fancy"']))
    write_dist(site, "other", Fake("1.5"))
    write_dist(site, "tool", Fake("3.0", ["Other>=1.2"]))
    return python


def test_an_installed_package_out_of_one_range(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["why", "OTHER", "--python", str(env)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("other 1.5: installed in ")
    assert "  app 1.0: other<1  [NOT satisfied]" in out
    assert "  tool 3.0: Other>=1.2  [ok]" in out  # as declared
    assert "Requires: nothing (unconditionally)" in out
    assert "ERROR [requirement-conflict] app 1.0 requires other<1" in out


def test_a_missing_package_that_something_requires(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["why", "lib", "--python", str(env), "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["installed"] is None
    assert [(r["by"], r["specifier"], r["satisfied"]) for r in data["required_by"]] == [("app", ">=2", None)]
    assert [f["id"] for f in data["findings"]] == ["requirement-missing"]


def test_an_extra_only_requirement_and_an_unknown_name(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["why", "extra_thing", "--python", str(env)]) == 0
    assert "  app 1.0: extra-thing  [only with the extra [fancy]]" in capsys.readouterr().out
    assert cli.main(["why", "nothing-like-it", "--python", str(env)]) == 2
    assert "why nothing-like-it: no distribution 'nothing-like-it' is installed" in capsys.readouterr().err
    assert cli.main(["why", "not a name", "--python", str(env)]) == 2
