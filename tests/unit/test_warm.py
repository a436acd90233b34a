"""The warm path: a repeat check of an unchanged environment answers from the stored report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import envdoctor
from envdoctor import runner
from envdoctor.warm import to_dict
from tests.fakes import Fake, write_dist


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("ENVDOCTOR_CACHE_DIR", str(folder))
    return folder


def _lib_and_app(site: Path) -> Path:
    write_dist(site, "lib", Fake("1.0", files={"lib/__init__.py": "def foo():\n    pass\n"}))
    write_dist(site, "app", Fake("1.0", ["lib"], files={"app/__init__.py": "from lib import foo\n"}))
    return site / "lib-1.0.dist-info"


def test_repeat_check_imports_neither_packaging_nor_rich_nor_checks(
    fake_venv: tuple[Path, Path], cache_dir: Path
) -> None:
    python, site = fake_venv
    _lib_and_app(site)
    write_dist(site, "peft", Fake("0.15.0", ["accelerate>=0.21.0"]))
    code = (
        "import sys\n"
        "import envdoctor.runner\n"
        "if sys.argv[1] == 'warm':\n"
        "    envdoctor.runner.run_command = None  # the warm run starts no process\n"
        "from envdoctor.cli import main\n"
        f"rc = main(['check', '--python', {str(python)!r}, '--format', 'json'])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'packaging', 'rich'}"
        " or m.startswith(('envdoctor.checks', 'envdoctor.inventory', 'envdoctor.sources')))\n"
        "print(rc, heavy, file=sys.stderr)\n"
    )
    runs = [
        subprocess.run([sys.executable, "-c", code, run], capture_output=True, text=True) for run in ("cold", "warm")
    ]
    cold, warm = runs
    assert cold.stderr.split(" ", 1)[0] == "1"
    assert "packaging" in cold.stderr  # the first run parses metadata
    assert warm.stderr.strip() == "1 []"  # the repeat run reads nothing but the stored report
    assert json.loads(warm.stdout) == json.loads(cold.stdout)
    assert "requirement-missing" in warm.stdout


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_repeat_check_of_a_clean_environment_in_any_plain_format_loads_no_packaging(
    fake_venv: tuple[Path, Path], cache_dir: Path, fmt: str
) -> None:
    """The text view once imported packaging (through its fix block) even with nothing to fix: every warm
    run paid for it."""
    python, site = fake_venv
    _lib_and_app(site)
    code = (
        "import sys\n"
        "from envdoctor.cli import main\n"
        f"rc = main(['check', '--python', {str(python)!r}, '--format', {fmt!r}])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'packaging', 'rich', 'tomllib', 'difflib'})\n"
        "print(rc, heavy, file=sys.stderr)\n"
    )
    runs = (subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=site) for _ in range(2))
    cold, warm = runs
    assert cold.stderr.startswith("0 ") and "packaging" in cold.stderr
    assert warm.stderr.strip() == "0 []"
    assert warm.stdout == cold.stdout


def test_edited_installed_file_and_record_invalidate(fake_venv: tuple[Path, Path], cache_dir: Path) -> None:
    python, site = fake_venv
    lib = _lib_and_app(site)
    assert [f.id for f in envdoctor.check(python=str(python)).findings] == []
    assert [f.id for f in envdoctor.check(python=str(python)).findings] == []  # warm
    (site / "lib" / "__init__.py").write_text("def bar():\n    pass\n")
    record = lib / "RECORD"
    record.write_text(record.read_text().replace("lib/__init__.py,,", "lib/__init__.py,sha256=edited,21"))
    assert [f.id for f in envdoctor.check(python=str(python)).findings] == ["symbol-missing"]


def test_damaged_or_other_option_entries_are_recomputed(fake_venv: tuple[Path, Path], cache_dir: Path) -> None:
    python, site = fake_venv
    write_dist(site, "peft", Fake("0.15.0", ["accelerate>=0.21.0"]))
    first = to_dict(envdoctor.check(python=str(python)))
    [entry] = (cache_dir / "v3").glob("report-*.json")
    for damage in ("{", json.dumps({"key": entry.stem, "fingerprint": 3}), ""):
        entry.write_text(damage)
        assert to_dict(envdoctor.check(python=str(python))) == first
        assert json.loads(entry.read_text())["report"] == first  # rewritten
    assert to_dict(envdoctor.check(python=str(python), symbols=False))["checks"] == ["metadata", "matrix"]


def test_in_process_inventory_equals_the_probe() -> None:
    code = (
        "import json, sys\n"
        "from envdoctor import warm\n"
        "from envdoctor.target import Target\n"
        "here = warm.inventory_here({})\n"
        "probed = Target.resolve(None).probe('inventory', {}, timeout=60)\n"
        "print(json.dumps([here == probed, len(here['distributions']), here['fingerprint'] == probed['fingerprint']]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    same, count, same_fingerprint = json.loads(out)
    assert count > 0
    assert same_fingerprint
    assert same


def test_probe_answers_unchanged_when_the_stored_path_cannot_tell(
    fake_venv: tuple[Path, Path], cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python, site = fake_venv
    write_dist(site, "peft", Fake("0.15.0", ["accelerate>=0.21.0"]))
    first = to_dict(envdoctor.check(python=str(python)))
    [entry] = (cache_dir / "v3").glob("report-*.json")
    stored = json.loads(entry.read_text())
    stored["target"]["paths"] = [str(site.parent / "elsewhere")]  # the fingerprint here no longer matches
    entry.write_text(json.dumps(stored))
    answers: list[object] = []
    real = runner.run_probe

    def spy(*args: Any, **kwargs: Any) -> runner.ProbeResult:
        result = real(*args, **kwargs)
        answers.append(result.payload and result.payload.get("unchanged"))
        return result

    monkeypatch.setattr(runner, "run_probe", spy)
    assert to_dict(envdoctor.check(python=str(python))) == first
    assert answers == [True]  # the probe compared the fingerprint and read nothing else
