"""What a forked child added to its copy of a SourceIndex, handed back to the parent's index.

The calls check runs in a forked child beside the rest of the symbols check (envdoctor.diagnose), both on copies
of one index. Both add what they parse to the same per-distribution cache entries (envdoctor.source.index); two
processes each writing a whole entry would lose one side's additions (the last rename wins). So the child writes
none: ``hold_saves(index)`` makes its ``save()`` keep what it would have written, the entries come back with the
child's result, and ``adopt`` merges them into the parent's index, whose next ``save()`` writes the union: the
entries the run would have written with the checks one after the other.
"""

from __future__ import annotations

import copy
from typing import Any

from envdoctor.source.index import SourceIndex

Entries = dict[str, dict[str, Any]]
"""Distribution name -> its cache entry, as ``SourceIndex.save()`` would have written it."""


def hold_saves(index: SourceIndex) -> Entries:
    """From now on, ``index.save()`` keeps the entries changed since this call in the returned dict instead of
    writing them (for a forked child's copy of the index: what changed before the fork is the parent's to save)."""
    held: Entries = {}
    index._dirty.clear()

    def save() -> None:
        for name in sorted(index._dirty):
            held[name] = copy.deepcopy(index._stored[name])  # as written now, whatever changes it later
        index._dirty.clear()

    index.save = save  # type: ignore[method-assign]  # this copy of the index only
    return held


def adopt(index: SourceIndex, entries: Entries) -> None:
    """Merge ``entries`` (held by a child forked from this process after the text pass) into ``index``'s own:
    what either side extracted, the parent's first, the child's additions after, as ``save()`` would have
    found them had the child's check run here after the parent's; then ``index.save()`` writes them."""
    for name, theirs in entries.items():
        mine = index._stored.get(name)
        if mine is None:
            continue
        for field, value in theirs.items():
            have = mine.get(field)
            if have is None:  # not extracted here (absent, or not yet: a list the child filled)
                mine[field] = value
            elif isinstance(have, dict) and isinstance(value, dict):
                for key, item in value.items():
                    have.setdefault(key, item)
        index._dirty.add(name)
