"""`envdoctor report` on fabricated environments: what the device probe adds and how an interrupt ends it
(the real venvs are in tests/integration/test_report_why_real.py and test_redaction_real.py)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.fakes import Fake, write_dist
from tests.hostile import BOUND, alive, group_alive, one_line_error, read_fifo_line, reaper, start
from tests.unit.test_import_probes import HANGS_AND_SAYS_SO


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupt_while_torch_imports_for_the_device_facts_stops_it(
    fake_venv: tuple[Path, Path], tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    python, site = fake_venv
    fifo = tmp_path / "started"
    os.mkfifo(fifo)
    write_dist(site, "torch", Fake("2.13.0", files={"torch/__init__.py": HANGS_AND_SAYS_SO.format(fifo=str(fifo))}))
    pids: list[int] = []
    with reaper(pids):
        proc = start("report", "--python", str(python), "--timeout", "600")
        pids.append(proc.pid)
        probe, pgid, child = map(int, read_fifo_line(fifo).split())
        pids += [probe, child]
        proc.send_signal(sig)
        stdout, stderr = proc.communicate(timeout=BOUND)
        assert proc.returncode == code, stderr
        assert f"interrupted ({sig.name})" in one_line_error(stderr)
        assert stdout == ""  # no half bundle
        assert not alive(probe) and not alive(child) and not group_alive(pgid)
