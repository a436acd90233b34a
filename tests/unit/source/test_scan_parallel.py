"""The cold text pass split over forked children (many files) gives what the one-by-one pass gives: the same
imports, in the same order, the same unread files and the same findings, on files written to trip a text
scanner up."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from envdoctor.checks.symbols.check import check_symbols
from envdoctor.source import index as index_module
from envdoctor.source.index import SourceIndex
from envdoctor.source.parallel import fork_map
from tests.alone import in_a_single_threaded_process
from tests.fakes import Fake, make_site, scan

TRICKY: dict[str, str | bytes] = {
    "tricky/__init__.py": "from prov import present\nimport os, json as j\n",
    "tricky/strings.py": '"""\nfrom prov import absent_in_docstring\n"""\nx = "import prov.gone"\nimport prov\n',
    "tricky/continued.py": "from prov import (\n    present,\n    absent_a,\n)\nfrom prov import present, \\\n    absent_b\n",
    "tricky/relative.py": "from . import strings\nfrom .continued import present\nfrom __future__ import annotations\n",
    "tricky/crlf.py": b"import prov\r\nfrom prov import absent_crlf\r\n",
    "tricky/latin1.py": b"# caf\xe9\nfrom prov import absent_latin1  # \xff\xfe\nimport missingtop\n",
    "tricky/indented.py": "def f():\n    from prov import absent_late\n    import missingtop.sub\n",
    "tricky/semicolons.py": "import prov; from prov import absent_semi\n",
}


def _site(tmp_path: Path) -> Path:
    site = make_site(
        tmp_path / "site",
        {
            "prov": Fake(files={"prov/__init__.py": "def present():\n    pass\n"}),
            "tricky": Fake(requires=["prov"], files={**TRICKY, "tricky/fifo.py": "", "tricky/folder.py": ""}),
            "hooked": Fake(
                files={
                    "hooked/__init__.py": "import sys\nsys.meta_path.insert(0, object())\nT = ['hooked.losses.a']\n",
                    "hooked/other.py": "import prov\n",
                }
            ),
            "plain": Fake(
                files={f"plain/m{i}.py": f"from prov import present\nimport tricky.strings  # {i}\n" for i in range(40)}
            ),
        },
    )
    (site / "tricky" / "fifo.py").unlink()
    os.mkfifo(site / "tricky" / "fifo.py")  # listed in RECORD, a FIFO: must be reported, never waited on
    (site / "tricky" / "folder.py").unlink()
    (site / "tricky" / "folder.py").mkdir()
    return site


def _everything(site: Path) -> tuple[Any, list[dict[str, Any]], dict[str, str], set[str]]:
    index = SourceIndex(scan(site))
    found = [f.to_dict() for f in check_symbols(index)]
    per_dist = {n: (index.imports(f), index.absent_imports(f), index.hook_paths(f)) for n, f in index.files.items()}
    return per_dist, found, dict(sorted(index.unread.items())), index.scanned


@in_a_single_threaded_process
def test_the_parallel_text_pass_equals_the_one_by_one_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = _site(tmp_path)
    monkeypatch.setattr(index_module, "MIN_ITEMS", 10**9)
    one_by_one = _everything(site)
    calls: list[int] = []

    def split(fn: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
        calls.append(len(items))
        return fork_map(fn, items, processes=3, minimum=0)

    monkeypatch.setattr(index_module, "MIN_ITEMS", 0)
    monkeypatch.setattr(index_module, "fork_map", split)
    parallel = _everything(site)
    assert calls == [53]  # one pass over every distribution's files at once
    assert parallel == one_by_one
    _per_dist, found, unread, _scanned = parallel
    assert sorted(os.path.basename(p) for p in unread) == ["fifo.py", "folder.py"]
    assert any("absent_crlf" in str(f) for f in found) and any("absent_latin1" in str(f) for f in found)


def test_after_the_text_pass_the_hook_question_reads_no_file(tmp_path: Path) -> None:
    """hook_paths answers "adds no import hook" from the text pass of this run; without that pass it reads the
    files, with the same answers."""
    site = _site(tmp_path)
    fresh = SourceIndex(scan(site))
    unscanned = {n: fresh.hook_paths(f) for n, f in fresh.files.items()}
    index = SourceIndex(scan(site))
    for files in index.files.values():
        index.imports(files)
    reads: list[str] = []
    real = index.reader.read

    def read(path: str, limit: int) -> bytes | None:
        reads.append(path)
        return real(path, limit)

    index.reader.read = read  # type: ignore[method-assign]
    assert {n: index.hook_paths(f) for n, f in index.files.items()} == unscanned
    assert unscanned["hooked"] == frozenset({"hooked.losses.a"}) and unscanned["tricky"] is None
    assert all("/hooked/" in p for p in reads)  # only the distribution that adds a hook is read for its table
