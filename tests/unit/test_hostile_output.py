"""Hostile environments, output (issue 11, items 4 and 10): `--output` onto a device, a pipe, a symlink, a
file with its own mode; stdout on a full device. The report lands where asked, nothing else changes."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tests.fakes import Fake, write_dist
from tests.hostile import BOUND, envdoctor, environment, one_line_error, snapshot


@pytest.fixture
def venv(fake_venv: tuple[Path, Path]) -> Path:
    python, site = fake_venv
    write_dist(site, "demo", Fake("1.0", ["not-installed>=1"]))
    return python


def check_to(python: Path, output: Path | str, *extra: str) -> subprocess.CompletedProcess[str]:
    return envdoctor("check", "--python", str(python), "--no-symbols", "--format", "text", "-o", str(output), *extra)


def test_a_regular_file_keeps_its_mode_and_nothing_beside_it_changes(venv: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "report.txt"
    out.parent.mkdir()
    out.write_text("old\n")
    out.chmod(0o644)
    (out.parent / "neighbour.txt").write_text("keep me\n")
    before = snapshot(out.parent)
    res = check_to(venv, out)
    assert res.returncode == 1, res.stderr
    assert "requirement-missing" in out.read_text() or "not-installed" in out.read_text()
    assert stat.S_IMODE(out.stat().st_mode) == 0o644
    after = snapshot(out.parent)
    assert set(after) == set(before)  # no .partial left, nothing added
    assert after[str(out.parent / "neighbour.txt")] == before[str(out.parent / "neighbour.txt")]


def test_a_new_file_gets_the_umask_mode_not_0600(venv: Path, tmp_path: Path) -> None:
    out = tmp_path / "new.txt"
    res = check_to(venv, out)
    assert res.returncode == 1, res.stderr
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


def test_a_symlink_is_followed_and_stays_a_symlink(venv: Path, tmp_path: Path) -> None:
    real = tmp_path / "reports" / "latest-real.txt"
    real.parent.mkdir()
    real.write_text("old\n")
    real.chmod(0o640)
    link = tmp_path / "latest.txt"
    link.symlink_to(real)
    res = check_to(venv, link)
    assert res.returncode == 1, res.stderr
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert "not-installed" in real.read_text()
    assert stat.S_IMODE(real.stat().st_mode) == 0o640


def test_a_symlink_to_nothing_is_refused(venv: Path, tmp_path: Path) -> None:
    link = tmp_path / "dangling.txt"
    link.symlink_to(tmp_path / "missing" / "x.txt")
    res = check_to(venv, link)
    assert res.returncode == 2
    assert "not followed" in one_line_error(res.stderr)
    assert link.is_symlink() and not (tmp_path / "missing").exists()


def test_a_pipe_is_written_as_it_is(venv: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    got: list[str] = []

    def read() -> None:
        with open(fifo, encoding="utf-8") as fh:
            got.append(fh.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    res = check_to(venv, fifo)
    reader.join(BOUND)
    assert res.returncode == 1, res.stderr
    assert got and "not-installed" in got[0]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_a_device_node_is_written_as_it_is(venv: Path, tmp_path: Path) -> None:
    null = tmp_path / "null"
    try:
        os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # what /dev/null is
    except PermissionError:
        pytest.skip("mknod is not allowed here")
    res = check_to(venv, null)
    assert res.returncode == 1, res.stderr
    assert stat.S_ISCHR(os.lstat(null).st_mode)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".null")] == []


def test_dev_fd_1_is_stdout(venv: Path) -> None:
    # /dev/fd/1, not /dev/stdout: a regression that replaced the path (as root) could not damage this machine
    res = check_to(venv, "/dev/fd/1")
    assert res.returncode == 1, res.stderr
    assert "not-installed" in res.stdout


def test_stdout_on_a_full_device_is_one_line_and_exit_2(venv: Path) -> None:
    with open("/dev/full", "w") as full:
        res = subprocess.run(
            [sys.executable, "-m", "envdoctor", "check", "--python", str(venv), "--no-symbols", "--format", "text"],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            env=environment(),
            timeout=BOUND,
            check=False,
        )
    assert res.returncode == 2
    assert "cannot write to stdout: No space left on device" in one_line_error(res.stderr)


def test_format_outputs_go_through_the_same_writer(venv: Path, tmp_path: Path) -> None:
    """``-o FORMAT:FILE``: a symlink is followed and stays, a file keeps its mode, nothing is left beside them."""
    real = tmp_path / "reports" / "junit-real.xml"
    real.parent.mkdir()
    real.write_text("old\n")
    real.chmod(0o640)
    link = tmp_path / "junit.xml"
    link.symlink_to(real)
    sarif = tmp_path / "reports" / "envdoctor.sarif"
    res = envdoctor(
        "check",
        "--python",
        str(venv),
        "--no-symbols",
        "--format",
        "text",
        "-o",
        f"junit:{link}",
        "-o",
        f"sarif:{sarif}",
    )
    assert res.returncode == 1, res.stderr
    assert res.stdout.startswith("envdoctor check: ")  # the view stays on stdout
    assert link.is_symlink() and "<testsuites" in real.read_text()
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert '"version": "2.1.0"' in sarif.read_text()
    assert sorted(p.name for p in real.parent.iterdir()) == ["envdoctor.sarif", "junit-real.xml"]
