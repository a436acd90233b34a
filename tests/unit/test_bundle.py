"""`envdoctor report` on fabricated environments: what the device probe adds and how an interrupt ends it
(the real venvs are in tests/integration/test_report_why_real.py and test_redaction_real.py)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from tests.fakes import Fake, write_dist
from tests.hostile import HANGS_AND_SAYS_SO, interrupt_once_it_hangs


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupt_while_torch_imports_for_the_device_facts_stops_it(
    fake_venv: tuple[Path, Path], tmp_path: Path, sig: signal.Signals, code: int
) -> None:
    python, site = fake_venv
    fifo = tmp_path / "started"
    os.mkfifo(fifo)
    write_dist(site, "torch", Fake("2.13.0", files={"torch/__init__.py": HANGS_AND_SAYS_SO.format(fifo=str(fifo))}))
    returncode, stdout, error = interrupt_once_it_hangs(
        ("report", "--python", str(python), "--timeout", "600"), fifo, sig
    )
    assert returncode == code
    assert f"interrupted ({sig.name})" in error
    assert stdout == ""  # no half bundle
