"""The library API: quiet, importable cheaply, never imports what it diagnoses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import envdoctor
from envdoctor.errors import IncompatibleEnvironmentError, UsageError
from tests.fakes import Fake, write_dist


def test_import_envdoctor_loads_nothing_heavy() -> None:
    code = "import sys, envdoctor; print(sorted(m for m in sys.modules if m.split('.')[0] in {'rich','packaging','torch','numpy'}))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(out.replace("'", '"')) == []


def test_check_never_imports_the_diagnosed_stack(fake_venv: tuple[Path, Path]) -> None:
    python, site = fake_venv
    # A fake torch whose import would announce itself.
    write_dist(site, "torch", Fake("2.13.0", files={"torch/__init__.py": "raise SystemExit('imported torch!')\n"}))
    code = (
        "import sys, envdoctor\n"
        f"r = envdoctor.check(python={str(python)!r})\n"
        "print(r.summary.distributions, [m for m in ('torch', 'numpy', 'transformers') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "1 []"


def test_assert_compatible_raises_with_the_report(
    fake_venv: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    python, site = fake_venv
    write_dist(site, "peft", Fake("0.15.0", ["accelerate>=0.21.0"]))
    with pytest.raises(IncompatibleEnvironmentError) as info:
        envdoctor.assert_compatible(python=str(python))
    assert [f.id for f in info.value.report.findings] == ["requirement-missing"]
    assert "requirement-missing" in str(info.value)
    assert capsys.readouterr() == ("", "")  # a library prints nothing


def test_assert_compatible_returns_report_when_fine(fake_venv: tuple[Path, Path]) -> None:
    python, site = fake_venv
    write_dist(site, "ok", Fake("1.0", metadata="Metadata-Version: 2.1\nName: ok\n"))  # a warning only
    report = envdoctor.assert_compatible(python=str(python))
    assert [f.id for f in report.findings] == ["metadata-corrupt"]
    with pytest.raises(IncompatibleEnvironmentError):
        envdoctor.assert_compatible(python=str(python), fail_on="warning")


def test_bad_python_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        envdoctor.check(python=str(tmp_path / "missing"))


def test_symbol_findings_cached_before_fix_became_specifiers_only_are_not_reused(tmp_path: Path) -> None:
    """A warm cache from an older envdoctor holds findings whose `fix` is prose; after the upgrade they are
    recomputed, never served with prose in `fix`."""
    from envdoctor.cache import Cache
    from envdoctor.diagnose import _symbols
    from envdoctor.source.index import fingerprint
    from tests.fakes import make_site, scan

    inv = scan(make_site(tmp_path / "site", {"a": Fake("1.0")}))
    cache = Cache(tmp_path / "cache")
    old = {"id": "symbol-missing", "severity": "error", "title": "t", "fix": ["a release of b that provides x"]}
    cache.put("symbols-" + fingerprint(inv), {"findings": [old]})
    found, _ = _symbols(inv, cache)
    assert all(not f.fix or "release of" not in f.fix[0] for f in found)
