"""A forked child's copy of a SourceIndex hands back what it extracted (envdoctor.source.handover): the parent's
next save stores the same entries as the two steps run one after the other in one process, where two writers of
one entry would each have lost the other's part."""

from __future__ import annotations

import os
from pathlib import Path

from envdoctor.cache import Cache
from envdoctor.source.handover import Entries, adopt, hold_saves
from envdoctor.source.index import SourceIndex
from envdoctor.source.parallel import fork_call
from tests.alone import in_a_single_threaded_process
from tests.fakes import Fake, make_site, scan


def _site(tmp_path: Path) -> Path:
    files = {"pkg/__init__.py": "from .a import A\n", "pkg/a.py": "A = 1\n", "pkg/b.py": "B = 2\n", "pkg/odd.py": ""}
    site = make_site(tmp_path / "site", {"pkg": Fake(files=files), "user": Fake(files={"user.py": "import pkg\n"})})
    (site / "pkg" / "odd.py").unlink()
    (site / "pkg" / "odd.py").mkdir()  # unreadable: noted in the entry by whoever reads it
    return site


def _parent_step(index: SourceIndex) -> None:
    loc = index.locate("pkg.a")
    assert loc is not None
    index.info(loc)


def _child_step(index: SourceIndex) -> None:
    loc = index.locate("pkg.b")
    assert loc is not None
    index.info(loc)
    index.source(loc.dist, os.path.join(loc.dist.location, "pkg", "odd.py"))


def _stored(cache: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(cache.rglob("*.json"))}


def _index(site: Path, cache: Path) -> SourceIndex:
    index = SourceIndex(scan(site), Cache(cache))
    for files in index.files.values():
        index.imports(files)  # the text pass, before the fork
    return index


@in_a_single_threaded_process
def test_the_parent_stores_what_both_extracted(tmp_path: Path) -> None:
    site = _site(tmp_path)
    one = _index(site, tmp_path / "in-order")
    _parent_step(one)
    one.save()
    _child_step(one)
    one.save()

    index = _index(site, tmp_path / "forked")

    def child() -> Entries:
        held = hold_saves(index)
        _child_step(index)
        index.save()
        return held

    forked = fork_call(child)
    assert forked is not None
    _parent_step(index)
    index.save()
    held = forked.join()
    assert held is not None and set(held) == {"pkg"}  # the child wrote nothing itself
    adopt(index, held)
    index.save()
    stored = _stored(tmp_path / "forked")
    assert stored == _stored(tmp_path / "in-order")
    [pkg] = [data for name, data in stored.items() if name.startswith("pkg-")]
    assert b'"pkg.a"' in pkg and b'"pkg.b"' in pkg and b"odd.py" in pkg  # both sides' parts
