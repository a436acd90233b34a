"""The installed files of each distribution: which modules it provides, what they import, what they define.

Built from each distribution's RECORD (the list of files the installer wrote), so no directory
is walked and nothing is imported. Everything extracted is cached in memory for the run and on
disk (envdoctor.cache) per (distribution, version, RECORD hash), so an unchanged environment is
not read again. Files are read bounded (envdoctor.source.installed): a file that cannot be read or parsed is
unknown, and ``unread`` says which and why.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import sys
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from envdoctor.cache import Cache, OneOf, conforms
from envdoctor.inventory import Dist, Inventory
from envdoctor.knowledge.wheelfacts import Facts
from envdoctor.source.installed import SOURCE_LIMIT, Reader, Unread, read_bytes, read_record, record_entries
from envdoctor.source.parallel import MIN_ITEMS, fork_map
from envdoctor.source.syntax import ImportSite, ModuleInfo, Unparsable, import_sites, parse_module
from envdoctor.source.text import ImportLine, built_all, column0_imports, defined_at_top, literal_all, scan_imports

SKIP_DIRS = {"tests", "test", "testing", "__pycache__", "_vendor", "vendored", "_vendored", "benchmarks", "examples"}
_EXT_SUFFIXES = (".so", ".pyd")
_ADDS_HOOK = re.compile(
    rb"\bsys\.(?:meta_path|path_hooks)\s*(?:\.(?:insert|append|extend)\s*\(|\+?=(?!=)|\[[^\]\n]*\]\s*=(?!=))"
)
"""``sys.meta_path.insert(0, finder)``, ``sys.path_hooks.append(hook)``, ``sys.meta_path[:0] = [...]``."""


@dataclass(frozen=True)
class Located:
    """Where a module lives: which distribution, which file, and what kind of module it is."""

    dist: Dist
    module: str
    path: str | None  # the .py file; None for a compiled extension or a namespace folder
    kind: str  # "module", "package", "extension", "namespace"


class DistFiles:
    """The modules one distribution provides, read from its RECORD."""

    def __init__(self, dist: Dist, record: str) -> None:
        self.dist = dist
        self.record_hash = hashlib.sha256(record.encode("utf-8", "surrogateescape")).hexdigest()[:20]
        self.py: dict[str, str] = {}  # module -> relative path of its .py file
        self.packages: set[str] = set()
        self.extensions: set[str] = set()
        self.folders: set[str] = set()
        self.hashes: dict[str, str] = {}  # relative path -> "sha256=..." as the installer wrote it
        self._walked: set[str] = set()  # the folders (as RECORD spells them) whose dotted names are in folders
        dotted: dict[str, tuple[str, bool]] = {}  # folder (as RECORD spells it) -> self._folder(folder)
        for rel, digest in record_entries(record):  # only files inside the site folder
            if ".dist-info/" in rel or ".egg-info/" in rel:
                continue
            if digest:
                self.hashes[rel] = digest
            folder, _, name = rel.rpartition("/")
            known = dotted.get(folder)
            if known is None:
                known = dotted[folder] = self._folder(folder)
            if name.endswith(".py"):
                stem = name[:-3]
                if stem == "__init__":
                    self.packages.add(known[0])
                    if known[0] and known[1]:
                        self.py[known[0]] = rel
                    continue
                module = f"{known[0]}.{stem}" if folder else stem
                # a package wins over a module of the same name (peft 0.6.2 ships both tuners/lora.py and
                # tuners/lora/__init__.py; Python's path finder takes the folder)
                if known[1] and _dotted_identifier(stem) and module not in self.packages:
                    self.py[module] = rel
            elif name.endswith(_EXT_SUFFIXES):
                first = name.split(".", 1)[0]
                self.extensions.add(f"{known[0]}.{first}" if folder else first)

    def _folder(self, folder: str) -> tuple[str, bool]:
        """``folder``'s dotted name, and whether each of its dotted parts is an identifier; the dotted names of
        it and of the folders above it go to ``folders``."""
        up = folder
        while up and up not in self._walked:
            self._walked.add(up)
            self.folders.add(up.replace("/", "."))
            up = up.rpartition("/")[0]
        dotted = folder.replace("/", ".")
        return dotted, not folder or _dotted_identifier(dotted)

    @cached_property
    def top_level(self) -> set[str]:
        return {m.split(".")[0] for m in (*self.py, *self.extensions)}

    def kind(self, module: str) -> str | None:
        if module in self.packages:
            return "package"
        if module in self.py:
            return "module"
        if module in self.extensions:
            return "extension"
        if module in self.folders:
            return "namespace"
        return None

    def scannable(self) -> Iterator[tuple[str, str]]:
        """(module, relative path) of the .py files worth scanning for imports (no tests, no vendored copies)."""
        for module, rel in self.py.items():
            if not SKIP_DIRS.intersection(module.split(".")[1:]):
                yield module, rel


def _dotted_identifier(name: str) -> bool:
    """Whether each dot-separated part of ``name`` is an identifier."""
    return name.isidentifier() or all(p.isidentifier() for p in name.split("."))


class SourceIndex:
    """Lazy, cached access to the installed sources of every distribution in an Inventory."""

    def __init__(self, inv: Inventory, cache: Cache | None = None, facts: Facts | None = None) -> None:
        self.inv = inv
        self.cache = cache or Cache(None)
        self.facts = facts
        self.answered_by_facts = 0
        self.files: dict[str, DistFiles] = {}
        self.uncovered: list[Dist] = []  # no RECORD, or nothing importable listed (editable installs)
        self.planned: list[Dist] = []  # not on disk yet (a what-if inventory): no files to read
        self.by_top: dict[str, list[DistFiles]] = {}
        self._located: dict[str, Located | None] = {}
        self._stored: dict[str, dict[str, Any]] = {}
        self._dirty: set[str] = set()
        self._infos: dict[str, ModuleInfo] = {}
        self._sites: dict[str, list[ImportSite] | None] = {}
        self._text: dict[str, bytes] = {}
        self.scanned: set[str] = set()
        self._hooked: dict[str, bool] = {}  # whether a file adds an import hook, for the distributions scanned
        """Distributions whose files this run read for the text pass: the others' imports came from the cache."""
        self.reader = Reader()
        for dist in inv.winners.values():
            self._load(dist)
        self._unscanned = sum(len(f.py) for n, f in self.files.items() if self._stored[n]["imports"] is None)
        """How many .py files of distributions the text pass has not covered yet (kept by ``_scan``): asking it
        again for each of 5,000 distributions made the first imports() of a cold check quadratic."""

    def _load(self, dist: Dist) -> None:
        if dist.planned:
            self.planned.append(dist)
            return
        record = read_record(self.reader, dist.path) if dist.kind == "dist-info" else None
        if not record:
            self.uncovered.append(dist)
            return
        files = DistFiles(dist, record)
        editable = bool(((dist.direct_url or {}).get("dir_info") or {}).get("editable"))
        if editable and not files.py:  # the code lives in a checkout the RECORD does not list
            self.uncovered.append(dist)
            return
        self.files[dist.name] = files
        for top in files.top_level:
            self.by_top.setdefault(top, []).append(files)
        key = self._key(files)
        stored = self.cache.get(key, _STORED) or {"imports": None, "modules": {}, "all": {}, "unread": {}}
        if not conforms(stored.get("column0"), _COLUMN0):  # absent (an older entry), or of another shape
            stored["column0"] = {}
        self._stored[dist.name] = stored
        # what an earlier run could not read is still unread (stored relative: an entry serves every copy)
        self.reader.unread.update({os.path.join(dist.location, rel): why for rel, why in stored["unread"].items()})

    def source(self, dist: Dist, path: str) -> bytes | None:
        """The bytes of a source file of ``dist`` (bounded; None when it cannot be read)."""
        return self._read(dist, path)

    def _read(self, dist: Dist, path: str) -> bytes | None:
        """A source file of ``dist``, bounded; why it could not be read is kept with the distribution's entry."""
        before = len(self.reader.unread)
        data = self.reader.read(path, SOURCE_LIMIT)
        if len(self.reader.unread) != before:
            self._unread(dist, path, self.reader.unread[path])
        return data

    def _noted(self, dist: Dist, path: str, reason: str) -> None:
        """What ``_read`` does when it could not read ``path``: a path noted before keeps its stored reason."""
        if path in self.reader.unread:
            self.reader.note(path, reason)
        else:
            self._unread(dist, path, reason)

    def _unread(self, dist: Dist, path: str, reason: str) -> None:
        self.reader.note(path, reason)
        stored = self._stored.get(dist.name)
        rel = os.path.relpath(path, dist.location)
        if stored is not None and stored["unread"].get(rel) != reason:
            stored["unread"][rel] = reason
            self._dirty.add(dist.name)

    @property
    def unread(self) -> dict[str, str]:
        """Files that could not be read or parsed (path -> why): what they define or import is unknown."""
        return self.reader.unread

    def _key(self, files: DistFiles) -> str:
        # what the text pass keeps depends on the target's standard library (its Python minor version)
        minor = ".".join(self.inv.python.version.split(".")[:2])
        return f"{files.dist.name}-{files.dist.raw_version}-{files.record_hash}-py{minor}"

    @cached_property
    def _stdlib_bytes(self) -> frozenset[bytes]:
        """``stdlib`` encoded, and b"" (a relative import): what every distribution's text pass skips undecoded."""
        return frozenset(t.encode() for t in (*self.stdlib, ""))

    @cached_property
    def stdlib(self) -> frozenset[str]:
        """The target's standard-library top-level names (the probe reports them); this process's own when
        the probe did not say (an inventory from an older payload)."""
        return self.inv.python.stdlib or frozenset(sys.stdlib_module_names)

    def present(self, top: str) -> bool:
        """Whether ``import top`` can find a top-level module: a listed file of an installed distribution,
        the standard library, or anything else on the target's sys.path (the probe lists the names)."""
        listed = self.inv.modules or ()
        return top in self.by_top or top in self.stdlib or top == "__main__" or top in listed

    # -- where modules are ---------------------------------------------------------------

    def locate(self, module: str) -> Located | None:
        """The distribution and file of ``module``; None when no installed distribution has it (remembered for
        the run: the reach search asks for the same modules tens of thousands of times)."""
        try:
            return self._located[module]
        except KeyError:
            found = self._located[module] = self._locate(module)
            return found

    def _locate(self, module: str) -> Located | None:
        for files in self.by_top.get(module.split(".", maxsplit=1)[0], ()):
            kind = files.kind(module)
            if kind is not None:
                path = files.py.get(module)
                full = os.path.join(files.dist.location, path) if path else None
                return Located(files.dist, module, full, kind)
        return None

    def children(self, package: str) -> list[str]:
        """The modules and packages directly inside ``package``, from its distribution's RECORD."""
        files = self.owner(package)
        if files is None:
            return []
        prefix = package + "."
        return sorted({m for m in files.py if m.startswith(prefix) and "." not in m[len(prefix) :]})

    def owner(self, module: str) -> DistFiles | None:
        """The distribution that owns ``module``'s top-level name (first on sys.path)."""
        owners = self.by_top.get(module.split(".", maxsplit=1)[0])
        return owners[0] if owners else None

    # -- what files import (text pass, cached per distribution) ------------------------------

    def imports(self, files: DistFiles) -> list[tuple[str, ImportLine]]:
        """(relative path, import) for every absolute import of another installed distribution's top-level
        name in ``files``."""
        return [(rel, imp) for rel, imp in self._foreign(files) if imp.module.split(".")[0] in self.by_top]

    def absent_imports(self, files: DistFiles) -> list[tuple[str, ImportLine]]:
        """(relative path, import) for every absolute import in ``files`` of a top-level name that nothing on
        the target's sys.path provides (not installed, not the standard library)."""
        return [(rel, imp) for rel, imp in self._foreign(files) if not self.present(imp.module.split(".")[0])]

    def imports_of(self, files: DistFiles, tops: Container[str]) -> list[tuple[str, ImportLine]]:
        """``imports(files)`` of the top-level names in ``tops`` only (the calls check wants a few: building
        the thousands of others cost it more than 10 ms on the hf-stack)."""
        return [
            (rel, ImportLine(m, tuple(n), line, ind))
            for rel, m, n, line, ind in self._scanned(files)
            if (top := m.split(".")[0]) in tops and top in self.by_top
        ]

    def _foreign(self, files: DistFiles) -> list[tuple[str, ImportLine]]:
        """Every absolute import in ``files`` of a top-level name that is neither its own nor the standard
        library's (the text pass; cached per distribution, whatever else is installed)."""
        return [(rel, ImportLine(m, tuple(n), line, ind)) for rel, m, n, line, ind in self._scanned(files)]

    def _scanned(self, files: DistFiles) -> list[list[Any]]:
        """``_foreign``'s imports as the text pass stores them: [path, module, names, line, indented]."""
        stored = self._stored[files.dist.name]
        if stored["imports"] is None:
            pending = [files]  # few files: this distribution now, the others when asked
            if self._unscanned >= MIN_ITEMS:  # many: all of them in one pass, over the cores
                pending = [f for f in self.files.values() if self._stored[f.dist.name]["imports"] is None]
            self._scan(pending)
        imports: list[list[Any]] = stored["imports"]
        return imports

    def _scan(self, pending: list[DistFiles]) -> None:
        """The text pass over the files of ``pending``, shared over the cores when they are many (fork_map):
        the same result, in the same order, as reading them one by one."""
        jobs: list[_ScanJob] = []
        for files in pending:
            drop = self.stdlib.union(files.top_level)
            skip = self._stdlib_bytes.union(t.encode() for t in files.top_level)
            jobs += [(files.dist.location, rel, skip, drop) for _module, rel in files.scannable()]
        results = iter(fork_map(scan_file, jobs))
        for files in pending:
            found, hooked = [], False
            for _module, rel in files.scannable():
                imports, why, adds_hook = next(results)
                hooked = hooked or adds_hook
                if why is not None:
                    self._noted(files.dist, os.path.join(files.dist.location, rel), why)
                found += [[rel, *imp] for imp in imports]
            stored = self._stored[files.dist.name]
            stored["imports"] = found
            self._unscanned -= len(files.py)
            self._dirty.add(files.dist.name)
            self.scanned.add(files.dist.name)
            self._hooked[files.dist.name] = hooked

    def importing(self, dist: Dist, module: str) -> list[str] | None:
        """Relative paths of the files of ``dist`` that import ``module`` (or a submodule of it), from
        the text pass; None when ``dist`` is not covered."""
        files = self.files.get(dist.name)
        if files is None:
            return None
        prefix = module + "."
        return sorted(
            {rel for rel, imp in self.imports(files) if imp.module == module or imp.module.startswith(prefix)}
        )

    # -- what modules define (ast, cached per module) ----------------------------------------

    def info(self, loc: Located) -> ModuleInfo | None:
        """The names module ``loc`` binds; None when it has no source (extension, namespace)."""
        if loc.path is None:
            return None
        hit = self._infos.get(loc.module)
        if hit is not None:
            return hit
        stored = self._stored.get(loc.dist.name, {}).get("modules", {})
        raw = stored.get(loc.module)
        if raw is not None:
            info = _info_from_json(raw)
        else:
            info = self._parse(loc)
            if loc.dist.name in self._stored:
                stored[loc.module] = _info_to_json(info)
                self._dirty.add(loc.dist.name)
        self._infos[loc.module] = info
        return info

    def known_names(self, loc: Located) -> frozenset[str] | None:
        """The names ``loc`` binds according to the harvested facts, when the installed file is the very file
        of a harvested release (same version, same RECORD hash): no need to read or parse it. None otherwise
        (not harvested, a patched or locally built file, an editable install)."""
        files = self.files.get(loc.dist.name)
        if self.facts is None or files is None or loc.dist.raw_version is None:
            return None
        rel = files.py.get(loc.module)
        digest = files.hashes.get(rel or "")
        if not digest:
            return None
        return self.facts.names_of_file(loc.dist.name, loc.module, loc.dist.raw_version, digest)

    def known_exports(self, loc: Located) -> frozenset[str] | None:
        """What ``loc``'s star imports bring, from the facts, under the same condition as known_names."""
        files = self.files.get(loc.dist.name)
        if self.facts is None or files is None or loc.dist.raw_version is None:
            return None
        digest = files.hashes.get(files.py.get(loc.module) or "")
        if not digest:
            return None
        return self.facts.exports_of_file(loc.dist.name, loc.module, loc.dist.raw_version, digest)

    def defines_by_text(self, loc: Located, name: str) -> bool:
        """The column-0 text shortcut (pytext.defined_at_top), skipped when the module is already parsed."""
        if loc.path is None:
            return False
        info = self._infos.get(loc.module)
        if info is not None or loc.module in self._stored.get(loc.dist.name, {}).get("modules", {}):
            return False  # the parsed names are at hand: no need for the shortcut
        if loc.path not in self._text:
            if len(self._text) > 256:
                self._text.clear()
            self._text[loc.path] = self._read(loc.dist, loc.path) or b""
        return defined_at_top(self._text[loc.path], name)

    def column0(self, loc: Located) -> list[tuple[int, str, tuple[str, ...]]]:
        """The column-0 imports of ``loc``'s file (envdoctor.source.text.column0_imports), kept in its
        distribution's entry: a later run after another distribution changed reads this file no more."""
        assert loc.path is not None
        stored = self._stored.get(loc.dist.name)
        kept = stored["column0"] if stored is not None else {}
        raw = kept.get(loc.module)
        if raw is None:
            found = column0_imports(self._read(loc.dist, loc.path) or b"")
            if stored is not None:
                kept[loc.module] = [[level, module, list(names)] for level, module, names in found]
                self._dirty.add(loc.dist.name)
            return found
        return [(level, module, tuple(names)) for level, module, names in raw]

    def star_names(self, loc: Located) -> tuple[str, ...] | None:
        """What ``from module import *`` gives, when the module's literal ``__all__`` says so by text (text.literal_all,
        text.built_all)."""
        if loc.path is None:
            return None
        stored = self._stored.get(loc.dist.name, {}).setdefault("all", {})
        if loc.module in stored:
            cached = stored[loc.module]
            return tuple(cached) if cached is not None else None
        data = self._read(loc.dist, loc.path)
        found = literal_all(data) if data is not None else None
        if found is None and data is not None:
            found = built_all(data)  # set once and added to in plain blocks, in a module that cannot be dynamic
        if loc.dist.name in self._stored:
            stored[loc.module] = list(found) if found is not None else None
            self._dirty.add(loc.dist.name)
        return found

    def _parse(self, loc: Located) -> ModuleInfo:
        assert loc.path is not None
        data = self._read(loc.dist, loc.path)
        if data is None:
            return ModuleInfo(frozenset(), dynamic="cannot be read")
        try:
            info = parse_module(data)
        except Unparsable as exc:
            self._unread(loc.dist, loc.path, str(exc))
            return ModuleInfo(frozenset(), dynamic=str(exc))
        if info.stub:  # lazy_loader.attach_stub: the names are in the .pyi beside it
            stub_path = loc.path[:-3] + ".pyi"
            stub = self._read(loc.dist, stub_path)
            why = "lazy stub file is missing"
            try:
                s = parse_module(stub) if stub is not None else None
            except Unparsable as exc:
                self._unread(loc.dist, stub_path, str(exc))
                s, why = None, f"lazy stub file {exc}"
            if s is not None:
                names, stars = info.names | s.names, info.stars + s.stars
                info = dataclasses.replace(info, names=names, stars=stars, all=s.all, stub=True, lazy=True)
            else:
                info = dataclasses.replace(info, dynamic=why, stub=True, lazy=True)
        return info

    def sites(self, dist: Dist, path: str) -> list[ImportSite] | None:
        """Import statements of the file at ``path`` of ``dist`` with their contexts (ast; cached for the run);
        None when it cannot be read or parsed."""
        if path not in self._sites:
            data = self._read(dist, path)
            try:
                self._sites[path] = import_sites(data) if data is not None else None
            except Unparsable as exc:
                self._unread(dist, path, str(exc))
                self._sites[path] = None
        return self._sites[path]

    def mentions(self, files: DistFiles, word: str) -> int:
        """How often ``word`` appears, as a whole word, in all of the distribution's .py files (cffi's
        ``_workaround_for_static_import_finders`` appears once: its def; nothing calls it). Read only for
        the rare broken import inside a private function."""
        pattern = re.compile(rb"\b" + re.escape(word.encode()) + rb"\b")
        count = 0
        for rel in files.py.values():
            data = self._read(files.dist, os.path.join(files.dist.location, rel)) or b""
            if word.encode() in data:
                count += len(pattern.findall(data))
        return count

    def hook_paths(self, files: DistFiles) -> frozenset[str] | None:
        """None when the distribution's code adds no import hook (a ``sys.meta_path`` or ``sys.path_hooks``
        entry); else the dotted paths under its own packages that its source spells as string literals
        (the hook's table: sentence-transformers 6 serves ``"sentence_transformers.losses"`` that way).
        Read only when a module or name of the distribution seems to be missing; cached with it."""
        stored = self._stored.get(files.dist.name)
        if stored is not None and conforms(stored.get("hooks", 0), _HOOKS):  # absent, or of another shape: read
            cached = stored["hooks"]
            return frozenset(cached) if cached is not None else None

        def sources() -> Iterator[bytes]:
            for _module, rel in files.scannable():
                yield self._read(files.dist, os.path.join(files.dist.location, rel)) or b""

        paths: frozenset[str] | None = None
        hooked = self._hooked.get(files.dist.name)  # known without reading when the text pass ran in this run
        if hooked if hooked is not None else any(_adds_hook(d) for d in sources()):
            tops = b"|".join(re.escape(t.encode()) for t in sorted(files.top_level))
            literal = re.compile(rb"""["']((?:""" + tops + rb""")(?:\.\w+)+)["']""")
            starts = [q + t.encode() + b"." for t in files.top_level for q in (b'"', b"'")]  # what a match begins with
            paths = frozenset(m.decode() for d in sources() if any(s in d for s in starts) for m in literal.findall(d))
        if stored is not None:
            stored["hooks"] = sorted(paths) if paths is not None else None
            self._dirty.add(files.dist.name)
        return paths

    def defining(self, dist: Dist, path: str, module: str, function: str) -> tuple[str, bytes] | None:
        """The path and source of the file that holds ``def function(`` at column 0, found by following the import
        that binds ``function`` in the file at ``path`` (module ``module``) through re-exports
        (transformers' ``from .utils import is_accelerate_available`` -> utils/import_utils.py); None
        when that chain leaves the text. Read only for imports under an ``if is_X_available():``."""
        head = f"def {function}(".encode()
        for _ in range(6):
            data = self._read(dist, path)
            if data is None:
                return None
            if data.startswith(head) or b"\n" + head in data:
                return path, data
            site = next((s for s in self.sites(dist, path) or () if function in s.names), None)
            loc = self.locate(absolute(module, path.endswith("__init__.py"), site.module, site.level)) if site else None
            if loc is None or loc.path is None:
                return None
            dist, path, module = loc.dist, loc.path, loc.module
        return None

    def save(self) -> None:
        """Write what this run extracted to the on-disk cache."""
        for name in sorted(self._dirty):
            self.cache.put(self._key(self.files[name]), self._stored[name])
        self._dirty.clear()


