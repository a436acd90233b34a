"""The throwaway copy where a plan is tried (envdoctor.fix.trial): real venvs, real pip, wheels from a local folder."""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

import pytest

from envdoctor import runner
from envdoctor.fix.trial import TrialError, trial_copy, try_plan
from envdoctor.inventory import Inventory
from envdoctor.target import Target
from tests.fakes import Fake, make_wheel, scan, write_dist
from tests.hostile import envdoctor, one_line_error

PIP = (sys.executable, "-m", "pip")


def _contents(root: Path) -> dict[str, str]:
    """Every path under ``root`` with a hash of its content (links by where they point)."""
    seen = {}
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(folder, name)
            if path.is_symlink():
                seen[str(path)] = "-> " + os.readlink(path)
            elif path.is_file():
                seen[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                seen[str(path)] = "dir"
    return seen


@pytest.fixture
def own_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """tempfile's folder, so a test sees every copy made (and that none is left)."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


@pytest.fixture
def target(fake_venv: tuple[Path, Path], tmp_path: Path) -> tuple[Path, Path, Path]:
    """A venv with ``big`` (unchanged), ``ns-a`` and ``ns-b`` sharing the namespace folder ``ns`` (ns-b moves
    1.0 -> 2.0, and 2.0 dropped a module), and a folder of wheels holding ns-b 2.0."""
    python, site = fake_venv
    write_dist(site, "big", Fake("1.0", files={"big/__init__.py": "X = 1\n", "big/sub/deep.py": "Y = 2\n"}))
    write_dist(site, "ns-a", Fake("1.0", files={"ns/a/__init__.py": "A = 'a'\n"}))
    write_dist(site, "ns-b", Fake("1.0", files={"ns/b/__init__.py": "VERSION = 1\n", "ns/b/old.py": ""}))
    wheels = tmp_path / "wheels"
    make_wheel(wheels, "ns-b", "2.0", {"ns/b/__init__.py": "VERSION = 2\n"})
    return python, site, wheels


def _run(python: str, code: str) -> runner.CommandResult:
    return runner.run_command([python, "-c", code], timeout=60)


def test_the_copy_has_the_plan_and_shares_the_rest_without_writing_to_the_target(
    target: tuple[Path, Path, Path], own_tmp: Path
) -> None:
    _, site, wheels = target
    inv = scan(site)
    before = _contents(site.parent.parent.parent)
    options = ["--no-index", f"--find-links {wheels}"]
    with trial_copy(inv, ["ns-b==2.0"], ["ns-b"], pip=PIP, options=options, timeout=120) as copy:
        ran = _run(copy.python, "import big.sub.deep, ns.a, ns.b; print(ns.b.VERSION, ns.a.A, big.X)")
        assert (ran.outcome, ran.stdout.split()) == (runner.Outcome.OK, ["2", "a", "1"])
        gone = _run(copy.python, "import ns.b.old")
        assert "No module named 'ns.b.old'" in gone.stderr  # the moved release's old file is not brought back
        copied = Path(copy.site)
        assert (copied / "big").is_symlink()  # one link for a folder only unchanged distributions own
        assert (copied / "ns").is_dir() and not (copied / "ns").is_symlink()
        assert (copied / "ns" / "a").is_symlink()
        assert copy.linked == 2 and copy.installed == ("ns-b==2.0",)
        versions = _run(copy.python, "import importlib.metadata as m; print(m.version('ns-b'), m.version('big'))")
        assert versions.stdout.split() == ["2.0", "1.0"]
    assert _contents(site.parent.parent.parent) == before
    assert list(own_tmp.iterdir()) == []


def test_the_copy_is_removed_when_the_run_inside_is_interrupted(target: tuple[Path, Path, Path], own_tmp: Path) -> None:
    _, site, wheels = target
    before = _contents(site)
    options = ["--no-index", f"--find-links {wheels}"]
    copy = trial_copy(scan(site), ["ns-b==2.0"], ["ns-b"], pip=PIP, options=options, timeout=120)
    with pytest.raises(KeyboardInterrupt), copy:
        raise KeyboardInterrupt
    assert list(own_tmp.iterdir()) == []
    assert _contents(site) == before


def test_pip_failing_is_one_sentence_and_leaves_nothing(target: tuple[Path, Path, Path], own_tmp: Path) -> None:
    _, site, wheels = target
    before = _contents(site)
    options = ["--no-index", f"--find-links {wheels}"]
    copy = trial_copy(scan(site), ["ns-b==3.0"], ["ns-b"], pip=PIP, options=options, timeout=120)
    with pytest.raises(TrialError) as caught, copy:
        pytest.fail("a copy whose install failed must not be used")
    message = str(caught.value)
    assert message.startswith("pip could not install the plan into the copy: ")
    assert "ns-b==3.0" in message and "\n" not in message
    assert list(own_tmp.iterdir()) == []
    assert _contents(site) == before


def test_a_distribution_without_record_is_named_not_guessed(fake_venv: tuple[Path, Path], own_tmp: Path) -> None:
    _, site = fake_venv
    write_dist(site, "norecord", Fake("1.0", files={"norecord/__init__.py": ""}, record=False))
    with trial_copy(scan(site), [], [], pip=PIP, timeout=60) as copy:
        assert copy.not_linked == ("norecord: no readable RECORD, so its files are unknown",)
        assert "No module named 'norecord'" in _run(copy.python, "import norecord").stderr


def _planned_move(fake_venv: tuple[Path, Path], tmp_path: Path, new_init: str) -> tuple[Path, dict[str, str]]:
    """A venv whose ``app`` requires ns-b>=2 while ns-b 1.0 is installed (so pin moves ns-b to 2.0), a
    local index holding ns-b 2.0 with ``new_init`` as its code, and the environment that makes pip use it."""
    python, site = fake_venv
    write_dist(site, "app", Fake("1.0", ["ns-b>=2"], files={"app/__init__.py": "import ns.b\n"}))
    write_dist(site, "ns-b", Fake("1.0", files={"ns/b/__init__.py": "VERSION = 1\n"}))
    make_wheel(tmp_path / "index", "ns-b", "2.0", {"ns/b/__init__.py": new_init})
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = {"PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(tmp_path / "index"), "TMPDIR": str(temp)}
    return python, env


def test_pin_verify_says_verified_only_after_the_import_ran_in_the_copy(
    fake_venv: tuple[Path, Path], tmp_path: Path
) -> None:
    python, env = _planned_move(fake_venv, tmp_path, "VERSION = 2\n")
    before = _contents(python.parent.parent)
    res = envdoctor("pin", "--python", str(python), "--verify", "--import", "import app", env=env)
    assert res.returncode == 0, res.stderr
    header = res.stdout.splitlines()[1]
    assert header.startswith("# verified: pip ")
    assert header.endswith(
        "in a throwaway copy of the environment with the plan installed (1 installed by pip, 1 shared), 1 import probe passes"
    )
    assert "ns-b==2.0  # was 1.0" in res.stdout
    assert _contents(python.parent.parent) == before
    assert list(Path(env["TMPDIR"]).iterdir()) == []


def test_pin_verify_of_a_plan_whose_import_fails_in_the_copy_is_not_verified_and_exits_1(
    fake_venv: tuple[Path, Path], tmp_path: Path
) -> None:
    python, env = _planned_move(fake_venv, tmp_path, "raise ImportError('ns-b 2.0 needs a newer app')\n")
    res = envdoctor("pin", "--python", str(python), "--verify", "--import", "import app", "--format", "json", env=env)
    assert res.returncode == 1, res.stderr
    out = json.loads(res.stdout)
    assert (out["verified"], out["tried_in_copy"]) == (False, True)
    assert out["verdict"].startswith("NOT verified: ")
    assert out["verdict"].endswith("`import app`: ImportError: ns-b 2.0 needs a newer app")
    assert list(Path(env["TMPDIR"]).iterdir()) == []


def test_an_import_that_fails_before_and_after_the_plan_is_not_held_against_it(
    target: tuple[Path, Path, Path], own_tmp: Path
) -> None:
    python, site, wheels = target
    write_dist(site, "broken", Fake("1.0", files={"broken/__init__.py": "raise RuntimeError('always')\n"}))
    options = ["--no-index", f"--find-links {wheels}"]
    tried = try_plan(
        Inventory.from_payload(Target.resolve(python).probe("inventory", {}, timeout=60)),
        ["ns-b==2.0"],
        ["ns-b"],
        pip=PIP,
        options=options,
        imports=["import ns.b", "import broken"],
        timeout=60,
        install_timeout=120,
    )
    assert tried.passed
    assert tried.unchanged == ("`import broken`: RuntimeError: always",)
    assert tried.summary.endswith("1 import probe passes (1 fails there as before: not the plan's doing)")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--verify", "--no-verify"], "--verify tries the plan that pip verified; it cannot go with --no-verify"),
        (["--import", "import x"], "--import runs with --probes, or in the copy that --verify builds: add one of them"),
    ],
)
def test_pin_verify_options_that_contradict_are_a_usage_error(args: list[str], message: str) -> None:
    res = envdoctor("pin", *args)
    assert res.returncode == 2
    assert one_line_error(res.stderr) == f"envdoctor: error: {message}"
