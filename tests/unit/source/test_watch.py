"""Text tests run by the text pass (envdoctor.source.watch): on the files that import the watched module, for the
distributions the watch is for; a test that raises leaves the answer unknown (the consumer reads the files)."""

from __future__ import annotations

from pathlib import Path

from envdoctor.inventory import Dist
from envdoctor.source.index import SourceIndex
from envdoctor.source.watch import Watch, watch_file
from tests.fakes import Fake, make_site, scan


def _lines(data: bytes) -> list[str]:
    if b"raise here" in data:
        raise ValueError("a test that fails")
    return [line for line in data.decode().splitlines() if "prov." in line]


def _watch(name: str) -> Watch:
    return Watch("lines-1", "prov", _lines, lambda d: d.name == name, [str])


def test_a_watch_runs_on_the_files_that_import_its_module() -> None:
    watch = _watch("user")
    assert watch_file(b"import prov.sub\nx = prov.a\n", {"prov"}, [watch]) == {
        "lines-1": ["import prov.sub", "x = prov.a"]
    }
    assert watch_file(b"x = prov.a\n", {"other"}, [watch]) == {}  # not imported: not run
    assert watch_file(b"import prov\n", {"prov"}, [watch]) == {}  # an empty result is not kept
    assert watch_file(b"import prov  # raise here\n", {"prov"}, [watch]) == {"lines-1": None}


def test_the_index_keeps_the_results_per_distribution(tmp_path: Path) -> None:
    site = make_site(
        tmp_path / "site",
        {
            "prov": Fake(files={"prov/__init__.py": ""}),
            "user": Fake(files={"user/__init__.py": "import prov\nY = prov.y\n", "user/b.py": "Z = prov.z\n"}),
            "broken": Fake(files={"broken/__init__.py": "import prov  # raise here\n", "broken/c.py": "import prov\n"}),
        },
    )
    inv = scan(site)
    index = SourceIndex(inv, watch=[_watch("user"), _watch("broken")])
    dist: dict[str, Dist] = {d.name: d for d in inv.winners.values()}
    assert index.watched(dist["user"], "lines-1") == {"user/__init__.py": ["Y = prov.y"]}
    assert index.watched(dist["broken"], "lines-1") is None  # unknown: the consumer reads the files
    assert index.watched(dist["prov"], "lines-1") is None  # not a distribution the watch is for
    assert SourceIndex(inv).watched(dist["user"], "lines-1") is None  # an index without the watch
