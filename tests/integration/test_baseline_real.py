"""A baseline on real venvs: written on the healthy peft-new-accelerate (one accepted note), it keeps a
`--fail-on info` gate green there, and on peft-old-accelerate (the same pins with accelerate 0.31.0, so
`import peft` fails) the new error fails the gate while the old note stays baselined."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import beds
from tests.integration.test_ci_gate_real import envdoctor

pytestmark = pytest.mark.venv


def test_a_baseline_accepts_what_it_lists_and_a_new_finding_fails(
    peft_new_accelerate: beds.Bed, peft_old_accelerate: beds.Bed, tmp_path: Path
) -> None:
    new, old = str(peft_new_accelerate.python), str(peft_old_accelerate.python)
    assert envdoctor("--python", new, "--fail-on", "info", cwd=tmp_path).returncode == 1  # the note fails it
    wrote = envdoctor("--python", new, "--fail-on", "info", "--write-baseline", "baseline.json", cwd=tmp_path)
    assert wrote.returncode == 0, wrote.stderr
    text = (tmp_path / "baseline.json").read_text()
    assert str(peft_new_accelerate.root) not in text and "loftq_utils.py:" not in text  # no path, no line
    [row] = json.loads(text)["findings"]
    assert row["key"].startswith("symbol-missing|transformers,huggingface-hub|transformers * imports cached_download")
    again = envdoctor(
        "--python", new, "--fail-on", "info", "--baseline", "baseline.json", "--format", "json", cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr
    [note] = json.loads(again.stdout)["findings"]
    assert note["suppressed"] == "baselined (baseline.json)"

    broken = envdoctor(
        "--python", old, "--fail-on", "info", "--baseline", "baseline.json", "--format", "json", cwd=tmp_path
    )
    assert broken.returncode == 1, broken.stderr
    found = {f["packages"][0]: f["suppressed"] for f in json.loads(broken.stdout)["findings"]}
    assert found == {"peft": None, "transformers": "baselined (baseline.json)"}

    # the configuration's baseline key, relative to the pyproject.toml's folder
    (tmp_path / "pyproject.toml").write_text('[tool.envdoctor]\nfail-on = "info"\nbaseline = "baseline.json"\n')
    sub = tmp_path / "src"
    sub.mkdir()
    assert envdoctor("--python", new, cwd=sub).returncode == 0
    assert envdoctor("--python", old, cwd=sub).returncode == 1
    missing = envdoctor("--python", new, "--baseline", "nowhere.json", cwd=sub)
    assert missing.returncode == 2 and "write it with `envdoctor check --write-baseline" in missing.stderr