_ScanJob = tuple[str, str, frozenset[bytes], frozenset[str]]
"""(site folder, relative path, top-level names not even decoded, top-level names dropped)."""


def scan_file(job: _ScanJob) -> tuple[list[tuple[str, list[str], int, bool]], str | None, bool]:
    """The text pass over one file: (module, names, line, indented) of each absolute import of a top-level
    name not in the job's dropped names; why the file could not be read (None when it was, or is missing); and
    whether it adds an import hook (``_adds_hook``: the file is in memory now, so hook_paths need not read it)."""
    location, rel, skip, drop = job
    try:
        data = read_bytes(os.path.join(location, rel), SOURCE_LIMIT)
    except Unread as exc:
        return [], None if exc.missing else exc.reason, False
    imports = [
        (imp.module, list(imp.names), imp.line, imp.indented)
        for imp in scan_imports(data, skip=skip)
        if imp.module.split(".")[0] not in drop
    ]
    return imports, None, _adds_hook(data)


def _adds_hook(data: bytes) -> bool:
    return (b"sys.meta_path" in data or b"sys.path_hooks" in data) and _ADDS_HOOK.search(data) is not None


def fingerprint(inv: Inventory) -> str:
    """A key that changes when any distribution is added, removed, upgraded or reinstalled: the
    name, version, place and RECORD size and mtime of each. A hand edit of an installed file that
    leaves RECORD alone is not seen (``--no-cache`` re-reads everything)."""
    from envdoctor._version import __version__

    h = hashlib.sha256(f"{__version__}\0{inv.python.executable}\0".encode("utf-8", "surrogateescape"))
    for dist in inv.dists:
        if dist.planned:
            h.update(f"{dist.name}\0{dist.raw_version}\0planned\n".encode("utf-8", "surrogateescape"))
            continue
        try:
            st = os.stat(os.path.join(dist.path, "RECORD"))
            stamp = f"{st.st_size}:{st.st_mtime_ns}"
        except OSError:
            stamp = "-"
        h.update(f"{dist.name}\0{dist.raw_version}\0{dist.path}\0{stamp}\n".encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:32]


