"""The library API: quiet, importable cheaply, never imports what it diagnoses."""

from __future__ import annotations

import json
import os
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


def test_assert_compatible_returns_none_when_fine(fake_venv: tuple[Path, Path]) -> None:
    python, site = fake_venv
    write_dist(site, "ok", Fake("1.0", metadata="Metadata-Version: 2.1\nName: ok\n"))  # a warning only
    assert envdoctor.assert_compatible(python=str(python)) is None  # a passing call echoes nothing in a cell
    with pytest.raises(IncompatibleEnvironmentError) as info:
        envdoctor.assert_compatible(python=str(python), fail_on="warning")
    assert [f.id for f in info.value.report.findings] == ["metadata-corrupt"]


def test_assert_compatible_require_names_the_version_and_the_fix(fake_venv: tuple[Path, Path]) -> None:
    python, site = fake_venv
    write_dist(site, "transformers", Fake("4.45.2"))
    with pytest.raises(IncompatibleEnvironmentError) as info:
        envdoctor.assert_compatible(python=str(python), require={"transformers": ">=4.46", "trl": ""})
    text = str(info.value)
    assert "the script requires transformers>=4.46, and 4.45.2 is installed" in text
    assert "fix: transformers>=4.46" in text
    assert "the script requires trl, and it is not installed" in text
    assert envdoctor.assert_compatible(python=str(python), require={"transformers": ">=4.45,<5"}) is None
    with pytest.raises(UsageError, match="not a version specifier"):
        envdoctor.assert_compatible(python=str(python), require={"transformers": "4.46"})


def test_assert_compatible_ignore_accepts_a_finding(fake_venv: tuple[Path, Path]) -> None:
    python, site = fake_venv
    write_dist(site, "peft", Fake("0.15.0", ["accelerate>=0.21.0"]))
    assert envdoctor.assert_compatible(python=str(python), ignore=["requirement-missing:peft"]) is None
    with pytest.raises(IncompatibleEnvironmentError):
        envdoctor.assert_compatible(python=str(python), ignore=["requirement-missing:torch"])


def test_report_is_iterable_sized_and_true_when_no_error(fake_venv: tuple[Path, Path]) -> None:
    python, site = fake_venv
    write_dist(site, "ok", Fake("1.0", metadata="Metadata-Version: 2.1\nName: ok\n"))
    report = envdoctor.check(python=str(python))
    assert [f.id for f in report] == ["metadata-corrupt"] and len(report) == 1
    assert report and report.ok  # a warning is not an error
    write_dist(site, "peft", Fake("0.15.0", ["accelerate>=0.21.0"]))
    broken = envdoctor.check(python=str(python))
    assert not broken and len(broken) == 2
    assert bool(envdoctor.Report()) is True  # nothing found


def test_report_to_dict_is_the_json_output_and_from_dict_round_trips(fake_venv: tuple[Path, Path]) -> None:
    from envdoctor.render import Format, render

    python, site = fake_venv
    write_dist(site, "peft", Fake("0.15.0", ["accelerate>=0.21.0"]))
    report = envdoctor.check(python=str(python))
    data = report.to_dict()
    assert data == json.loads(render(report, Format.JSON))
    assert data["schema"] == "envdoctor.report/2"
    back = envdoctor.Report.from_dict(data)
    assert back.to_dict() == data
    assert back.findings == report.findings and back.verdict() == report.verdict()
    with pytest.raises(ValueError, match="schema"):
        envdoctor.Report.from_dict({**data, "schema": "envdoctor.report/1"})


def test_public_names_are_all_exported_and_typed() -> None:
    assert set(envdoctor.__all__) == {
        "EnvdoctorError",
        "Finding",
        "IncompatibleEnvironmentError",
        "PinResult",
        "Report",
        "Severity",
        "__version__",
        "assert_compatible",
        "check",
        "pin",
        "what_if",
    }
    for name in envdoctor.__all__:
        assert getattr(envdoctor, name) is not None
    assert (Path(envdoctor.__file__).parent / "py.typed").exists()


def test_bad_python_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        envdoctor.check(python=str(tmp_path / "missing"))


def test_symbol_findings_cached_before_fix_became_specifiers_only_are_not_reused(tmp_path: Path) -> None:
    """A warm cache from an older envdoctor holds findings whose `fix` is prose; after the upgrade they are
    recomputed, never served with prose in `fix`."""
    from envdoctor.api import _symbols
    from envdoctor.cache import Cache
    from envdoctor.sources import fingerprint
    from tests.fakes import make_site, scan

    inv = scan(make_site(tmp_path / "site", {"a": Fake("1.0")}))
    cache = Cache(tmp_path / "cache")
    old = {"id": "symbol-missing", "severity": "error", "title": "t", "fix": ["a release of b that provides x"]}
    cache.put("symbols-" + fingerprint(inv), {"findings": [old]})
    found, _ = _symbols(inv, cache)
    assert all(not f.fix or "release of" not in f.fix[0] for f in found)


def test_assert_compatible_can_read_the_calling_script(fake_venv: tuple[Path, Path], tmp_path: Path) -> None:
    python, site = fake_venv
    write_dist(site, "lib", Fake("2.0", files={"lib/__init__.py": "", "lib/util.py": "KEPT = 1\n"}))
    script = tmp_path / "train.py"
    script.write_text(
        "import envdoctor\n"
        f"envdoctor.assert_compatible(python={str(python)!r}, scan_caller=True)\n"
        "from lib.util import GONE\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(envdoctor.__file__).parents[1])}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 1
    assert (
        f"[script-import-missing] {script}:3: `from lib.util import GONE` fails: lib 2.0 does not define GONE"
        in proc.stderr
    )
