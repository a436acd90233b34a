"""envdoctor on real venvs built from real released wheels, compared with pip check and uv pip check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests import beds, peers

pytestmark = pytest.mark.venv


def run_in(bed: beds.Bed, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(bed.python), "-c", code], capture_output=True, text=True, timeout=600)


def test_healthy_hf_stack_is_clean_like_pip_check(hf_stack: beds.Bed) -> None:
    rc_pip, out_pip = peers.pip_check(hf_stack.python)
    rc_uv, out_uv = peers.uv_check(hf_stack.python)
    assert rc_pip == 0, out_pip
    assert rc_uv == 0, out_uv
    rc, report = peers.envdoctor_report(hf_stack.python)
    findings = report["findings"]
    assert rc == 0
    assert [f for f in findings if f["severity"] == "error"] == []
    assert report["summary"]["distributions"] >= 50
    # and the stack really works: the user's first line of a training script
    proc = run_in(hf_stack, "from transformers import Trainer; import peft, trl, datasets, accelerate; print('ok')")
    assert proc.stdout.strip().endswith("ok"), proc.stderr[-2000:]


def test_conflict_bed_reports_what_pip_and_uv_report(conflict_bed: beds.Bed) -> None:
    problems = []
    for tool, run in (("pip", peers.pip_check), ("uv", peers.uv_check)):
        rc, output = run(conflict_bed.python)
        assert rc != 0, output
        problems += peers.parse(tool, output)
    assert {(p.tool, p.kind, p.package, p.other) for p in problems} == {
        ("pip", "missing", "transformers", "safetensors"),
        ("pip", "conflict", "transformers", "tokenizers"),
        ("uv", "missing", "transformers", "safetensors"),
        ("uv", "conflict", "transformers", "tokenizers"),
    }
    rc, report = peers.envdoctor_report(conflict_bed.python)
    assert rc == 1
    assert peers.unanswered(problems, report["findings"]) == []
    errors = sorted((f["id"], tuple(f["packages"])) for f in report["findings"] if f["severity"] == "error")
    assert errors == [
        ("requirement-conflict", ("transformers", "tokenizers")),
        ("requirement-missing", ("transformers", "safetensors")),
    ]
    # What the user meets: transformers checks its own pins at import time.
    proc = run_in(conflict_bed, "import transformers")
    assert proc.returncode != 0
    assert "tokenizers" in proc.stderr


def test_damaged_copy_of_a_real_bed(small_clean: beds.Bed, tmp_path: Path) -> None:
    """Damage a real venv the ways interrupted installs do; pip and uv stumble, envdoctor reports."""
    bed = beds.copy(small_clean, tmp_path / "damaged")
    [urllib3] = bed.site.glob("urllib3-*.dist-info")
    (urllib3 / "METADATA").write_bytes(b"\xff\xfe garbage \x00")
    [idna] = bed.site.glob("idna-*.dist-info")
    (idna / "METADATA").unlink()
    _, report = peers.envdoctor_report(bed.python)
    ids = sorted((f["id"], f["packages"][0]) for f in report["findings"])
    assert ("metadata-corrupt", "urllib3") in ids
    assert ("metadata-missing", "idna") in ids
    _, uv_out = peers.uv_check(bed.python)
    assert peers.unanswered(peers.parse("uv", uv_out), report["findings"]) == []


def test_envdoctor_is_much_cheaper_than_importing(hf_stack: beds.Bed) -> None:
    """The check reads metadata only: it must not leave torch or transformers imported anywhere."""
    code = (
        "import sys, envdoctor\n"
        f"r = envdoctor.check(python={str(hf_stack.python)!r})\n"
        "print([m for m in ('torch', 'numpy', 'transformers') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.strip() == "[]"
