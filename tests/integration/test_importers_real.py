"""No direction is guessed. Where the harvested facts cover one side of a broken import (huggingface-hub, for
diffusers 0.11.1, which predates them), the fix is computed from them in both directions. Where they cover neither
side (Jinja2 2.11.3 + MarkupSafe 2.1.5), `pin` reads the importer's release wheels for the real nearest releases
that do not import the name, or says plainly "not checked" when the index cannot be reached."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import beds

pytestmark = pytest.mark.venv

TITLE = "diffusers 0.11.1 imports cached_download from huggingface_hub"
JINJA = "Jinja2 2.11.3 imports soft_unicode from markupsafe"


def envdoctor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envdoctor", *args],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, **(env or {})},
    )


def _finding(findings: list[dict[str, object]], title: str = TITLE) -> dict[str, object]:
    return next(f for f in findings if str(f["title"]).startswith(title) and f["severity"] == "error")


def test_the_break_is_real_and_the_fix_is_computed_from_one_harvested_side(diffusers_old_hub: beds.Bed) -> None:
    proc = subprocess.run([str(diffusers_old_hub.python), "-c", "import diffusers"], capture_output=True, text=True)
    assert "cannot import name 'cached_download' from 'huggingface_hub'" in proc.stderr
    out = envdoctor("check", "--python", str(diffusers_old_hub.python), "--format", "json")
    f = _finding(json.loads(out.stdout)["findings"])
    assert not any("usually" in str(line) for line in [*f["fix"], *f["advice"]])  # type: ignore[misc]
    # diffusers 0.29.0 is the first harvested release without the import; huggingface-hub 0.26.0 removed the name
    assert f["fix"] == ["diffusers>=0.29.0", "huggingface-hub<0.26.0"]


def test_the_jinja2_break_is_real_and_check_does_not_guess_a_direction(jinja2_markupsafe: beds.Bed) -> None:
    proc = subprocess.run([str(jinja2_markupsafe.python), "-c", "import jinja2"], capture_output=True, text=True)
    assert "cannot import name 'soft_unicode' from 'markupsafe'" in proc.stderr
    out = envdoctor("check", "--python", str(jinja2_markupsafe.python), "--format", "json")
    f = _finding(json.loads(out.stdout)["findings"], JINJA)
    assert f["fix"] == []  # specifiers only: nothing was read, so nothing to pin
    assert not any("usually" in str(line) for line in f["advice"])  # type: ignore[attr-defined]
    assert "which ones was not checked" in str(f["advice"][1])  # type: ignore[index]


@pytest.mark.online
def test_pin_reads_the_importers_wheels_for_the_nearest_releases_without_the_import(
    jinja2_markupsafe: beds.Bed, tmp_path: Path
) -> None:
    out = envdoctor("pin", "--python", str(jinja2_markupsafe.python), "--changes-only", "--format", "json")
    assert out.returncode == 0, out.stderr
    pinned = json.loads(out.stdout)
    f = _finding(pinned["cleared"], JINJA)
    # Jinja2 3.0.0 dropped soft_unicode (2.11.3 imports it in jinja2/runtime.py and utils.py); every older wheel has it
    assert f["fix"] == ["Jinja2==3.0.0"]
    assert "the nearest releases of Jinja2 that do not import soft_unicode are 3.0.0 (newer)" in str(f["detail"])
    assert [(m["name"], m["to"]) for m in pinned["moves"]] == [("jinja2", "3.0.0")]
    assert pinned["verified"] is True
    # the file, installed into a copy, makes the real import work
    copy = beds.copy(jinja2_markupsafe, tmp_path / "copy")
    text = envdoctor("pin", "--python", str(copy.python), "--changes-only")
    (tmp_path / "req.txt").write_text(text.stdout)
    beds.pip("install", "--no-deps", "-r", str(tmp_path / "req.txt"), python=copy.python)
    assert subprocess.run([str(copy.python), "-c", "import jinja2"], capture_output=True).returncode == 0


def test_pin_offline_says_plainly_it_was_not_checked(jinja2_markupsafe: beds.Bed) -> None:
    offline = {"PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_FIND_LINKS": ""}
    out = envdoctor("pin", "--python", str(jinja2_markupsafe.python), "--format", "json", env=offline)
    assert out.returncode == 1, out.stderr  # the error has no plan
    pinned = json.loads(out.stdout)
    f = _finding(pinned["remaining"], JINJA)
    assert f["fix"] == []
    assert f["advice"][1:] == [  # type: ignore[index]
        "or a release of Jinja2 that does not import soft_unicode (not checked: the package index cannot be reached)"
    ]
    assert "usually" not in str(f["detail"]) + str(f["fix"]) + str(f["advice"])
