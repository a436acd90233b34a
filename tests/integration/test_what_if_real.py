"""`envdoctor check --install/--requirements` on real venvs: the break an install would cause is reported
before anything is installed, and nothing in the venv changes. Needs the package index (pip's resolver
and the wheels of the new releases)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests import beds

pytestmark = [pytest.mark.venv, pytest.mark.online]


def listing(bed: beds.Bed) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(bed.root)), p.lstat().st_size) for p in bed.root.rglob("*"))


def what_if(bed: beds.Bed, *args: str) -> tuple[int, dict[str, Any]]:
    out = subprocess.run(
        [sys.executable, "-m", "envdoctor", "check", "--python", str(bed.python), "--format", "json", *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert out.stdout, out.stderr
    return out.returncode, json.loads(out.stdout)


def errors(report: dict[str, Any]) -> list[tuple[str, tuple[str, ...]]]:
    return [(f["id"], tuple(f["packages"])) for f in report["findings"] if f["severity"] == "error"]


def test_downgrading_accelerate_under_peft_0_15_is_caught_before_installing(peft_new_accelerate: beds.Bed) -> None:
    before = listing(peft_new_accelerate)
    rc, report = what_if(peft_new_accelerate, "--install", "accelerate==0.31.0")
    assert rc == 1
    assert ("symbol-missing", ("peft", "accelerate")) in errors(report)
    [summary] = [f for f in report["findings"] if f["id"] == "what-if"]
    assert "accelerate 0.32.0 -> 0.31.0" in summary["detail"]
    assert listing(peft_new_accelerate) == before  # nothing installed, nothing written


def test_a_numpy_2_upgrade_that_breaks_an_installed_extension_is_caught(
    numpy2_abi_break: beds.Bed, tmp_path: Path
) -> None:
    bed = beds.copy(numpy2_abi_break, tmp_path / "venv")
    beds.pip("install", "--no-deps", "numpy==1.26.4", python=bed.python)  # the state before the upgrade
    assert subprocess.run([str(bed.python), "-c", "import bottleneck"], check=False).returncode == 0
    req = tmp_path / "upgrade.txt"
    req.write_text("numpy==2.0.2  # the upgrade someone is about to make\n")
    rc, report = what_if(bed, "--requirements", str(req))
    assert rc == 1
    assert ("numpy1-extension-under-numpy2", ("bottleneck", "numpy")) in errors(report)


def test_an_install_pip_would_refuse_is_an_error_not_a_crash(small_clean: beds.Bed) -> None:
    rc, report = what_if(small_clean, "--install", "requests==2.31.0", "--install", "urllib3>=3.0,<2")
    assert rc == 1
    assert errors(report)[0][0] == "install-unresolvable"


def test_a_bad_requirements_line_is_exit_2_with_file_and_line(small_clean: beds.Bed, tmp_path: Path) -> None:
    req = tmp_path / "req.txt"
    req.write_text("requests\ntorch>=>2\n")
    out = subprocess.run(
        [sys.executable, "-m", "envdoctor", "check", "--python", str(small_clean.python), "-r", str(req)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 2
    assert f"{req}:2:" in out.stderr and "Traceback" not in out.stderr
