"""The replay of a warm plain ``envdoctor check`` (envdoctor.replay): the same bytes and exit status as the
command itself, printed without loading the command line, and never once anything the output depends on
changed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes import Fake, write_dist

RUN = (
    "import sys\n"
    "from envdoctor.replay import main\n"
    "rc = main(sys.argv[1:])\n"
    "print(rc, 'envdoctor.cli' in sys.modules, file=sys.stderr)\n"
)


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A work folder outside any repository, with its own envdoctor cache."""
    monkeypatch.setenv("ENVDOCTOR_CACHE_DIR", str(tmp_path / "cache"))
    work = tmp_path / "work"
    (work / ".git").mkdir(parents=True)  # configuration discovery stops here
    return work


def envdoctor(cwd: Path, *args: str) -> tuple[str, int, bool]:
    """stdout, exit status, and whether the command line (envdoctor.cli) was loaded."""
    proc = subprocess.run([sys.executable, "-c", RUN, *args], capture_output=True, text=True, cwd=cwd, check=False)
    code, loaded = proc.stderr.split()[-2:]
    return proc.stdout, int(code), loaded == "True"


def _env(site: Path) -> None:
    write_dist(site, "lib", Fake("1.0", files={"lib/__init__.py": "def foo():\n    pass\n"}))
    write_dist(site, "peft", Fake("0.15.0", ["accelerate>=0.21.0"]))


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_a_warm_plain_check_prints_the_same_bytes_without_the_command_line(
    fake_venv: tuple[Path, Path], folder: Path, fmt: str
) -> None:
    python, site = fake_venv
    _env(site)
    args = ("check", "--python", str(python), "--format", fmt)
    cold = envdoctor(folder, *args)
    assert cold[1] == 1 and cold[2]  # requirement-missing: exit 1, the whole command ran
    again = envdoctor(folder, *args)
    assert again == (cold[0], 1, False)  # the same output and status, envdoctor.cli never loaded
    assert "requirement-missing" in cold[0]


def test_a_changed_environment_is_checked_again(fake_venv: tuple[Path, Path], folder: Path) -> None:
    python, site = fake_venv
    _env(site)
    args = ("check", "--python", str(python), "--format", "json")
    envdoctor(folder, *args)
    write_dist(site, "accelerate", Fake("0.21.0"))  # what peft lacked
    out, code, loaded = envdoctor(folder, *args)
    assert (code, loaded) == (0, True)
    assert "requirement-missing" not in out
    assert envdoctor(folder, *args) == (out, 0, False)


def test_configuration_variables_and_flags_outside_the_plain_set_run_the_command(
    fake_venv: tuple[Path, Path], folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python, site = fake_venv
    _env(site)
    args = ("check", "--python", str(python), "--format", "json")
    envdoctor(folder, *args)
    assert envdoctor(folder, *args)[2] is False
    (folder / "pyproject.toml").write_text('[tool.envdoctor]\nignore = [{id = "requirement-missing", reason = "x"}]\n')
    assert envdoctor(folder, *args)[1:] == (0, True)  # the configuration counts: the finding is ignored
    assert envdoctor(folder, *args)[2] is True  # and with one, nothing is replayed
    (folder / "pyproject.toml").unlink()
    monkeypatch.setenv("ENVDOCTOR_FAIL_ON", "error")  # any variable: another key
    assert envdoctor(folder, *args)[2] is True
    assert envdoctor(folder, *args, "--fail-on", "warning")[1:] == (1, True)  # not a plain check


def test_a_damaged_entry_is_ignored_and_rewritten(fake_venv: tuple[Path, Path], folder: Path, tmp_path: Path) -> None:
    python, site = fake_venv
    _env(site)
    args = ("check", "--python", str(python), "--format", "json")
    first = envdoctor(folder, *args)
    [entry] = (tmp_path / "cache" / "v3").glob("replay-*.json")
    good = entry.read_text()
    for damage in ("{", json.dumps({"key": entry.stem, "stdout": 3}), ""):
        entry.write_text(damage)
        assert envdoctor(folder, *args) == (first[0], 1, True)
        assert entry.read_text() == good  # rewritten
    assert envdoctor(folder, *args) == (first[0], 1, False)
