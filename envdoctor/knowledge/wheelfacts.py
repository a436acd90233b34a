"""Facts harvested from real wheels (matrix/facts/, written by matrix/harvest.py), read lazily.

Only what a finding asks about is loaded: one JSON file per package and kind, on first use.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from envdoctor.versions import InvalidVersion, Version, canonical, parse_version

Range = tuple[str, str]


class Facts:
    def __init__(self, root: Path | None) -> None:
        self.root = root
        self._files: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._names: dict[tuple[str, str, str, str, str], frozenset[str] | None] = {}

    @classmethod
    def shipped(cls) -> Facts:
        from envdoctor.errors import EnvdoctorError
        from envdoctor.resources import data_dir

        try:
            return cls(data_dir("matrix") / "facts")
        except EnvdoctorError:
            return cls(None)

    def _load(self, kind: str, package: str) -> dict[str, Any] | None:
        key = (kind, canonical(package))
        if key not in self._files:
            data = None
            if self.root is not None:
                try:
                    data = json.loads((self.root / kind / f"{key[1]}.json").read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    data = None
            self._files[key] = data if isinstance(data, dict) else None
        return self._files[key]

    def path(self, kind: str, package: str) -> str:
        return f"matrix/facts/{kind}/{canonical(package)}.json"

    def versions(self, package: str) -> list[str]:
        data = self._load("releases", package)
        return [r["version"] for r in data["releases"]] if data else []

    def release(self, package: str, version: str) -> dict[str, Any] | None:
        data = self._load("releases", package)
        for r in data["releases"] if data else ():
            if r["version"] == version:
                return r  # type: ignore[no-any-return]
        return None

    def ships(self, package: str, module: str) -> bool:
        """Whether the harvested wheels of ``package`` ship the top-level ``module`` (a watched package only)."""
        if not self.versions(package):
            return False
        modules = (self._load("symbols", package) or {}).get("modules", {})
        return any(m == module or m.startswith(module + ".") for m in modules)

    def providing(self, package: str, module: str, name: str) -> set[str] | None:
        """The releases of ``package`` where ``from module import name`` finds it: the module binds it or its
        star imports bring it. None when the module is not harvested."""
        data = self._load("symbols", package)
        entry = (data or {}).get("modules", {}).get(module)
        if entry is None:
            return None
        ranges = [*entry["names"].get(name, []), *entry.get("exports", {}).get(name, [])]
        return _members(self.versions(package), ranges)

    def importing(self, package: str, module: str, name: str) -> set[str] | None:
        """The releases of ``package`` that import ``name`` from ``module``; None when not harvested."""
        found = self.imported(package, module, name)
        return None if found is None else _members(self.versions(package), found)

    def names_of_file(self, package: str, module: str, version: str, digest: str) -> frozenset[str] | None:
        """The names ``module`` binds in release ``version`` of ``package``, if that release shipped the file
        whose RECORD hash is ``digest`` and its names are statically known; else None."""
        return self._of_file("names", "dynamic", package=package, module=module, version=version, digest=digest)

    def exports_of_file(self, package: str, module: str, version: str, digest: str) -> frozenset[str] | None:
        """What ``module``'s star imports bring in that release (walked at harvest time), on the same
        condition; None when the walk was incomplete or not harvested."""
        return self._of_file(
            "exports", "exports_unknown", package=package, module=module, version=version, digest=digest
        )

    def _of_file(
        self, table: str, unsure: str, *, package: str, module: str, version: str, digest: str
    ) -> frozenset[str] | None:
        key = (table, package, module, version, digest)
        if key in self._names:
            return self._names[key]
        result = None
        data = self._load("symbols", package)
        entry = (data or {}).get("modules", {}).get(module)
        if entry is not None and table in entry and version in (data or {}).get("versions", []):
            shipped = [(str(a), str(b)) for a, b in entry.get("files", {}).get(digest, [])]
            doubtful = [(str(a), str(b)) for a, b in entry.get(unsure, [])]
            v = _v(version)
            if containing(shipped, v) is not None and containing(doubtful, v) is None:
                result = frozenset(n for n, rs in entry[table].items() if containing([(a, b) for a, b in rs], v))
        self._names[key] = result
        return result

    def shipping(self, package: str, module: str) -> tuple[list[str], set[str]] | None:
        """The harvested releases of ``package`` (oldest first) and those that ship ``module``; None when the
        module is not harvested."""
        data = self._load("symbols", package) or {}
        entry = data.get("modules", {}).get(module)
        if entry is None:
            return None
        versions = [str(v) for v in data.get("versions", [])]
        return versions, _members(versions, [r for ranges in entry.get("files", {}).values() for r in ranges])

    def signature(self, package: str, qualname: str) -> tuple[list[str], dict[str, Any]] | None:
        """The harvested parameters of callable ``qualname`` (``transformers.Trainer.__init__``, a dataclass
        like ``trl.SFTConfig``): the harvested versions and the entry (``params``: name -> ranges; ``renamed``:
        old -> {new: ranges where the old name is still accepted}; ``var_keyword``: ranges with ``**kwargs``)."""
        data = self._load("signatures", package)
        entry = (data or {}).get("callables", {}).get(qualname)
        if not isinstance(entry, dict):
            return None
        return [str(v) for v in (data or {}).get("versions", [])], entry

    def signatures(self, package: str) -> dict[str, Any] | None:
        """The whole harvested signatures file of ``package`` (``callables``, ``members``, ``versions``); None
        when it is not harvested. Only a file that exists is read (a listing of the folder, once)."""
        if self.root is None or f"{canonical(package)}.json" not in self._listing("signatures"):
            return None
        return self._load("signatures", package)

    def _listing(self, kind: str) -> frozenset[str]:
        key = ("listing", kind)
        if key not in self._files:
            try:
                names = sorted(os.listdir(self.root / kind)) if self.root is not None else []
            except OSError:
                names = []
            self._files[key] = {"names": names}
        return frozenset((self._files[key] or {}).get("names", ()))

    def members(self, package: str, cls: str) -> tuple[list[str], dict[str, Any]] | None:
        """The harvested members of class ``cls`` (``accelerate.Accelerator``): the harvested versions and the
        entry (``names``: member -> ranges where the class defines it; ``open``: ranges where its members
        cannot be known statically, such as a ``__getattr__``)."""
        data = self._load("signatures", package)
        entry = (data or {}).get("members", {}).get(cls)
        if not isinstance(entry, dict):
            return None
        return [str(v) for v in (data or {}).get("versions", [])], entry

    def weights_only_caller(self, package: str) -> dict[str, Any] | None:
        """matrix/facts/weights-only.json's entry for ``package`` (hand-curated, with its wheels and real run):
        ``first_fixed``, its first release that loads its files under torch.load's weights_only default
        (torch >= 2.6); None when not recorded."""
        data = self._load(".", "weights-only")
        entry = (data or {}).get("callers", {}).get(canonical(package))
        return entry if isinstance(entry, dict) else None

    def imported(self, package: str, module: str, name: str) -> list[Range] | None:
        """Releases of ``package`` that import ``name`` from ``module``; None when not harvested."""
        data = self._load("imports", package)
        if data is None:
            return None
        return [(str(r[0]), str(r[1])) for r in data["imports"].get(module, {}).get(name, [])]


def _members(versions: list[str], ranges: list[Range] | list[list[str]]) -> set[str]:
    """The harvested versions that fall in any of ``ranges``."""
    bounds = [(_v(a), _v(b)) for a, b in ranges]
    return {v for v in versions if any(lo <= _v(v) <= hi for lo, hi in bounds)}


def containing(ranges: list[Range], version: Version) -> Range | None:
    """The range whose first..last (inclusive) holds ``version``."""
    for first, last in ranges:
        if _v(first) <= version <= _v(last):
            return (first, last)
    return None


def _v(text: str) -> Version:
    try:
        return parse_version(text)
    except InvalidVersion:
        return parse_version("0")
