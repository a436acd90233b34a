"""probes/inventory.py's listing of importable top-level modules: one listing per folder gives the names
pkgutil.iter_modules gave (plus namespace folders), on tricky folders, zips and the real sys.path."""

from __future__ import annotations

import os
import pkgutil
import sys
import zipfile
from pathlib import Path

import pytest

from envdoctor.fingerprint import probe_module


def _pkgutil_top_level_modules(paths: list[str]) -> list[str]:
    """The probe's listing as it was: pkgutil.iter_modules, then every identifier-named folder."""
    found = set(sys.builtin_module_names)
    folders = [os.path.abspath(p or ".") for p in paths]
    found.update(m[1] for m in pkgutil.iter_modules(folders))
    for folder in folders:
        try:
            names = os.listdir(folder)
        except OSError:
            continue
        found.update(n for n in names if n.isidentifier() and os.path.isdir(os.path.join(folder, n)))
    return sorted(found)


def _tree(root: Path, files: list[str]) -> None:
    for rel in files:
        path = root / rel
        if rel.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("")


@pytest.fixture
def tricky(tmp_path: Path) -> list[str]:
    site = tmp_path / "site"
    _tree(
        site,
        [
            "pkg/__init__.py",
            "ns/sub.py",  # a namespace package: no __init__
            "empty/",
            "foo-bar/__init__.py",  # no identifier, but a package to pkgutil
            "baz-qux/mod.py",  # no identifier, no __init__: nothing
            "compiled-only/__init__.pyc",
            "ext-pkg/__init__.cpython-311-x86_64-linux-gnu.so",
            "a.b/__init__.py",  # a dotted folder: nothing
            "mod.py",
            "mod/__init__.py",  # a package and a module of the same name
            "fast.cpython-311-x86_64-linux-gnu.so",
            "stable.abi3.so",
            "two.dots.py",
            "weird-name.py",
            "__init__.py",
            "dir.py/inside.py",  # a folder named like a module is a module to pkgutil
            "data.txt",
            "README",
            "__pycache__/mod.cpython-311.pyc",
            "demo-1.0.dist-info/METADATA",
            "lone.pyc",
        ],
    )
    (site / "linked").symlink_to(site / "pkg")
    (site / "linked-dash").symlink_to(site / "foo-bar")
    (site / "dead").symlink_to(site / "nowhere")
    archive = tmp_path / "eggs.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("zipmod.py", "")
        zf.writestr("zippkg/__init__.py", "")
        zf.writestr("zipns/x.py", "")
    other = tmp_path / "other"
    _tree(other, ["second.py", "pkg/__init__.py", "ns2/"])
    return [str(site), str(archive), str(other), str(tmp_path / "missing"), str(site / "mod.py"), ""]


def test_top_level_modules_are_pkgutils_names_and_namespace_folders(
    tricky: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path / "other")  # "" on the path is the current folder
    got = probe_module().top_level_modules(tricky)
    assert got == _pkgutil_top_level_modules(tricky)
    assert {"pkg", "ns", "empty", "foo-bar", "compiled-only", "ext-pkg", "mod", "fast", "stable"} <= set(got)
    assert {"weird-name", "dir", "lone", "linked", "linked-dash", "zipmod", "zippkg", "second", "ns2"} <= set(got)
    assert not {"baz-qux", "a.b", "two.dots", "__init__", "dead", "zipns", "data", "README"} & set(got)


def test_top_level_modules_of_this_interpreter_match_pkgutil() -> None:
    assert probe_module().top_level_modules(sys.path) == _pkgutil_top_level_modules(sys.path)
