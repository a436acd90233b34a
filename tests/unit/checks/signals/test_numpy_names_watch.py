"""The numpy 2 removed-names signal from the text pass (issue 19): the text pass runs the signal's per-file test
(``numpy_names.WATCH``) on each file that imports numpy while it holds the file, and the signal then reads no
file. What it finds, and what it notes as unparsable, is what reading the files itself finds, whether the text
pass was shared over forked children or not, and whether its results came from this run or from the cache."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from envdoctor.cache import Cache
from envdoctor.checks.signals import numpy_names
from envdoctor.checks.signals.base import Files
from envdoctor.source import index as index_module
from envdoctor.source.index import SourceIndex
from envdoctor.source.parallel import fork_map
from envdoctor.source.syntax import Unparsable
from tests.alone import in_a_single_threaded_process
from tests.fakes import Fake, make_site, scan

TRICKY: dict[str, str | bytes] = {
    "user/__init__.py": "import numpy as np\nX = np.float_\n\ndef f():\n    return np.NaN\n",
    "user/from_import.py": "from numpy import (float_,\n    Inf as infinity)\n",
    "user/docstring.py": 'import numpy as np\n"""See numpy.NaN."""\nY = np.nan\n',
    "user/gated.py": "import numpy as np\nif np.__version__ < '2':\n    X = np.float_\n",
    "user/broken.py": "import numpy as np\nX = np.float_\ndef (\n",
    "user/late.py": "def f():\n    import numpy\n    return numpy.float_\n",
    "user/sub.py": "import numpy.linalg\nY = numpy.NaN\n",
    "user/latin1.py": b"# caf\xe9\nimport numpy as np\nZ = np.Inf  # \xff\n",
    "user/deep.py": "import numpy as np\nW = np.NaN  # too deep\n",
    "user/nonumpy.py": "np = object()\nX = np.float_\n",
    "user/tests/test_x.py": "import numpy as np\nX = np.float_\n",
}


def _site(tmp_path: Path) -> Path:
    many = {f"other/m{i}.py": f"import numpy as np\nV{i} = np.float_\n" for i in range(30)}
    return make_site(
        tmp_path / "site",
        {
            "numpy": Fake(version="2.0.0", files={"numpy/__init__.py": "float_ = 1\n", "numpy/linalg.py": ""}),
            "user": Fake(requires=["numpy"], files=TRICKY),
            "other": Fake(requires=["numpy>=1"], files=many),
            "undeclared": Fake(files={"undeclared/__init__.py": "import numpy as np\nX = np.float_\n"}),
        },
    )


def _uses(index: SourceIndex | None, files: Files) -> dict[str, Any]:
    """Each distribution's uses, and what the signal noted as unreadable."""
    inv = index.inv if index is not None else None
    assert inv is not None
    found = {d.name: numpy_names._dist_uses(d, files) for d in inv.winners.values() if numpy_names._for(d)}
    return {"uses": found, "unread": sorted(files.reader.unread.items())}


@pytest.fixture
def too_deep(monkeypatch: pytest.MonkeyPatch) -> None:
    """A file whose ast is too deep to walk (``uses`` raises Unparsable), without writing one."""
    real = numpy_names.uses

    def uses(data: bytes, names: frozenset[str]) -> list[tuple[int, str, bool]]:
        if b"too deep" in data:
            raise Unparsable("could not be parsed (RecursionError)")
        return real(data, names)

    monkeypatch.setattr(numpy_names, "uses", uses)


def _through(index: SourceIndex) -> tuple[dict[str, Any], list[str]]:
    """The signal's answers with the index's text pass, and the files the signal read itself."""
    files = Files(Cache(None), index.importing, index.watched)
    reads: list[str] = []
    real = files.read

    def read(dist: Any, rel: str, limit: int = 0) -> bytes | None:
        reads.append(rel)
        return real(dist, rel, limit)

    files.read = read  # type: ignore[method-assign]
    return _uses(index, files), reads


@in_a_single_threaded_process
@pytest.mark.usefixtures("too_deep")
def test_the_text_pass_finds_what_the_signal_finds_reading_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = _site(tmp_path)
    plain = SourceIndex(scan(site))  # no watch: the signal reads the files that import numpy itself
    reading = _uses(plain, Files(Cache(None), plain.importing))
    assert reading["uses"]["user"] == [
        numpy_names.Use("user/__init__.py", 2, "float_", True),
        numpy_names.Use("user/__init__.py", 5, "NaN", False),
        numpy_names.Use("user/from_import.py", 1, "Inf", True),
        numpy_names.Use("user/from_import.py", 1, "float_", True),
        numpy_names.Use("user/late.py", 3, "float_", False),
        numpy_names.Use("user/latin1.py", 3, "Inf", True),
    ]
    assert [os.path.basename(p) for p, _why in reading["unread"]] == ["deep.py"]

    monkeypatch.setattr(index_module, "MIN_ITEMS", 10**9)
    one_by_one, reads = _through(SourceIndex(scan(site), watch=[numpy_names.WATCH]))
    assert one_by_one == reading and reads == []

    def split(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        return fork_map(fn, items, processes=3, minimum=0)

    monkeypatch.setattr(index_module, "MIN_ITEMS", 0)
    monkeypatch.setattr(index_module, "fork_map", split)
    parallel, reads = _through(SourceIndex(scan(site), watch=[numpy_names.WATCH]))
    assert parallel == reading and reads == []


@pytest.mark.usefixtures("too_deep")
def test_a_later_run_takes_the_results_from_the_cache_and_an_entry_without_them_reads(tmp_path: Path) -> None:
    site = _site(tmp_path)
    plain = SourceIndex(scan(site))
    reading = _uses(plain, Files(Cache(None), plain.importing))
    cache = Cache(tmp_path / "cache")
    older = SourceIndex(scan(site), cache)  # an entry written without the watch: imports, no results
    for files in older.files.values():
        older.imports(files)
    older.save()
    index = SourceIndex(scan(site), cache, watch=[numpy_names.WATCH])
    assert _through(index)[0] == reading and index.scanned == set()
    assert _through(index)[1]  # the entry has no results: the signal read the files
    cache = Cache(tmp_path / "cache2")
    first = SourceIndex(scan(site), cache, watch=[numpy_names.WATCH])
    assert _through(first) == (reading, [])
    first.save()
    again = SourceIndex(scan(site), cache, watch=[numpy_names.WATCH])
    assert _through(again) == (reading, []) and again.scanned == set()


def test_the_text_pass_runs_the_test_only_where_the_signal_runs(tmp_path: Path) -> None:
    """The signal's rules apply with numpy 2 installed: elsewhere the text pass does not spend the time."""
    for version, expected in (("2.0.0", (numpy_names.WATCH,)), ("1.26.4", ()), (None, ())):
        dists = {"user": Fake(requires=["numpy"], files={"user/__init__.py": "import numpy\n"})}
        if version is not None:
            dists["numpy"] = Fake(version=version, files={"numpy/__init__.py": ""})
        assert numpy_names.watches(scan(make_site(tmp_path / str(version), dists))) == expected
