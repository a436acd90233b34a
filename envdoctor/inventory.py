"""Inventory: a frozen snapshot of the target environment, built from the inventory probe's JSON.

This is the boundary where raw strings become canonical names, Versions and Requirements; a
string that does not parse is kept raw beside the problem, so no distribution is lost.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from envdoctor.errors import ProbeError
from envdoctor.versions import (
    InvalidRequirement,
    InvalidSpecifier,
    MarkerEnvironment,
    NormalizedName,
    Requirement,
    SpecifierSet,
    Version,
    canonical,
    parse_requirement,
    parse_specifier,
    version_or_none,
)

SCHEMA = "envdoctor.inventory/1"
_DIR_NAME = re.compile(r"^(?P<name>[^-]+)(?:-(?P<version>[^-]+))?")
_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?"
_RELEASE = r"[0-9]+(?:\.[0-9]+)*"
_TAGS = r"(?:(?:a|b|rc)[0-9]+)?(?:\.post[0-9]+)?(?:\.dev[0-9]+)?"
_CLAUSE = (
    rf"(?:(?:==|!=)\s*{_RELEASE}(?:\.\*|{_TAGS})"
    rf"|~=\s*[0-9]+(?:\.[0-9]+)+{_TAGS}"
    rf"|(?:<=|>=|<|>)\s*{_RELEASE}{_TAGS})"
)
_EXTRA_GATED = re.compile(
    rf"\s*(?P<name>{_NAME})\s*(?:\[\s*{_NAME}(?:\s*,\s*{_NAME})*\s*\])?\s*(?:{_CLAUSE}(?:\s*,\s*{_CLAUSE})*)?"
    rf"\s*;\s*extra\s*==\s*(?P<q>[\"'])(?P<extra>{_NAME})(?P=q)\s*\Z"
)
"""A Requires-Dist line that certainly parses (a plain name, extras, simple version clauses) and whose marker is a
lone ``extra == "x"``: it holds only when extra x is requested. Anything else is parsed to find out."""


@dataclass(frozen=True)
class Interpreter:
    executable: str
    version: str
    implementation: str = "cpython"
    platform: str = ""
    soabi: str = ""
    prefix: str = ""
    base_prefix: str = ""
    stdlib: frozenset[str] = frozenset()
    """The target's standard-library top-level module names (its sys.stdlib_module_names); empty when unknown."""


@dataclass(frozen=True)
class Dist:
    """One installed distribution, as its metadata folder describes it."""

    name: NormalizedName
    display_name: str
    raw_version: str | None
    version: Version | None
    requires_dist: tuple[str, ...]
    """The Requires-Dist lines as METADATA gives them; ``requires`` and ``invalid_requires`` are parsed from them
    when first asked for (a line gated by a lone ``extra == "x"`` marker, most of them, matters only to a consumer
    that asks for extra x: ``base_requires`` and ``requires_with`` leave it unparsed)."""
    raw_requires_python: str | None
    requires_python: SpecifierSet | None
    path: str
    location: str
    kind: str = "dist-info"
    metadata_file: str = "METADATA"
    installer: str | None = None
    direct_url: Mapping[str, Any] | None = None
    wheel_tags: tuple[str, ...] = ()
    has_record: bool = True
    missing_metadata: bool = False
    unreadable: str | None = None
    """Why the metadata folder cannot be read (permissions), when it cannot; then nothing in it is known."""
    problems: tuple[str, ...] = ()
    planned: bool = False
    """Not on disk: what an install would put there (envdoctor.predict.dryrun.future_inventory). Its metadata
    comes from pip's report; ``path`` is "" and code that reads installed files must skip it."""

    @cached_property
    def requires(self) -> tuple[Requirement, ...]:
        return _requirements(self.requires_dist)[0]

    @cached_property
    def invalid_requires(self) -> tuple[tuple[str, str], ...]:
        """(line, why) of each Requires-Dist line that does not parse (a line ``_gated`` recognises parses)."""
        return self._base[1]

    @cached_property
    def base_requires(self) -> tuple[Requirement, ...]:
        """``requires`` less the lines a lone ``extra == "x"`` marker gates: every requirement whose marker can
        hold without an extra requested, in order."""
        return self._base[0]

    def requires_with(self, extra: NormalizedName) -> tuple[Requirement, ...]:
        """``requires`` less the lines a lone marker gates to another extra than ``extra``, in order: every
        requirement whose marker can hold with ``extra`` requested."""
        gated = self._gated
        lines = (line for i, line in enumerate(self.requires_dist) if gated.get(i, (extra,))[0] == extra)
        return _requirements(lines)[0]

    @cached_property
    def declared_names(self) -> frozenset[NormalizedName]:
        """The canonical name of every requirement that parses (any marker, any extra)."""
        return frozenset(
            {canonical(r.name) for r in self.base_requires} | {canonical(name) for _, name in self._gated.values()}
        )

    @cached_property
    def _base(self) -> tuple[tuple[Requirement, ...], tuple[tuple[str, str], ...]]:
        gated = self._gated
        return _requirements(line for i, line in enumerate(self.requires_dist) if i not in gated)

    @cached_property
    def _gated(self) -> dict[int, tuple[NormalizedName, str]]:
        """index -> (canonical extra, name) of each line that is a valid requirement gated by a lone
        ``extra == "x"``."""
        found: dict[int, tuple[NormalizedName, str]] = {}
        for i, line in enumerate(self.requires_dist):
            match = _EXTRA_GATED.match(line)
            if match:
                found[i] = (canonical(match.group("extra")), match.group("name"))
        return found

    @property
    def label(self) -> str:
        return f"{self.display_name} {self.raw_version or '(no version)'}"

    @property
    def metadata_path(self) -> str:
        if self.planned:
            return f"{self.display_name} {self.raw_version} (to be installed)"
        return self.path if self.path.endswith(self.metadata_file) else f"{self.path}/{self.metadata_file}"


