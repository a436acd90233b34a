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


@pytest.fixture(autouse=True)
def ci_neutral(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite means the same on a GitHub runner (GITHUB_ACTIONS=true would turn stdout into annotations) and
    with ENVDOCTOR_FAIL_ON set: tests that want them set them."""
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    monkeypatch.delenv("ENVDOCTOR_FAIL_ON", raising=False)


@pytest.fixture
def fake_venv(tmp_path: Path) -> tuple[Path, Path]:
    """A real empty venv: (python, site-packages). Write fabricated dists into its site-packages."""
    return make_venv(tmp_path / "venv")


# Tests that build or use a real venv from tests/beds are `venv` tests, whatever their file says: a bed fixture
# is the mark. Every other test runs with the network closed (a proxy on a dead port for pip and uv), so a test
# that reaches the package index without its `online` mark fails at once instead of making the quick run slow.
_DEAD_PROXY = "http://127.0.0.1:9"
_PROXY_VARS = ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "all_proxy")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        info = getattr(item, "_fixtureinfo", None)
        definitions = info.name2fixturedefs.values() if info is not None else ()
        if any(d.func.__qualname__ == "_bed.<locals>.fixture" for defs in definitions for d in defs):
            item.add_marker(pytest.mark.venv)


@pytest.fixture(autouse=True)
def network_only_when_marked(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    marks = {mark.name for mark in request.node.iter_markers()}
    if marks & {"online", "venv"}:
        return
    for var in _PROXY_VARS:
        monkeypatch.setenv(var, _DEAD_PROXY)
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(var, raising=False)
