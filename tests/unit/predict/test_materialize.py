"""The files of a future install without installing it (envdoctor.predict.materialize): a wheel unpacked in the
cache is read like an installed distribution; what is never downloaded stays metadata-only, with a note; a
hostile or broken wheel writes nothing outside its folder."""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path

from envdoctor.inventory import planned_dist
from envdoctor.predict.materialize import materialize, unpacked
from tests.fakes import Fake, make_site, scan

IDNA_FILES = {
    "idna/__init__.py": "from .core import encode\n",
    "idna/core.py": "def encode(s):\n    return s\n",
    "idna-3.6.dist-info/METADATA": "Metadata-Version: 2.1\nName: idna\nVersion: 3.6\n",
    "idna-3.6.dist-info/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    "idna-3.6.dist-info/RECORD": "idna/__init__.py,,\nidna/core.py,,\nidna-3.6.dist-info/METADATA,,\n",
}


def wheel(path: Path, files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, text in files.items():
            zf.writestr(name, text)
    return path


def test_a_wheel_in_the_cache_is_read_like_an_installed_distribution(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    folder = unpacked(cache, "idna", "3.6", wheel(tmp_path / "idna-3.6-py3-none-any.whl", IDNA_FILES))
    assert folder is not None and (folder / "idna" / "core.py").is_file()
    inv = scan(make_site(tmp_path / "site", {"idna": Fake("3.4")}))
    future = dataclasses.replace(inv, dists=(planned_dist("idna", "3.6", [], None),))
    # no pip is asked (the python does not exist): the unpacked wheel answers
    got, notes = materialize(str(tmp_path / "no-python"), future, cache)
    [idna] = got.dists
    assert notes == []
    assert not idna.planned and idna.raw_version == "3.6" and idna.location == str(folder)


def test_the_pytorch_family_and_direct_urls_stay_metadata_only(tmp_path: Path) -> None:
    inv = scan(make_site(tmp_path / "site", {}))
    torch = planned_dist("torch", "2.13.0", [], None)
    mine = planned_dist("mylib", "1.0", [], None, direct_url={"url": "https://example.invalid/mylib.whl"})
    got, notes = materialize(str(tmp_path / "no-python"), dataclasses.replace(inv, dists=(torch, mine)), tmp_path)
    assert all(d.planned for d in got.dists)
    assert notes == [
        "torch 2.13.0: not downloaded (checked from its metadata only)",
        "mylib 1.0: not downloaded (checked from its metadata only)",
    ]


def test_a_hostile_wheel_writes_nothing_outside_its_folder(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    evil = wheel(tmp_path / "evil-1.0-py3-none-any.whl", {"../../escaped.py": "x = 1\n", "evil/__init__.py": ""})
    folder = unpacked(cache, "evil", "1.0", evil)
    assert folder is not None and (folder / "evil" / "__init__.py").is_file()
    assert not list(tmp_path.rglob("escaped.py"))


def test_a_broken_wheel_is_no_folder(tmp_path: Path) -> None:
    broken = tmp_path / "broken-1.0-py3-none-any.whl"
    broken.write_bytes(b"not a zip file")
    assert unpacked(tmp_path / "cache", "broken", "1.0", broken) is None
    assert unpacked(tmp_path / "cache", "broken", "1.0") is None  # nothing in the cache either
    assert not list((tmp_path / "cache").rglob("*.partial-*"))
