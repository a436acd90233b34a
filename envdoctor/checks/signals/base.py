"""What every signal shares: a match (``Match``), the signal's type (``Signal``), the reader and cache of a
distribution's installed files (``Files``), and two small tests on a distribution's files and requirements."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from envdoctor.cache import Cache
from envdoctor.checks.signals.elf import DynamicInfo, is_torch_symbol, read_dynamic
from envdoctor.inventory import Dist, Inventory
from envdoctor.knowledge.matrix import Rule
from envdoctor.source.installed import BINARY_LIMIT, Reader, read_record, record_entries

if TYPE_CHECKING:
    from envdoctor.cache import Shape


@dataclass(frozen=True)
class Match:
    """One place a rule applies: the packages, the values for the title, what was seen."""

    packages: tuple[str, ...]
    values: dict[str, str] = field(default_factory=dict)
    evidence: tuple[str, ...] = ()


Signal = Callable[[Inventory, Rule, "Files"], list[Match]]


class Files:
    """Reads installed files of a distribution (through its RECORD, bounded: envdoctor.source.installed), caching
    per-distribution answers. ``reader.unread``: the files that could not be read, and why."""

    def __init__(self, cache: Cache, importing: Callable[[Dist, str], list[str] | None] | None = None) -> None:
        self.cache = cache
        self._importing = importing
        self._memo: dict[tuple[str, str], dict[str, object]] = {}
        self.reader = Reader()

    def importing(self, dist: Dist, module: str) -> list[str] | None:
        """The .py files of ``dist`` that import ``module`` (from the symbols check's text pass, when it ran
        in this check), or None when that is not known."""
        return self._importing(dist, module) if self._importing is not None else None

    def listed(self, dist: Dist) -> list[str]:
        """The files RECORD lists inside the distribution's site folder (envdoctor.source.installed.record_entries)."""
        if dist.planned:  # not on disk yet: its files are unknown (the old copy's are not its files)
            return []
        record = read_record(self.reader, dist.path)
        return [rel for rel, _hash in record_entries(record)] if record is not None else []

    def read(self, dist: Dist, rel: str, limit: int = BINARY_LIMIT) -> bytes | None:
        if dist.planned:
            return None
        return self.reader.read(os.path.join(dist.location, rel), limit)

    def dynamic(self, dist: Dist, rel: str) -> DynamicInfo | None:
        """The ELF dynamic section and torch symbols of an extension of ``dist`` (envdoctor.checks.signals.elf)."""
        return read_dynamic(os.path.join(dist.location, rel), is_torch_symbol, self.reader)

    def remembered(
        self, kind: str, dist: Dist, compute: Callable[[], dict[str, object]], shape: dict[str, Shape]
    ) -> dict[str, object]:
        """``compute()`` for this distribution, cached by its name, version and RECORD stamp, with the files it
        could not read (noted again on every run); a stored entry not of ``shape`` is computed again and
        rewritten."""
        if dist.planned:
            return compute()
        memo = (kind, dist.path)
        if memo in self._memo:  # one check (or one plan's many trial checks) reads each answer once
            return self._memo[memo]
        try:
            st = os.stat(os.path.join(dist.path, "RECORD"))
            key: str | None = f"{kind}-{dist.name}-{dist.raw_version}-{st.st_size}-{st.st_mtime_ns}"
        except OSError:
            key = None  # no RECORD to stamp it by: not stored across runs, but still read once in this one
        hit = self.cache.get(key, {**shape, "unread": {str: str}}) if key is not None else None
        if hit is None:
            outer, self.reader = self.reader, Reader()
            try:
                found = compute()
            finally:
                unread, self.reader = self.reader.unread, outer
            hit = {**found, "unread": {os.path.relpath(p, dist.location): why for p, why in unread.items()}}
            if key is not None:
                self.cache.put(key, hit)
        self.reader.unread.update({os.path.join(dist.location, rel): why for rel, why in hit["unread"].items()})
        self._memo[memo] = hit
        return hit


def requires(dist: Dist, name: str) -> bool:
    """Whether ``dist`` declares ``name`` at all (any marker, any extra)."""
    return name in dist.declared_names


def is_extension(rel: str) -> bool:
    """Whether the installed file ``rel`` is a compiled extension module or shared library (``.so``, a
    versioned ``.so.N``, Windows' ``.pyd``)."""
    return rel.endswith((".so", ".pyd")) or ".so." in rel
