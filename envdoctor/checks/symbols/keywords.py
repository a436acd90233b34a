"""How a release of a harvested callable takes a keyword argument, read from its signature entry
(matrix/facts/signatures/: ``params``, ``var_keyword`` and ``renamed``, each a list of release ranges).

One answer for the calls check (envdoctor.checks.symbols.calls: the calls installed code makes) and for
``check --script`` (envdoctor.checks.scan: the user's own calls).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from envdoctor.knowledge.wheelfacts import containing
from envdoctor.versions import Version


@dataclass(frozen=True)
class Taken:
    """``judged``: some harvested release has the keyword as a parameter or renames it (else nothing is
    said). ``accepted``: the release takes it as a parameter, or takes ``**kwargs``. ``alias_of``: the
    release takes it only as the deprecated alias of this parameter (``renamed``)."""

    judged: bool
    accepted: bool = False
    alias_of: str | None = None

    @property
    def refused(self) -> bool:
        """The call fails with this release: TypeError, unexpected keyword argument."""
        return self.judged and not self.accepted and self.alias_of is None


def taken(entry: Mapping[str, Any], keyword: str, version: Version) -> Taken:
    """How release ``version`` of the callable whose harvested signature is ``entry`` takes ``keyword``."""
    if containing(ranges(entry.get("var_keyword")), version):
        return Taken(judged=True, accepted=True)
    params: dict[str, Any] = entry.get("params", {})
    renamed: dict[str, dict[str, Any]] = entry.get("renamed", {})
    if keyword not in params and keyword not in renamed:
        return Taken(judged=False)
    if containing(ranges(params.get(keyword)), version):
        return Taken(judged=True, accepted=True)
    alias_of = next((new for new, r in renamed.get(keyword, {}).items() if containing(ranges(r), version)), None)
    return Taken(judged=True, alias_of=alias_of)


def ranges(value: Any) -> list[tuple[str, str]]:
    """The release ranges of a facts entry (``[[first, last], ...]``; None: none)."""
    return [(str(a), str(b)) for a, b in value or ()]
