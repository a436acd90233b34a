"""DistFiles builds its module maps in one pass over RECORD: the same py, packages, extensions, folders and
hashes as adding each file by its path parts, on tricky RECORD lines, the RECORDs installed here and the beds'."""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path

import pytest

from envdoctor.inventory import planned_dist
from envdoctor.source.index import _EXT_SUFFIXES, DistFiles
from envdoctor.source.installed import inside_site, record_entries

BEDS = Path(os.path.expanduser("~/.cache/envdoctor-tests/beds"))
DIST = planned_dist("d", "1.0", (), None)


def _entries(record: str) -> list[tuple[str, str]]:
    """record_entries as it was: every path through inside_site."""
    found = []
    for line in record.splitlines():
        fields = line.rsplit(",", 2)
        rel = inside_site(fields[0].strip().strip('"')) if line.strip() else None
        if rel is not None:
            found.append((rel, fields[1] if len(fields) == 3 else ""))
    return found


def _by_parts(record: str) -> dict[str, object]:
    """The maps as DistFiles built them file by file (each path split into its parts)."""
    py: dict[str, str] = {}
    packages: set[str] = set()
    extensions: set[str] = set()
    folders: set[str] = set()
    hashes: dict[str, str] = {}
    for rel, digest in _entries(record):
        if ".dist-info/" in rel or ".egg-info/" in rel:
            continue
        if digest:
            hashes[rel] = digest
        parts = rel.split("/")
        for i in range(1, len(parts)):
            folders.add(".".join(parts[:i]))
        name = parts[-1]
        if name.endswith(".py"):
            stem = name[:-3]
            module = ".".join(parts[:-1]) if stem == "__init__" else ".".join([*parts[:-1], stem])
            if stem == "__init__":
                packages.add(module)
            ok = module and all(p.isidentifier() for p in module.split("."))
            if ok and (stem == "__init__" or module not in packages):
                py[module] = rel
        elif name.endswith(_EXT_SUFFIXES):
            extensions.add(".".join([*parts[:-1], name.split(".", 1)[0]]))
    return {"py": py, "packages": packages, "extensions": extensions, "folders": folders, "hashes": hashes}


def _maps(files: DistFiles) -> dict[str, object]:
    return {k: getattr(files, k) for k in ("py", "packages", "extensions", "folders", "hashes")}


TRICKY = "\n".join(
    [
        "pkg/__init__.py,sha256=a,1",
        "pkg/mod.py,sha256=b,2",
        "pkg/lora.py,sha256=c,3",  # a module, then a package of the same name: the package wins
        "pkg/lora/__init__.py,sha256=d,4",
        "pkg/lora.py,sha256=e,5",
        '"pkg/quoted, with comma.py",sha256=f,6',
        '"pkg/q.py",sha256=g,7',
        "pkg/../escape.py,,",
        "pkg/sub/../back.py,sha256=h,8",
        "../../../bin/tool,sha256=i,9",
        "/abs/path.py,sha256=j,10",
        "C:/win/path.py,,",
        "pkg\\win\\sep.py,sha256=k,11",
        "   ",
        "",
        "a.b/c.py,sha256=l,12",  # a dotted folder: a.b.c
        "a/b/c.py,sha256=m,13",  # the same dotted names spelt otherwise
        "x//y.py,,",
        "__init__.py,,",
        "top.py,sha256=n,14",
        "two.dots.py,,",
        "bad-name.py,,",
        "9lives/__init__.py,,",
        ".py,,",
        "pkg/.py,,",
        "fast.cpython-311-x86_64-linux-gnu.so,sha256=o,15",
        "pkg/_c.abi3.so,,",
        "pkg/win.pyd,,",
        "pkg/data/file.txt,sha256=p,16",
        "only,one",
        "bare",
        "d-1.0.dist-info/METADATA,sha256=q,17",
        "d-1.0.dist-info/RECORD,,",
        "old.egg-info/PKG-INFO,,",
        "folder/,,",
        "ns/deep/er/mod.py\r\nns/cr.py,sha256=r,18",
        "nul\0byte.py,,",
    ]
)


def _installed_records() -> list[str]:
    records = (d.read_text("RECORD") for d in importlib.metadata.distributions())
    return [r for r in records if r]


def _bed_records() -> list[str]:
    return [
        p.read_text("utf-8", "surrogateescape")
        for p in sorted(BEDS.glob("hf-stack/lib/python3*/site-packages/*.dist-info/RECORD"))
    ]


@pytest.mark.parametrize("source", ["tricky", "installed-here", pytest.param("hf-stack-bed", marks=pytest.mark.venv)])
def test_distfiles_maps_are_those_built_file_by_file(source: str) -> None:
    records = {"tricky": lambda: [TRICKY], "installed-here": _installed_records, "hf-stack-bed": _bed_records}[source]()
    if not records:
        pytest.skip(f"no RECORD files for {source}")
    for record in records:
        assert list(record_entries(record)) == _entries(record)
        assert _maps(DistFiles(DIST, record)) == _by_parts(record)


def test_a_package_wins_over_a_module_and_escaping_paths_are_not_files() -> None:
    files = DistFiles(DIST, TRICKY)
    assert files.py["pkg.lora"] == "pkg/lora/__init__.py"
    assert files.py["a.b.c"] == "a/b/c.py"
    assert "back" not in files.py and files.py["pkg.back"] == "pkg/back.py"
    assert files.py["escape"] == "escape.py"  # normalised: still below the site folder
    assert files.py["pkg.win.sep"] == "pkg/win/sep.py"  # Windows separators
    assert not {"path", "tool"} & {m.rsplit(".", 1)[-1] for m in files.py}
    assert {"fast", "pkg._c", "pkg.win"} == files.extensions
    assert {"pkg", "pkg.lora", "a", "a.b", "pkg.data", "x", "x.", "folder", "ns", "9lives"} <= files.folders
