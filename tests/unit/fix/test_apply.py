"""``envdoctor pin --apply`` (envdoctor.fix.apply): what it says when pip fails, and in a notebook kernel."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from envdoctor.fix.pinfile import pin_set
from envdoctor.fix.planner import Move, Plan
from envdoctor.versions import canonical
from tests.fakes import NO_PIP_CONFIG as NO_CONFIG
from tests.fakes import Fake, scan, site_with


def test_apply_in_a_kernel_names_moved_modules_it_has_already_imported(tmp_path: Path) -> None:
    import sys

    from envdoctor.fix.apply import stale_modules
    from envdoctor.fix.pin import PinResult, Verification
    from envdoctor.fix.pinfile import PinSet
    from envdoctor.report import Report

    inv = scan(site_with(tmp_path, {"pytest": Fake("8.0"), "never-imported": Fake("1.0")}))
    moves = tuple(
        Move(canonical(n), n, "1.0", "2.0", f"{n}==2.0") for n in ("pytest", "never-imported")
    )  # pytest runs this test: it is in sys.modules
    result = PinResult(inv, Report(), Plan(moves=moves), PinSet(()), Verification(True, ""))
    assert stale_modules(result, sys.executable) == ("pytest",)
    assert stale_modules(result, str(tmp_path / "other-python")) == ()  # another interpreter: nothing stale here


def test_apply_when_pip_fails_says_what_changed_and_how_to_roll_back(
    fake_venv: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from envdoctor.fix.apply import apply
    from envdoctor.fix.pin import PinResult, Verification
    from envdoctor.inventory import Inventory
    from envdoctor.report import Report
    from envdoctor.target import Target
    from tests.fakes import write_dist

    python, site = fake_venv
    write_dist(site, "accelerate", Fake("0.31.0"))
    inv = Inventory.from_payload(Target.resolve(python).probe("inventory", {}, timeout=60))
    move = Move(canonical("accelerate"), "accelerate", "0.31.0", "0.32.1", "accelerate==0.32.1", ("symbol-missing: x",))
    plan = Plan(moves=(move,))
    result = PinResult(inv, Report(), plan, pin_set(inv, plan, ["accelerate"], pip=NO_CONFIG), Verification(True, "ok"))
    for key, value in {"PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": "http://127.0.0.1:9/simple"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    said: list[str] = []
    rollback = tmp_path / "rollback.txt"
    done = apply(result, rollback_file=rollback, confirm=lambda _q: True, say=said.append, timeout=300)
    assert not done.ok and done.changed == ()
    assert done.message.startswith("pip failed (") and "The environment now: nothing changed" in done.message
    assert done.message.endswith(f"To roll back: {done.rollback_command}")
    assert rollback.read_text().splitlines()[-1] == "accelerate==0.31.0"  # written before pip ran
    assert any(line.startswith("to undo: ") for line in said)
