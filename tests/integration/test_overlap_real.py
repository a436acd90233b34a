"""The calls and matrix checks in a forked child beside the symbols check (diagnose.overlapped), on a real stack:
transformers 4.37.2 with accelerate 1.0.1 and torch (tests/beds/README.md), whose calls check reports
``Accelerator(dispatch_batches=...)``. The report and the cache entries are those of the checks in order."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from envdoctor.inventory import Inventory
from envdoctor.target import Target
from tests import beds
from tests.alone import in_a_single_threaded_process
from tests.unit.test_overlap import no_child_left, run_checks, run_in_order, where

pytestmark = pytest.mark.venv


@in_a_single_threaded_process
def test_the_overlapped_check_of_a_real_stack_is_the_checks_in_order(
    trainer_accelerate_removed_keyword: beds.Bed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    python = str(trainer_accelerate_removed_keyword.python)
    inv = Inventory.from_payload(Target.resolve(python).probe("inventory", {}, timeout=120))
    log = tmp_path / "pids"
    where(monkeypatch, log)
    after = run_checks(inv, tmp_path / "after")
    assert log.read_text().split() != [str(os.getpid())]  # the matrix check ran in a child
    assert after == run_in_order(inv, tmp_path / "before", monkeypatch)
    assert [f["id"] for f in after[0]["findings"] if f["check"] == "calls"] == ["call-keyword-missing"]
    assert after[0]["skipped"] == []
    no_child_left()
