from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes import make_venv


@pytest.fixture
def fake_venv(tmp_path: Path) -> tuple[Path, Path]:
    """A real empty venv: (python, site-packages). Write fabricated dists into its site-packages."""
    return make_venv(tmp_path / "venv")
