"""``envdoctor pin --apply`` (envdoctor.fix.apply): what it says when pip fails, and in a notebook kernel."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from envdoctor.fix.pinfile import pin_set
from envdoctor.fix.planner import Move, Plan
from envdoctor.versions import canonical
from tests.fakes import NO_PIP_CONFIG as NO_CONFIG
from tests.fakes import Fake


def test_apply_from_a_bang_shell_names_what_the_kernel_still_maps(tmp_path: Path) -> None:
    """`!envdoctor pin --apply` runs in a child of the kernel: the restart advice is about the kernel's modules
    (its mapped files that pip replaced), not envdoctor's own process."""
    import shutil
    import subprocess
    import sys

    from envdoctor.cli import restart_after_apply
    from envdoctor.runtime.kernel import Place
    from tests.fakes import write_dist

    site = tmp_path / "site"
    write_dist(site, "fastext", Fake("1.0", files={"fastext/_speedups.so": "old code"}))
    code = "import mmap, sys; f = open(sys.argv[1], 'rb'); m = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ); print('mapped', flush=True); sys.stdin.read()"
    kernel = subprocess.Popen(
        [sys.executable, "-c", code, str(site / "fastext/_speedups.so")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert kernel.stdout is not None and kernel.stdout.readline() == "mapped\n"
        # what pip does: move the old package aside (~astext), install the new one, delete the old copy
        (site / "fastext").rename(site / "~astext")
        shutil.rmtree(site / "fastext-1.0.dist-info")
        write_dist(site, "fastext", Fake("2.0", files={"fastext/_speedups.so": "new code"}))
        (site / "~astext" / "_speedups.so").unlink()
        place = Place("jupyter", kernel.pid)
        changed = ["fastext 1.0 -> 2.0", "pure 1.0 -> 2.0"]
        assert restart_after_apply(place, changed, [str(site)]) == (
            "Restart the kernel (Kernel > Restart) before training: the kernel runs the old code of fastext until it restarts"
        )
        assert "if the kernel imported any of fastext, pure" in restart_after_apply(
            Place("colab"), changed, [str(site)]
        )
        assert "Runtime > Restart session" in restart_after_apply(Place("colab"), changed, [str(site)])
        assert (
            restart_after_apply(Place(), changed, [str(site)]) == ""
        )  # not in a notebook: envdoctor's own process is no kernel
    finally:
        kernel.kill()
        kernel.communicate()


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
