"""Which releases of a package import a name: read from their wheels, on demand.

For a broken ``from B.m import n`` in a distribution A that the harvested facts do not cover, the fix
must not guess a direction ("usually older"): A may have stopped importing ``n`` in a newer release
(diffusers 0.29.0 dropped ``from huggingface_hub import cached_download``). This lists A's releases
with pip (``pip index versions``, the user's index configuration), downloads the candidates' wheels
with the same path pin's verification uses (envdoctor.predict.materialize: ``pip download --no-deps``,
unpacked in envdoctor's cache) and reads their sources. On each side of the installed release it
bisects: the answer is a release that does not import the name whose neighbour towards the installed
one does, so it is the nearest one as long as the releases that import the name form one run.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from envdoctor import runner
from envdoctor.inventory import Dist, Inventory
from envdoctor.predict.dryrun import CONNECTION_MARKERS, NETWORK_OPTIONS, QUIET_OPTIONS, ResolveError, choose_pip
from envdoctor.predict.materialize import download_wheel, unpacked
from envdoctor.redact import Redactor, secret_values
from envdoctor.source.index import SKIP_DIRS
from envdoctor.source.syntax import Context, import_sites
from envdoctor.versions import InvalidVersion, Version, parse_version

_AVAILABLE = re.compile(r"^Available versions:\s*(.+)$", re.MULTILINE)


@dataclass(frozen=True)
class Nearest:
    """The releases of a distribution nearest to the installed one, on each side, that do not import a
    name; ``reason`` says why nothing was checked ("" when the wheels were read)."""

    older: str | None = None
    newer: str | None = None
    read: tuple[str, ...] = ()  # the releases whose wheels were read
    reason: str = ""


Lookup = Callable[[Dist, str, str], Nearest]
"""(importer, module, name) -> the nearest releases of the importer that do not import ``name`` from ``module``."""


class ReleaseReader:
    """Answers ``Lookup`` for one target interpreter, memoised for the run."""

    def __init__(self, python: str, cache_dir: Path, known: Inventory | None = None, *, timeout: float = 120.0):
        self.python = python
        self.cache_dir = cache_dir
        self.known = known
        self.timeout = timeout
        self.env = runner.child_environment()
        self._pip: Sequence[str] | None = None
        self._answers: dict[tuple[str, str, str], Nearest] = {}
        self._imports: dict[tuple[str, str, str, str], bool | None] = {}

    def __call__(self, dist: Dist, module: str, name: str) -> Nearest:
        key = (dist.name, module, name)
        if key not in self._answers:
            self._answers[key] = self._nearest(dist, module, name)
        return self._answers[key]

    def _nearest(self, dist: Dist, module: str, name: str) -> Nearest:
        if dist.version is None:
            return Nearest(reason=f"{dist.display_name}'s installed version cannot be read")
        listed = self._releases(dist)
        if isinstance(listed, str):
            return Nearest(reason=listed)
        older = sorted((v for v in listed if v < dist.version), reverse=True)
        newer = sorted(v for v in listed if v > dist.version)
        if not older and not newer:
            return Nearest(reason=f"the index lists no other release of {dist.display_name}")
        read: list[str] = []

        def imports(version: Version) -> bool | None:
            read.append(str(version))
            return self._imports_in(dist, str(version), module, name)

        below = _first_without(older, imports)
        above = _first_without(newer, imports)
        if all(self._imports.get((dist.name, v, module, name)) is None for v in read):
            return Nearest(reason=f"no wheel of {dist.display_name} could be downloaded or read", read=tuple(read))
        return Nearest(str(below) if below else None, str(above) if above else None, tuple(read))

    def _releases(self, dist: Dist) -> list[Version] | str:
        """The importer's releases the target can install (pip's view), or why they could not be listed."""
        try:
            pip = self._pip_argv()
        except ResolveError as exc:
            return f"pip cannot run for the target ({exc.message})"
        argv = [*pip, "index", "versions", dist.display_name, *QUIET_OPTIONS, *NETWORK_OPTIONS]
        result = runner.run_command(argv, timeout=self.timeout, env=self.env)
        found = _AVAILABLE.search(result.stdout) if result.outcome is runner.Outcome.OK else None
        if found is None:
            output = result.stderr + result.stdout
            if any(marker in output for marker in CONNECTION_MARKERS) or "No matching distribution" in output:
                return "the package index cannot be reached"
            return f"pip could not list the releases of {dist.display_name}"
        versions = []
        for text in found.group(1).split(","):
            try:
                versions.append(parse_version(text.strip()))
            except InvalidVersion:
                continue
        return versions

    def _pip_argv(self) -> Sequence[str]:
        if self._pip is None:
            scrub = Redactor([*secret_values(), *secret_values(self.env)])
            self._pip = choose_pip(self.python, self.env, scrub, self.known).argv
        return self._pip

    def _imports_in(self, dist: Dist, version: str, module: str, name: str) -> bool | None:
        """Whether release ``version``'s wheel imports ``name`` from ``module`` where a failure is not
        handled; None when no wheel could be had."""
        key = (dist.name, version, module, name)
        if key not in self._imports:
            folder = unpacked(self.cache_dir, dist.name, version)
            if folder is None:
                with tempfile.TemporaryDirectory(prefix="envdoctor-wheels-") as tmp:
                    wheel = download_wheel(
                        self._pip_argv(), self.env, dist.display_name, version, Path(tmp), timeout=self.timeout
                    )
                    folder = unpacked(self.cache_dir, dist.name, version, wheel) if wheel else None
            self._imports[key] = _tree_imports(folder, module, name) if folder is not None else None
        return self._imports[key]


def _first_without(ordered: Sequence[Version], imports: Callable[[Version], bool | None]) -> Version | None:
    """Bisection over ``ordered`` (nearest to the installed release first): the first release that does
    not import the name, assuming those that do form one run from the installed release. A release
    without a readable wheel is dropped and the search goes on."""
    candidates = list(ordered)
    lo, hi = 0, len(candidates)  # every release before lo imports it; from hi on, none needs reading
    found: Version | None = None
    while lo < hi:
        mid = (lo + hi) // 2
        answer = imports(candidates[mid])
        if answer is None:
            del candidates[mid]
            hi -= 1
        elif answer:
            lo = mid + 1
        else:
            found, hi = candidates[mid], mid
    return found


def _tree_imports(folder: Path, module: str, name: str) -> bool:
    needle = name.encode()
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith((".dist-info", ".data"))]
        for file in files:
            if not file.endswith(".py"):
                continue
            data = (Path(root) / file).read_bytes()
            if needle not in data:
                continue
            for site in import_sites(data) or ():
                if site.level == 0 and site.module == module and name in site.names and _unhandled(site.context):
                    return True
    return False


def _unhandled(context: Context) -> bool:
    return context not in {Context.GUARDED, Context.TYPE_CHECKING}


def describe(nearest: Nearest, dist: Dist, name: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """The sentence for a finding's detail, its fix (requirement specifiers) and its advice (prose)."""
    who = dist.display_name
    if nearest.reason:
        return (
            f"which releases of {who} do not import {name} was not checked ({nearest.reason})",
            (),
            (f"or a release of {who} that does not import {name} (not checked: {nearest.reason})",),
        )
    sides = [(nearest.newer, "newer"), (nearest.older, "older")]
    found = [(v, side) for v, side in sides if v]
    read = f"read from {len(nearest.read)} wheels of {who}"
    if not found:
        return (f"no release of {who} near {dist.raw_version} drops the import of {name} ({read})", (), ())
    said = " and ".join(f"{v} ({side})" for v, side in found)
    missing = [side for v, side in sides if not v]
    tail = f"; no {missing[0]} release does" if missing else ""
    return (
        f"the nearest releases of {who} that do not import {name} are {said}{tail} ({read})",
        tuple(f"{who}=={v}" for v, _ in found),
        (),
    )
