"""Text tests run in the text pass, while a file is in memory: a later check asks for their results instead of
reading the file again (issue 19: the cold check reads each installed file once).

A ``Watch`` names a test, the top-level module a file must import for the test to run on it (the text pass's own
imports say so), and which distributions it is for. The index keeps the results with each distribution's entry
(``SourceIndex.watched``). Pure: bytes in, a JSON value out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from envdoctor.inventory import Dist

if TYPE_CHECKING:
    from envdoctor.cache import Shape


@dataclass(frozen=True)
class Watch:
    """``test(data)`` for each scanned file of a distribution ``applies`` to that imports ``top`` (or a submodule).

    ``key`` names the test's results in the cache: change it when the test's answers change. An empty result
    (``[]``, ``""``) is not kept: a file without one had that answer. ``shape``: what one result must look like."""

    key: str
    top: str
    test: Callable[[bytes], Any]
    applies: Callable[[Dist], bool]
    shape: Shape


def watch_file(data: bytes, imported: set[str], watches: Sequence[Watch]) -> dict[str, Any]:
    """The results of ``watches`` on one file whose imports' top-level names are ``imported``: key -> result when
    it is not empty, key -> None when the test raised (its answer for this distribution is then unknown)."""
    out: dict[str, Any] = {}
    for watch in watches:
        if watch.top not in imported:
            continue
        try:
            found = watch.test(data)
        except Exception:  # the consumer reads the file itself, and sees what it sees
            out[watch.key] = None
            continue
        if found:
            out[watch.key] = found
    return out
