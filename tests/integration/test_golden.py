"""Golden files: the exact output of `envdoctor check`, `pin` and `matrix` (text and JSON) on three real beds,
written before the package layout changed (issue 12) and compared on every run since, so a restructure that
changes one byte a user sees fails here.

Normalised, because they differ between runs or machines and say nothing about envdoctor: the folder the beds
live in (``ENVDOCTOR_BEDS``, default ``~/.cache/envdoctor-tests/beds``) becomes ``<BEDS>``. Nothing else is
rewritten: envdoctor prints no timings, and the interpreter is always the bed's own (under ``<BEDS>``).

To rewrite the files after an intended change of output: ``ENVDOCTOR_GOLDEN_UPDATE=1 pytest tests/integration/test_golden.py``,
then read the diff before committing it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import beds

GOLDEN = Path(__file__).resolve().parent.parent / "data" / "golden"
BEDS = ("small-clean", "peft-old-accelerate", "numpy2-abi-break")


def envdoctor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envdoctor", *args], capture_output=True, text=True, timeout=900, check=False
    )


def normalised(text: str) -> str:
    """The beds' folder as ``<BEDS>``, also where envdoctor printed it under the home directory as ``~/...``
    (every output shows the home directory as ``~``: issue 17's redaction, after these files were written)."""
    root = beds.beds_root()
    text = text.replace(str(root), "<BEDS>")
    home = Path.home()
    if root.is_relative_to(home):
        text = text.replace("~/" + root.relative_to(home).as_posix(), "<BEDS>")
    return text


def compare(name: str, out: subprocess.CompletedProcess[str]) -> None:
    got = f"exit code: {out.returncode}\n--- stdout\n{normalised(out.stdout)}--- stderr\n{normalised(out.stderr)}"
    path = GOLDEN / name
    if os.environ.get("ENVDOCTOR_GOLDEN_UPDATE"):
        path.write_text(got, encoding="utf-8")
    assert got == path.read_text(encoding="utf-8"), f"output differs from {path}"


@pytest.mark.venv
@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("bed_name", BEDS)
def test_check_output_is_unchanged(bed_name: str, fmt: str) -> None:
    bed = beds.build(bed_name)
    compare(f"check-{bed_name}.{fmt}.txt", envdoctor("check", "--python", str(bed.python), "--format", fmt))


@pytest.mark.venv
@pytest.mark.online
@pytest.mark.parametrize("fmt", ["requirements", "json"])
@pytest.mark.parametrize("bed_name", BEDS)
def test_pin_output_is_unchanged(bed_name: str, fmt: str) -> None:
    bed = beds.build(bed_name)
    compare(f"pin-{bed_name}.{fmt}.txt", envdoctor("pin", "--python", str(bed.python), "--format", fmt))


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("extra", [(), ("--hardware",), ("--family", "numpy")], ids=["rules", "hardware", "numpy"])
def test_matrix_output_is_unchanged(extra: tuple[str, ...], fmt: str) -> None:
    compare(f"matrix-{'-'.join(extra).strip('-') or 'rules'}.{fmt}.txt", envdoctor("matrix", *extra, "--format", fmt))


@pytest.mark.parametrize("finding", ["numpy1-extension-under-numpy2", "symbol-missing"])
def test_explain_output_is_unchanged(finding: str) -> None:
    compare(f"explain-{finding}.txt", envdoctor("explain", finding))


@pytest.mark.venv
def test_explain_text_output_is_unchanged() -> None:
    bed = beds.build("peft-old-accelerate")
    text = "ImportError: cannot import name 'clear_device_cache' from 'accelerate.utils.memory'"
    compare("explain-text-peft-old-accelerate.txt", envdoctor("explain", "--text", text, "--python", str(bed.python)))
