from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes import make_venv


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """envdoctor's cache goes to a folder of this run (the CLI subprocesses inherit the variable)."""
    path = tmp_path_factory.mktemp("envdoctor-cache")
    old = os.environ.get("ENVDOCTOR_CACHE_DIR")
    os.environ["ENVDOCTOR_CACHE_DIR"] = str(path)
    yield path
    if old is None:
        os.environ.pop("ENVDOCTOR_CACHE_DIR", None)
    else:
        os.environ["ENVDOCTOR_CACHE_DIR"] = old


@pytest.fixture
def fake_venv(tmp_path: Path) -> tuple[Path, Path]:
    """A real empty venv: (python, site-packages). Write fabricated dists into its site-packages."""
    return make_venv(tmp_path / "venv")
