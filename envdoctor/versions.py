"""Parsing of names, versions and requirements, and the one version-comparison policy.

Every name, version and requirement is parsed here, so every check agrees on what ``Pillow`` vs
``pillow`` or ``2.5.1`` vs ``2.5.1+cu121`` mean; packaging is used directly elsewhere only for what this
module does not parse (markers and wheel file names in envdoctor.predict.reqfile, wheel tags in
envdoctor.checks.tags). Parsing is cached: the same
requirement strings recur across thousands of distributions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache, lru_cache

from packaging.markers import Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

__all__ = [
    "InvalidRequirement",
    "InvalidSpecifier",
    "InvalidVersion",
    "MarkerEnvironment",
    "NormalizedName",
    "Requirement",
    "SpecifierSet",
    "Version",
    "canonical",
    "in_range",
    "parse_requirement",
    "parse_specifier",
    "parse_version",
    "tightest",
    "version_or_none",
]


@cache
def canonical(name: str) -> NormalizedName:
    return canonicalize_name(name)


@lru_cache(maxsize=65536)
def parse_version(text: str) -> Version:
    """Version of ``text``; raises InvalidVersion."""
    return Version(text)


def version_or_none(text: str | None) -> Version | None:
    """Version of ``text``, or None when it is empty or not PEP 440."""
    if not text:
        return None
    try:
        return parse_version(text)
    except InvalidVersion:
        return None


@lru_cache(maxsize=65536)
def parse_requirement(text: str) -> Requirement:
    """Requirement of ``text``; raises InvalidRequirement. Callers must not mutate the result."""
    return Requirement(text)


def fix_and_advice(lines: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """``lines`` split the way a Finding keeps them, ``(fix, advice)``: ``fix`` the requirement specifiers (each
    parses as a PEP 508 requirement: what ``pin`` and the "Fix (first step)" block act on), ``advice`` the rest
    (prose, settings, commands), each in its order."""
    fix: list[str] = []
    advice: list[str] = []
    for line in lines:
        try:
            parse_requirement(line)
        except InvalidRequirement:
            advice.append(line)
        else:
            fix.append(line)
    return tuple(fix), tuple(advice)


@lru_cache(maxsize=8192)
def parse_specifier(text: str) -> SpecifierSet:
    """SpecifierSet of ``text``; raises InvalidSpecifier."""
    return SpecifierSet(text)


def in_range(version: Version, spec: SpecifierSet) -> bool:
    """The policy: pre-releases count as installed (as pip check does), local tags are ignored
    unless the specifier names one (``torch==2.13.0`` holds for ``2.13.0+cpu``)."""
    return spec.contains(version, prereleases=True)


class MarkerEnvironment:
    """Evaluates PEP 508 markers in the target interpreter's environment, never envdoctor's own.

    Results are cached per (marker, extra): one check evaluates the same few markers thousands
    of times.
    """

    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = dict(env)
        self._cache: dict[tuple[int, str], tuple[Marker, bool]] = {}

    @classmethod
    def shared(cls, env: Mapping[str, str]) -> MarkerEnvironment:
        """One instance per distinct environment, so inventories of one interpreter (a plan's trial
        futures) share the markers already evaluated."""
        return _shared(tuple(sorted(env.items())))

    def holds(self, marker: Marker | None, extra: str = "") -> bool:
        if marker is None:
            return True
        # Keyed by the object: parsed requirements are shared (parse_requirement is cached), and formatting
        # a marker to text costs more than evaluating it. The entry keeps the marker alive, so its id stays
        # its own.
        key = (id(marker), extra)
        hit = self._cache.get(key)
        if hit is None:
            try:
                value = bool(marker.evaluate({**self.env, "extra": extra}))
            except Exception:  # an undefined variable or a bad comparison in someone's METADATA
                value = False
            hit = self._cache[key] = (marker, value)
        return hit[1]


@lru_cache(maxsize=16)
def _shared(items: tuple[tuple[str, str], ...]) -> MarkerEnvironment:
    return MarkerEnvironment(dict(items))


def tightest(spec: SpecifierSet) -> SpecifierSet:
    """Only the tightest bound of each kind (``>=1.10.0,>=1.13.0`` is ``>=1.13.0``)."""
    bounds: dict[str, str] = {}
    rest: list[str] = []
    for one in spec:
        version = version_or_none(one.version)
        if one.operator not in (">=", ">", "<=", "<") or version is None:
            rest.append(str(one))
            continue
        held = version_or_none(bounds.get(one.operator))
        upper = one.operator.startswith("<")
        if held is None or (version < held if upper else version > held):
            bounds[one.operator] = one.version
    return SpecifierSet(",".join([*rest, *(op + v for op, v in bounds.items())]))
