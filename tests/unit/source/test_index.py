"""The per-distribution cache of SourceIndex: what the text pass and the reach search read from a
distribution's files is kept under that distribution's RECORD, so after one distribution changes the next run
reads only that one's files again."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest

from envdoctor.cache import Cache
from envdoctor.checks.symbols.check import check_symbols
from envdoctor.source import index as index_module
from envdoctor.source.index import SourceIndex
from tests.fakes import Fake, make_site, scan, write_dist

PROVIDER = {"prov/__init__.py": "def present():\n    pass\n"}
CALM = "from prov import present\n"
BROKEN = "from prov import present, absent\n"


def _fake(name: str, files: dict[str, str], requires: list[str] | None = None) -> Fake:
    """A distribution whose RECORD holds each file's sha256, as an installer writes it."""
    hashes = {}
    for rel, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        hashes[rel] = f"sha256={digest}"
    return Fake("1.0", requires or [], files=files, record_hashes=hashes)


def _run(site: Path, cache: Path) -> tuple[list[str], set[str]]:
    """One check of the symbols: the findings' ids and the distributions whose files the text pass read."""
    index = SourceIndex(scan(site), Cache(cache))
    found = check_symbols(index)
    index.save()
    return [f"{f.id} {f.packages}" for f in found], index.scanned


def test_after_one_distribution_changes_only_its_files_are_scanned_again(tmp_path: Path) -> None:
    site = make_site(tmp_path / "site", {"prov": _fake("prov", PROVIDER)})
    for name in ("alpha", "beta", "gamma"):
        write_dist(site, name, _fake(name, {f"{name}/__init__.py": CALM}, ["prov"]))
    cache = tmp_path / "cache"
    assert _run(site, cache) == ([], {"prov", "alpha", "beta", "gamma"})  # cold: every distribution read
    assert _run(site, cache) == ([], set())  # nothing changed: every distribution's imports from the cache

    write_dist(site, "beta", _fake("beta", {"beta/__init__.py": BROKEN}, ["prov"]))  # the file and its RECORD
    found, scanned = _run(site, cache)
    assert found == ["symbol-missing ('beta', 'prov')"]  # the edit is seen
    assert scanned == {"beta"}  # and only the edited distribution was read again
    assert _run(site, cache) == (found, set())


def test_the_imports_of_some_top_level_names_are_those_imports_lists_of_them(tmp_path: Path) -> None:
    other = {"other/__init__.py": "X = 1\n", "other2/__init__.py": "Y = 1\n"}
    text = (
        "import prov\nfrom prov import present\nimport other.sub as o\nfrom other2 import Y\nimport absent_top\n"
        "def f():\n    from prov.deep import thing\n    import os\n"
    )
    site = make_site(
        tmp_path / "site",
        {"prov": _fake("prov", PROVIDER), "other": _fake("other", other), "user": _fake("user", {"user/a.py": text})},
    )
    index = SourceIndex(scan(site))
    files = index.files["user"]
    everything = index.imports(files)
    assert [imp.module for _, imp in everything] == ["prov", "prov", "other.sub", "other2", "prov.deep"]
    for tops in ({"prov"}, {"other", "other2"}, {"prov", "absent_top", "os"}, set()):
        assert index.imports_of(files, tops) == [(r, i) for r, i in everything if i.module.split(".")[0] in tops]


def test_few_files_are_read_one_distribution_at_a_time_and_many_in_one_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The text pass reads only the asked distribution while the files not read yet are few, all of them at once
    when they are MIN_ITEMS or more; what is left to read is counted as it goes, not recounted for each
    distribution asked (5,000 of them made the first check quadratic)."""
    site = make_site(tmp_path / "site", {"prov": _fake("prov", PROVIDER)})
    for name in ("alpha", "beta", "gamma"):
        write_dist(site, name, _fake(name, {f"{name}/__init__.py": CALM, f"{name}/more.py": CALM}, ["prov"]))
    lazy = SourceIndex(scan(site), Cache(None))
    assert lazy._unscanned == 7
    lazy.imports(lazy.files["alpha"])
    assert (lazy.scanned, lazy._unscanned) == ({"alpha"}, 5)
    for files in lazy.files.values():
        lazy.imports(files)
    assert (lazy.scanned, lazy._unscanned) == ({"prov", "alpha", "beta", "gamma"}, 0)

    monkeypatch.setattr(index_module, "MIN_ITEMS", 5)
    eager = SourceIndex(scan(site), Cache(None))
    assert eager.imports(eager.files["alpha"]) == lazy.imports(lazy.files["alpha"])
    assert (eager.scanned, eager._unscanned) == ({"prov", "alpha", "beta", "gamma"}, 0)
