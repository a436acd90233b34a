"""A forked child's copy of a SourceIndex hands back what it extracted (envdoctor.source.handover): the parent's
next save stores the same entries as the two steps run one after the other in one process, where two writers of
one entry would each have lost the other's part."""

from __future__ import annotations

import os
from pathlib import Path

from envdoctor.cache import Cache
from envdoctor.source.handover import Entries, adopt, hold_saves, unread_since
from envdoctor.source.index import SourceIndex
from envdoctor.source.parallel import fork_call
from tests.alone import in_a_single_threaded_process
from tests.fakes import Fake, make_site, scan


def _site(tmp_path: Path) -> Path:
    files = {"pkg/__init__.py": "from .a import A\n", "pkg/a.py": "A = 1\n", "pkg/b.py": "B = 2\n", "pkg/odd.py": ""}
    files["pkg/deep.py"] = "X = " + "1+" * 5000 + "1\n"  # read by the text pass, too deep to parse: unread then
    site = make_site(tmp_path / "site", {"pkg": Fake(files=files), "user": Fake(files={"user.py": "import pkg\n"})})
    (site / "pkg" / "odd.py").unlink()
    (site / "pkg" / "odd.py").mkdir()  # unreadable: noted in the entry by whoever reads it
    return site


def _parent_step(index: SourceIndex) -> None:
    loc = index.locate("pkg.a")
    assert loc is not None
    index.info(loc)


def _child_step(index: SourceIndex) -> None:
    for module in ("pkg.b", "pkg.deep"):
        found = index.locate(module)
        assert found is not None
        index.info(found)
    loc = index.locate("pkg.b")
    assert loc is not None
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

    def child() -> tuple[Entries, dict[str, str]]:
        held = hold_saves(index)
        with unread_since(index) as unread:
            _child_step(index)
        index.save()
        return held, unread

    forked = fork_call(child)
    assert forked is not None
    _parent_step(index)
    index.save()
    got = forked.join()
    assert got is not None
    held, unread = got
    assert set(held) == {"pkg"}  # the child wrote nothing itself
    assert "imports" not in held["pkg"]  # the text pass's, which the parent has: not sent back
    assert list(held["pkg"]["modules"]) == ["pkg.b", "pkg.deep"]  # only what the child added
    assert [os.path.basename(path) for path in unread] == ["deep.py"]
    index.unread.update(unread)
    assert index.unread == one.unread  # the symbols check's note names the child's unreadable file too
    adopt(index, held)
    index.save()
    stored = _stored(tmp_path / "forked")
    assert stored == _stored(tmp_path / "in-order")
    [pkg] = [data for name, data in stored.items() if name.startswith("pkg-")]
    assert b'"pkg.a"' in pkg and b'"pkg.b"' in pkg and b"odd.py" in pkg  # both sides' parts
