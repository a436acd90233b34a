"""What a forked child added to its copy of a SourceIndex, handed back to the parent's index.

The symbols check's undeclared part and the calls check run in a forked child beside the symbols check's broken
names (envdoctor.diagnose), both on copies of one index. Both add what they parse to the same per-distribution
cache entries (envdoctor.source.index); two processes each writing a whole entry would lose one side's additions
(the last rename wins). So the child writes none: ``hold_saves(index)`` makes its ``save()`` keep what it would
have written, the entries come back with the child's result, and ``adopt`` merges them into the parent's index,
whose next ``save()`` writes the union: the entries the run would have written with the checks one after the
other. ``unread_since`` hands back the files the child could not read or parse, which the symbols check's note
names.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from envdoctor.source.index import SourceIndex

Entries = dict[str, dict[str, Any]]
"""Distribution name -> what of its cache entry the child extracted (``hold_saves``)."""


def hold_saves(index: SourceIndex) -> Entries:
    """From now on, ``index.save()`` keeps the entries changed since this call in the returned dict instead of
    writing them (for a forked child's copy of the index: what changed before the fork is the parent's to save).
    Kept: what ``adopt`` would take, that is the fields then unset and the keys then absent from the entry's
    dicts (the rest the parent has: its copy was forked at this call); each value is written once, never
    changed after (envdoctor.source.index), so a reference holds it as written now. A deep copy of the whole
    entries cost ~80 ms in a cold hf-stack check, most of it the text pass's imports, which the parent has."""
    held: Entries = {}
    index._dirty.clear()
    had = {name: {field: _known(value) for field, value in entry.items()} for name, entry in index._stored.items()}

    def save() -> None:
        for name in sorted(index._dirty):
            held[name] = _added(index._stored[name], had.get(name, {}))
        index._dirty.clear()

    index.save = save  # type: ignore[method-assign]  # this copy of the index only
    return held


def _known(value: object) -> frozenset[str] | bool:
    """What an entry's field holds at ``hold_saves``: a dict's keys, else whether it is set."""
    return frozenset(value) if isinstance(value, dict) else value is not None


def _added(entry: dict[str, Any], had: dict[str, frozenset[str] | bool]) -> dict[str, Any]:
    """``entry``'s fields and dict keys that were not set when ``had`` was taken."""
    out: dict[str, Any] = {}
    for field, value in entry.items():
        known = had.get(field, False)
        if isinstance(value, dict) and isinstance(known, frozenset):
            out[field] = {key: item for key, item in value.items() if key not in known}
        elif known is not True:
            out[field] = value
    return out


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


@contextlib.contextmanager
def unread_since(index: SourceIndex) -> Iterator[dict[str, str]]:
    """The files ``index`` noted as unread (path -> why) within the block, newly or with another reason, for the
    parent's ``index.unread.update()``: the note the parent writes then is the one the checks in order write."""
    before = dict(index.unread)
    noted: dict[str, str] = {}
    yield noted
    noted.update((path, why) for path, why in index.unread.items() if before.get(path) != why)