def _info_to_json(info: ModuleInfo) -> dict[str, Any]:
    return {
        "names": sorted(info.names),
        "stars": [list(s) for s in info.stars],
        "all": list(info.all) if info.all is not None else None,
        "dynamic": info.dynamic,
        "stub": info.stub,
        "lazy": info.lazy,
        "unrun_stars": [list(s) for s in info.unrun_stars],
        "own_files": info.own_files,
    }


def _info_from_json(raw: dict[str, Any]) -> ModuleInfo:
    return ModuleInfo(
        names=frozenset(raw["names"]),
        stars=tuple((m, lv) for m, lv in raw["stars"]),
        all=tuple(raw["all"]) if raw["all"] is not None else None,
        dynamic=raw["dynamic"],
        stub=raw["stub"],
        lazy=raw["lazy"],
        unrun_stars=tuple((m, lv) for m, lv in raw["unrun_stars"]),
        own_files=raw["own_files"],
    )


def absolute(module: str, is_package: bool, target: str, level: int) -> str:
    """The absolute name of ``from <level dots><target> import ...`` written in ``module``."""
    if level == 0:
        return target
    parts = module.split(".") if is_package else module.split(".")[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)]
    return ".".join([*parts, target] if target else parts)


_INFO = {
    "names": [str],
    "stars": [(str, int)],
    "all": OneOf(None, [str]),
    "dynamic": str,
    "stub": bool,
    "lazy": bool,
    "unrun_stars": [(str, int)],
    "own_files": bool,
}
_HOOKS = OneOf(None, [str])
_COLUMN0 = {str: [(int, str, [str])]}
_STORED = {
    "imports": OneOf(None, [(str, str, [str], int, bool)]),
    "modules": {str: _INFO},
    "all": {str: OneOf(None, [str])},
    "unread": {str: str},
}
"""What a distribution's cache entry must look like; another shape is ignored, read again and rewritten."""


def dotted_parent(module: str) -> Iterable[str]:
    """``a.b.c`` -> ``a``, ``a.b``: the packages Python imports first."""
    parts = module.split(".")
    return (".".join(parts[:i]) for i in range(1, len(parts)))
