"""Where the harvested facts do not cover the importer (diffusers 0.11.1 predates them), the fix is read from
the importer's release wheels, never guessed: the real nearest releases on each side that do not import the
name, or plainly "not checked" when the index cannot be reached."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests import beds

pytestmark = pytest.mark.venv

TITLE = "diffusers 0.11.1 imports cached_download from huggingface_hub"


def envdoctor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "envdoctor", *args],
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, **(env or {})},
    )


def _finding(findings: list[dict[str, object]]) -> dict[str, object]:
    [f] = [f for f in findings if str(f["title"]).startswith(TITLE)]
    return f


def test_the_break_is_real_and_check_does_not_guess_a_direction(diffusers_old_hub: beds.Bed) -> None:
    proc = subprocess.run([str(diffusers_old_hub.python), "-c", "import diffusers"], capture_output=True, text=True)
    assert "cannot import name 'cached_download' from 'huggingface_hub'" in proc.stderr
    out = envdoctor("check", "--python", str(diffusers_old_hub.python), "--format", "json")
    f = _finding(json.loads(out.stdout)["findings"])
    assert f["severity"] == "error"
    assert not any("usually" in str(line) for line in [*f["fix"], *f["advice"]])  # type: ignore[misc]
    assert f["fix"] == []  # specifiers only: nothing was read, so nothing to pin
    assert "which ones was not checked" in str(f["advice"][1])  # type: ignore[index]


@pytest.mark.online
def test_pin_reads_the_importers_wheels_for_the_nearest_releases_without_the_import(
    diffusers_old_hub: beds.Bed,
) -> None:
    out = envdoctor("pin", "--python", str(diffusers_old_hub.python), "--changes-only", "--format", "json")
    assert out.returncode == 0, out.stderr
    pinned = json.loads(out.stdout)
    f = _finding(pinned["cleared"])
    # diffusers 0.29.0 dropped `from huggingface_hub import cached_download` (0.28.2 has it, in
    # utils/dynamic_modules_utils.py); 0.0.4 added it, 0.0.3 does not have it
    assert f["fix"] == ["diffusers==0.29.0", "diffusers==0.0.3"]
    assert (
        "the nearest releases of diffusers that do not import cached_download are 0.29.0 (newer) and 0.0.3 (older)"
        in str(f["detail"])
    )
    assert [(m["name"], m["to"]) for m in pinned["moves"] if m["name"] == "diffusers"] == [("diffusers", "0.29.0")]
    assert pinned["verified"] is True


def test_pin_offline_says_plainly_it_was_not_checked(diffusers_old_hub: beds.Bed) -> None:
    offline = {"PIP_CONFIG_FILE": os.devnull, "PIP_INDEX_URL": "http://127.0.0.1:9/simple", "PIP_FIND_LINKS": ""}
    out = envdoctor("pin", "--python", str(diffusers_old_hub.python), "--format", "json", env=offline)
    assert out.returncode == 1, out.stderr  # the error has no plan
    pinned = json.loads(out.stdout)
    f = _finding(pinned["remaining"])
    assert f["fix"] == []
    assert f["advice"][1:] == [  # type: ignore[index]
        "or a release of diffusers that does not import cached_download (not checked: the package index cannot be reached)"
    ]
    assert "usually" not in str(f["detail"]) + str(f["fix"]) + str(f["advice"])
