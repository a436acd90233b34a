"""Hostile environments, processes (issue 11, items 1 and 2): a .pth that starts a detached child holding
the probe's output, a probe that hangs and is interrupted, a pip run stopped by Ctrl-C. Each time:
the documented exit code, one line, no traceback, no process left behind, no temporary folder left."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from tests.fakes import Fake, write_dist
from tests.hostile import (
    BOUND,
    alive,
    envdoctor,
    group_alive,
    leftovers,
    one_line_error,
    pth,
    read_fifo_line,
    reaper,
    snapshot,
    start,
)

DETACHED = """
import os, subprocess
child = subprocess.Popen(["sleep", "300"], start_new_session=True)
with open({pidfile!r}, "w") as fh:
    fh.write("%d %d" % (child.pid, os.getpgid(child.pid)))
"""

HANG = """
import os, subprocess, time
if {only!r} in " ".join(sys.orig_argv):
    child = subprocess.Popen(["sleep", "300"])  # in the hanging process's group
    with open({fifo!r}, "w") as fh:
        fh.write("%d %d %d\\n" % (os.getpid(), os.getpgid(0), child.pid))
    time.sleep(300)
"""


def broken_venv(fake_venv: tuple[Path, Path]) -> tuple[Path, Path]:
    """A venv with one real finding (a missing requirement), so a report shows the checks ran."""
    python, site = fake_venv
    write_dist(site, "demo", Fake("1.0", ["not-installed>=1"]))
    return python, site


def test_a_detached_child_holding_the_probes_output_does_not_hang_check(
    fake_venv: tuple[Path, Path], tmp_path: Path
) -> None:
    python, site = broken_venv(fake_venv)
    pidfile = tmp_path / "detached.pid"
    pth(site, DETACHED.format(pidfile=str(pidfile)))
    before = snapshot(site)
    pids: list[int | subprocess.Popen[str]] = []
    with reaper(pids):
        res = envdoctor("check", "--python", str(python), "--timeout", "5", "--format", "json", "--no-cache")
        pid, pgid = map(int, pidfile.read_text().split())
        pids.append(pid)
        assert res.returncode == 1, res.stderr
        assert "Traceback" not in res.stderr
        ids = {f["id"] for f in json.loads(res.stdout)["findings"]}
        assert "requirement-missing" in ids  # the checks ran on what the probe read
        assert not alive(pid) and not group_alive(pgid)  # the escaped child was found by its pipe and killed
    assert snapshot(site) == before


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupt_while_the_probe_hangs_kills_its_group_and_removes_the_temporary_folder(
    fake_venv: tuple[Path, Path], tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    python, site = broken_venv(fake_venv)
    fifo = tmp_path / "started"
    os.mkfifo(fifo)
    pth(site, HANG.format(fifo=str(fifo), only="_launch.py"))
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    pids: list[int | subprocess.Popen[str]] = []
    with reaper(pids):
        proc = start("check", "--python", str(python), "--timeout", "600", env={"TMPDIR": str(tmp)})
        pids.append(proc)
        probe, pgid, child = map(int, read_fifo_line(fifo).split())
        pids += [probe, child]
        assert leftovers(tmp)  # the probe's request is in envdoctor's temporary folder while it runs
        proc.send_signal(sig)
        _, stderr = proc.communicate(timeout=BOUND)
        assert proc.returncode == code
        line = one_line_error(stderr)
        assert f"interrupted ({sig.name})" in line and "nothing in the target was changed" in line
        assert not alive(probe) and not alive(child) and not group_alive(pgid)
        assert leftovers(tmp) == []


def test_ctrl_c_during_pin_apply_stops_pip_and_says_what_the_environment_holds(
    fake_venv: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from envdoctor.errors import Interrupted
    from envdoctor.fix.apply import apply
    from envdoctor.fix.pin import PinResult, Verification
    from envdoctor.fix.pinfile import pin_set
    from envdoctor.fix.pipconfig import PipConfig
    from envdoctor.fix.planner import Move, Plan
    from envdoctor.inventory import Inventory
    from envdoctor.report import Report
    from envdoctor.target import Target
    from envdoctor.versions import canonical

    python, site = fake_venv
    write_dist(site, "accelerate", Fake("0.31.0"))
    fifo = tmp_path / "pip-started"
    os.mkfifo(fifo)
    pth(site, HANG.format(fifo=str(fifo), only="site-packages/pip"))  # `pip --python` runs in the target
    inv = Inventory.from_payload(Target.resolve(python).probe("inventory", {}, timeout=60))
    move = Move(canonical("accelerate"), "accelerate", "0.31.0", "0.32.1", "accelerate==0.32.1", ("symbol-missing: x",))
    plan = Plan(moves=(move,))
    pins = pin_set(inv, plan, ["accelerate"], pip=PipConfig())
    result = PinResult(inv, Report(), plan, pins, Verification(True, "ok"))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    started: list[int] = []

    def interrupt_once_pip_runs() -> None:
        try:
            started.extend(map(int, read_fifo_line(fifo, timeout=4 * BOUND).split()))
        finally:  # also when pip never got there: apply is stopped, and the test fails instead of hanging
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C: KeyboardInterrupt in the main thread, inside apply

    helper = threading.Thread(target=interrupt_once_pip_runs, daemon=True)
    helper.start()
    with reaper(started), pytest.raises(Interrupted) as caught:
        rollback = tmp_path / "rollback.txt"
        apply(result, rollback_file=rollback, confirm=lambda _q: True, say=lambda _s: None, timeout=8 * BOUND)
    helper.join(BOUND)
    pip, pgid, child = started
    message = caught.value.message
    assert message.startswith("interrupted (SIGINT): pip was stopped before it finished")
    assert "The environment: nothing changed." in message and "To roll back: " in message
    assert "\n" not in message and caught.value.signum == signal.SIGINT
    assert not alive(pip) and not alive(child) and not group_alive(pgid)
