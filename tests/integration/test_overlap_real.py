"""The symbols check's undeclared part and the calls and matrix checks in a forked child beside the broken names
(diagnose.overlapped), on real stacks (tests/beds/README.md): transformers 4.37.2 with accelerate 1.0.1 and torch,
whose calls check reports ``Accelerator(dispatch_batches=...)``, and trl 0.11.4 without rich, whose undeclared
part reports rich. The report and the cache entries are those of the checks in order."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from envdoctor.inventory import Inventory
from envdoctor.target import Target
from tests import beds
from tests.alone import in_a_single_threaded_process
from tests.unit.test_overlap import no_child_left, ran, run_checks, run_in_order, where

pytestmark = pytest.mark.venv


@pytest.mark.parametrize(
    ("bed", "check", "found"),
    [
        ("trainer_accelerate_removed_keyword", "calls", "call-keyword-missing"),
        ("trl_undeclared_rich", "symbols", "module-undeclared"),
    ],
)
@in_a_single_threaded_process
def test_the_overlapped_check_of_a_real_stack_is_the_checks_in_order(
    bed: str, check: str, found: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack: beds.Bed = request.getfixturevalue(bed)
    inv = Inventory.from_payload(Target.resolve(str(stack.python)).probe("inventory", {}, timeout=120))
    log = tmp_path / "pids"
    where(monkeypatch, log)
    after = run_checks(inv, tmp_path / "after")
    for part in ("rules", "undeclared"):
        assert ran(log, part) != [str(os.getpid())]  # ran in a child
    assert after == run_in_order(inv, tmp_path / "before", monkeypatch)
    assert found in [f["id"] for f in after[0]["findings"] if f["check"] == check]
    assert after[0]["skipped"] == []
    no_child_left()
