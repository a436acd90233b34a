"""The one door to other processes: every bad ending is a typed result, never a traceback."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from envdoctor import runner
from envdoctor.errors import TargetError
from envdoctor.runner import Outcome


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_ok_and_output_kept() -> None:
    res = runner.run_command(py("print('hello'); import sys; print('oops', file=sys.stderr)"), timeout=30)
    assert res.outcome is Outcome.OK and res.returncode == 0
    assert res.stdout.strip() == "hello" and res.stderr.strip() == "oops"


def test_non_zero_exit() -> None:
    res = runner.run_command(py("raise SystemExit(4)"), timeout=30)
    assert (res.outcome, res.returncode) == (Outcome.FAILED, 4)


def test_segfault_is_crashed_with_signal_name() -> None:
    res = runner.run_command(py("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"), timeout=30)
    assert res.outcome is Outcome.CRASHED
    assert res.signal_name == "SIGSEGV"


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    code = (
        "import subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        f"open({str(pidfile)!r}, 'w').write(str(p.pid))\n"
        "time.sleep(120)\n"
    )
    start = time.monotonic()
    res = runner.run_command(py(code), timeout=2)
    assert res.outcome is Outcome.TIMEOUT
    assert time.monotonic() - start < 30
    grandchild = int(pidfile.read_text())
    # The grandchild was in the same group and got SIGKILL; wait for init to reap it.
    for _ in range(100):
        try:
            os.kill(grandchild, 0)
        except ProcessLookupError:
            break
        if _is_zombie(grandchild):
            break
        time.sleep(0.05)
    else:
        pytest.fail("the grandchild survived the timeout")


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


def test_output_flood_is_capped() -> None:
    res = runner.run_command(py("import sys\nfor _ in range(200): sys.stdout.write('x' * 50000 + '\\n')"), timeout=60)
    assert res.outcome is Outcome.OK
    assert res.stdout_bytes > 10_000_000
    assert len(res.stdout) < 2 * runner.OUTPUT_TAIL_BYTES
    assert "earlier bytes not kept" in res.stdout


def test_missing_program_raises_target_error(tmp_path: Path) -> None:
    with pytest.raises(TargetError, match="no such file"):
        runner.run_command([str(tmp_path / "nope")], timeout=5)


def test_non_executable_file_raises_target_error(tmp_path: Path) -> None:
    f = tmp_path / "python"
    f.write_text("not a program")
    f.chmod(0o644)
    with pytest.raises(TargetError, match="permission denied"):
        runner.run_command([str(f)], timeout=5)


def test_probe_result_round_trip() -> None:
    res = runner.run_probe(sys.executable, "inventory", {}, timeout=60)
    assert res.ok and res.payload is not None
    assert res.payload["schema"] == "envdoctor.inventory/1"
    assert res.payload["python"]["version"].startswith(f"{sys.version_info[0]}.{sys.version_info[1]}")


def test_probe_in_a_program_that_is_not_python(tmp_path: Path) -> None:
    res = runner.run_probe("/bin/true", "inventory", {}, timeout=10)
    assert res.outcome is Outcome.BAD_OUTPUT
    assert "wrote no result" in res.message


def test_probe_leaves_no_bytecode_behind() -> None:
    from envdoctor.resources import data_dir

    runner.run_probe(sys.executable, "inventory", {}, timeout=60)
    assert not (data_dir("probes") / "__pycache__").exists()


def test_after_the_group_is_killed_envdoctor_waits_until_the_grandchildren_have_ended() -> None:
    """The group's SIGKILL reaches a grandchild a moment later; run_command's end waits for it (a test
    that checked right after envdoctor exited once found it still running under load)."""
    import signal
    import subprocess

    from tests.hostile import group_alive

    sh = subprocess.Popen(["sh", "-c", "sleep 60 & sleep 60 & wait"], start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while len(runner._group_members(sh.pid)) < 3 and time.monotonic() < deadline:
            os.sched_yield()
        assert len(runner._group_members(sh.pid)) == 3  # sh and its two sleeps
        os.killpg(sh.pid, signal.SIGKILL)
        sh.wait()
        runner._wait_group_gone(sh.pid)
        assert runner._group_members(sh.pid) == set() and not group_alive(sh.pid)
    finally:
        if sh.poll() is None:
            os.killpg(sh.pid, signal.SIGKILL)
            sh.wait()


def test_an_interrupt_right_after_the_start_still_kills_the_group() -> None:
    """Ctrl-C or SIGTERM can arrive before run_command blocks in wait() (while its output readers or its timer
    start, or in ``on_start``): the child's group is killed and reaped then too (the CI's SIGTERM test once found
    the probe still running after envdoctor exited 143)."""
    from tests.hostile import alive, group_alive

    started: list[int] = []

    def interrupted(pgid: int) -> None:
        started.append(pgid)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        runner.run_command(py("import time; time.sleep(60)"), timeout=600, on_start=interrupted)
    [pgid] = started
    assert not alive(pgid) and not group_alive(pgid)