@dataclass(frozen=True)
class Inventory:
    """Every distribution on the target's sys.path, in the order Python searches it."""

    python: Interpreter
    markers: Mapping[str, str]
    sys_path: tuple[str, ...]
    dists: tuple[Dist, ...]
    modules: frozenset[str] | None = None
    """Every top-level module name importable on the target's sys.path (installed by anything or not);
    None when the probe did not say."""

    @cached_property
    def winners(self) -> Mapping[NormalizedName, Dist]:
        """The copy of each project that imports and importlib.metadata see: the first on sys.path."""
        first: dict[NormalizedName, Dist] = {}
        for dist in self.dists:
            first.setdefault(dist.name, dist)
        return first

    @cached_property
    def copies(self) -> Mapping[NormalizedName, tuple[Dist, ...]]:
        groups: dict[NormalizedName, list[Dist]] = {}
        for dist in self.dists:
            groups.setdefault(dist.name, []).append(dist)
        return {name: tuple(group) for name, group in groups.items()}

    @cached_property
    def marker_env(self) -> MarkerEnvironment:
        return MarkerEnvironment.shared(self.markers)

    def get(self, name: str) -> Dist | None:
        return self.winners.get(canonical(name))

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Inventory:
        """Build from the inventory probe's JSON; raises ProbeError if it is not that."""
        if payload.get("schema") != SCHEMA:
            raise ProbeError(f"could not check: unexpected inventory schema {payload.get('schema')!r}")
        try:
            py = payload["python"]
            interpreter = Interpreter(
                executable=str(py["executable"]),
                version=str(py["version"]),
                implementation=str(py.get("implementation", "")),
                platform=str(py.get("platform", "")),
                soabi=str(py.get("soabi", "")),
                prefix=str(py.get("prefix", "")),
                base_prefix=str(py.get("base_prefix", "")),
                stdlib=frozenset(str(m) for m in payload.get("stdlib_modules") or ()),
            )
            markers = {str(k): str(v) for k, v in payload["markers"].items()}
            dists = tuple(_dist(raw) for raw in payload["distributions"])
            sys_path = tuple(str(p) for p in payload.get("sys_path", ()))
            listed = payload.get("top_level_modules")
            modules = frozenset(str(m) for m in listed) if listed else None
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ProbeError(f"could not check: the inventory probe's result has the wrong shape ({exc!r})") from exc
        return cls(python=interpreter, markers=markers, sys_path=sys_path, dists=dists, modules=modules)


def _dist(raw: Mapping[str, Any]) -> Dist:
    path = str(raw["path"])
    problems = list(raw.get("problems") or ())
    folder = path.rstrip("/").rsplit("/", 1)[-1]
    if folder == "EGG-INFO":
        folder = path.rstrip("/").rsplit("/", 2)[-2]
    for suffix in (".dist-info", ".egg-info"):
        folder = folder.removesuffix(suffix)
    guess = _DIR_NAME.match(folder)
    display = raw.get("name") or (guess.group("name") if guess else folder)
    raw_version = raw.get("version")
    if not raw.get("missing_metadata") and not raw.get("unreadable"):
        if not raw.get("name"):
            problems.append(f"{raw.get('metadata_file', 'METADATA')} has no Name field")
        if not raw_version:
            problems.append(f"{raw.get('metadata_file', 'METADATA')} has no Version field")
    if not raw_version and guess and guess.group("version"):
        raw_version = guess.group("version")
    rp_raw = raw.get("requires_python")
    return Dist(
        name=canonical(str(display)),
        display_name=str(display),
        raw_version=raw_version,
        version=version_or_none(raw_version),
        requires_dist=tuple(str(line) for line in raw.get("requires_dist") or ()),
        raw_requires_python=rp_raw,
        requires_python=_specifier(rp_raw),
        path=path,
        location=str(raw.get("location", "")),
        kind=str(raw.get("kind", "dist-info")),
        metadata_file=str(raw.get("metadata_file", "METADATA")),
        installer=raw.get("installer"),
        direct_url=raw.get("direct_url"),
        wheel_tags=tuple(raw.get("wheel_tags") or ()),
        has_record=bool(raw.get("has_record", True)),
        missing_metadata=bool(raw.get("missing_metadata", False)),
        unreadable=str(raw["unreadable"]) if raw.get("unreadable") else None,
        problems=tuple(problems),
    )


def planned_dist(
    display_name: str,
    version: str,
    requires_dist: Iterable[str],
    requires_python: str | None,
    *,
    location: str = "",
    direct_url: Mapping[str, Any] | None = None,
) -> Dist:
    """A distribution an install would add, built from its metadata alone (nothing on disk: ``planned``)."""
    return Dist(
        name=canonical(display_name),
        display_name=display_name,
        raw_version=version,
        version=version_or_none(version),
        requires_dist=tuple(requires_dist),
        raw_requires_python=requires_python,
        requires_python=_specifier(requires_python),
        path="",
        location=location,
        installer="pip",
        direct_url=direct_url,
        planned=True,
    )


def _specifier(text: str | None) -> SpecifierSet | None:
    if not text:
        return None
    try:
        return parse_specifier(text)
    except InvalidSpecifier:
        return None


def _requirements(lines: Iterable[str]) -> tuple[tuple[Requirement, ...], tuple[tuple[str, str], ...]]:
    good: list[Requirement] = []
    bad: list[tuple[str, str]] = []
    for line in lines:
        try:
            good.append(parse_requirement(line))
        except InvalidRequirement as exc:
            bad.append((line, str(exc).splitlines()[0]))
    return tuple(good), tuple(bad)
