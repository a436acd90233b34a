"""`envdoctor report` and `envdoctor why PKG` on the real peft-old-accelerate venv (`import peft` fails on
clear_device_cache: accelerate 0.31.0 lacks it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from tests import beds

pytestmark = pytest.mark.venv


def envdoctor(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envdoctor", *args],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )


def test_report_is_one_markdown_bundle_with_a_details_block(peft_old_accelerate: beds.Bed, tmp_path: Path) -> None:
    hf_home = tmp_path / "hf"
    (hf_home / "accelerate").mkdir(parents=True)
    (hf_home / "accelerate" / "default_config.yaml").write_text(
        "compute_environment: LOCAL_MACHINE\nmixed_precision: bf16\n"
    )
    proc = envdoctor("report", "--python", str(peft_old_accelerate.python), cwd=tmp_path, env={"HF_HOME": str(hf_home)})
    assert proc.returncode == 0, proc.stderr
    html = MarkdownIt("commonmark").enable("table").render(proc.stdout)
    assert "<td>torch</td>\n<td>2.13.0+cpu</td>" in html
    assert "<td>accelerate</td>\n<td>0.31.0</td>" in html
    assert "<details>" in html and "</details>" in html  # the long part folds away in an issue
    assert "torch build cpu; no GPU (CUDA available: no)" in html  # the device facts, from torch in the target
    assert "<strong>BROKEN: 1 error, 0 warnings, 1 note (28 distributions checked)</strong>" in html
    assert "[symbol-missing] peft 0.15.0 imports clear_device_cache" in html
    assert "mixed_precision: bf16" in html  # the accelerate config, as `accelerate env` shows it
    assert "Redacted by envdoctor" in html

    data = json.loads(
        envdoctor(
            "report",
            "--python",
            str(peft_old_accelerate.python),
            "--format",
            "json",
            cwd=tmp_path,
            env={"HF_HOME": "/nowhere"},
        ).stdout
    )
    assert data["schema"] == "envdoctor.bundle/1" and data["redacted"] is True
    torch = next(row for row in data["stack"] if row["name"] == "torch")
    assert (torch["version"], torch["build"], torch["installer"]) == ("2.13.0+cpu", "cpu", "pip")
    assert data["device"]["torch_build"] == "cpu" and data["device"]["cuda_available"] is False
    assert data["python"]["version"] == "3.11.7"
    assert data["accelerate_config"] == {"path": "/nowhere/accelerate/default_config.yaml", "text": None}
    assert [f["id"] for f in data["check"]["findings"]] == ["symbol-missing", "symbol-missing"]


def test_why_says_who_requires_a_package_what_it_requires_and_what_involves_it(
    peft_old_accelerate: beds.Bed, tmp_path: Path
) -> None:
    proc = envdoctor("why", "Accelerate", "--python", str(peft_old_accelerate.python), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("accelerate 0.31.0: installed in ")
    assert "  peft 0.15.0: accelerate>=0.21.0  [ok]" in out  # the declared range pip check is satisfied with
    assert "  transformers 4.46.3: accelerate>=0.26.0  [only with one of the extras [accelerate]" in out
    assert "  torch>=1.10.0: 2.13.0+cpu installed  [ok]" in out
    assert "ERROR [symbol-missing] peft 0.15.0 imports clear_device_cache" in out
    assert "Releases the facts know: " in out and "1.15.0" in out
    data = json.loads(
        envdoctor(
            "why", "huggingface_hub", "--python", str(peft_old_accelerate.python), "--format", "json", cwd=tmp_path
        ).stdout
    )
    by = {(r["by"], r["only_with"]): (r["specifier"], r["satisfied"]) for r in data["required_by"]}
    assert by[("tokenizers", "")] == ("<1.0,>=0.16.4", True)
    assert by[("safetensors", "convert")] == (">=1.4", False)  # only with safetensors[convert]: 0.36.2 is below it
    assert [f["packages"] for f in data["findings"]] == [["transformers", "huggingface-hub"]]

    unknown = envdoctor("why", "acelerate", "--python", str(peft_old_accelerate.python), cwd=tmp_path)
    assert unknown.returncode == 2
    assert "no distribution 'acelerate' is installed" in unknown.stderr and "did you mean accelerate?" in unknown.stderr
    assert unknown.stdout == ""


def test_report_without_torch_says_so_and_still_answers(small_clean: beds.Bed, tmp_path: Path) -> None:
    proc = envdoctor("report", "--python", str(small_clean.python), "--format", "json", "-o", "env.json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads((tmp_path / "env.json").read_text())
    assert data["device"] is None and data["device_note"] == "torch is not installed in the target"
    assert data["check"]["verdict"].startswith("OK")
