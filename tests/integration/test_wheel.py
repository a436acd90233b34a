"""The built wheel carries probes/ and matrix/ and works from a fresh venv."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.fakes import make_venv

pytestmark = pytest.mark.venv
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(ROOT)],
        check=True,
        timeout=600,
    )
    [whl] = out.glob("envdoctor-*.whl")
    return whl


def test_wheel_contains_probes_and_matrix(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert "envdoctor/_data/probes/_launch.py" in names
    assert "envdoctor/_data/probes/inventory.py" in names
    assert any(n.startswith("envdoctor/_data/matrix/") for n in names)
    assert "envdoctor/py.typed" in names  # `mypy --strict` on a script that imports envdoctor reads its types
    assert not any(n.startswith("tests/") for n in names)


def test_installed_wheel_checks_its_own_venv(wheel: Path, tmp_path: Path) -> None:
    python, site = make_venv(tmp_path / "fresh")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-compile", str(wheel)],
        check=True,
        timeout=600,
    )
    script = python.parent / "envdoctor"
    proc = subprocess.run(
        [str(script), "check", "--format", "json"], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["schema"] == "envdoctor.report/2"
    names = {"envdoctor", "packaging", "rich"}
    assert report["summary"]["distributions"] >= len(names)
    where = subprocess.run(
        [str(python), "-c", "from envdoctor.resources import data_dir; print(data_dir('probes'))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    ).stdout.strip()
    assert where.startswith(str(site)), where  # found inside the installed wheel, not a checkout
